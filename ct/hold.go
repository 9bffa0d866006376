package ct

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"govz/conf"
	"govz/ct/cgroup"
	"govz/ct/recovery"
	"govz/ct/revert"
	"govz/ct/storage"
	"govz/ct/vzerror"
)

// Held is a container under its lock, for commands kept outside this
// package (snapshots, backups, migration) that copy or replace its disk.
type Held struct {
	ID      int
	Layer   *conf.Config // its own config file
	Eff     *conf.Config
	Layout  storage.Layout
	CT      storage.CT
	Running bool
	release func()
}

// Release drops the container's lock.
func (h *Held) Release() { h.release() }

// Hold takes container id's lock for op and returns what a disk copy needs.
func (n *Node) Hold(id int, op string) (*Held, error) {
	l, err := n.lockOrSkip(id, op)
	if err != nil {
		return nil, err
	}
	layer, err := n.LoadCT(id)
	if err != nil {
		l.Release()
		return nil, err
	}
	eff := n.Effective(layer)
	lay, err := n.layoutOf(eff)
	if err != nil {
		l.Release()
		return nil, err
	}
	return &Held{ID: id, Layer: layer, Eff: eff, Layout: lay, CT: n.storageCT(id, eff),
		Running: n.running(id, eff), release: l.Release}, nil
}

// Freeze freezes held container h's cgroup (cgroup.Freeze) and flushes its
// root's file system, so that a copy taken before thaw is
// crash-consistent. A container that does not run is only flushed (a
// mounted image has its writes in the page cache too).
func (n *Node) Freeze(h *Held, timeout time.Duration) (thaw func() error, err error) {
	thaw = func() error { return nil }
	if h.Running {
		g, err := cgroup.Open(n.cgroupParent(h.ID, h.Eff), strconv.Itoa(h.ID))
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if thaw, err = g.Freeze(ctx, timeout); err != nil {
			return nil, fmt.Errorf("container %d: %w", h.ID, err)
		}
	}
	// What the frozen tasks wrote is in the page cache (an image's in
	// the loop device's too); syncfs(2) on the root writes it out.
	if f, err := os.Open(h.CT.Root); err == nil {
		err = unix.Syncfs(int(f.Fd()))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("flushing %s: %w: %w", h.CT.Root, err, thaw())
		}
	}
	return thaw, nil
}

// CreateFrom makes container id from a config layer and a filled private
// area, as Create does from a template: the lock, the checks of the
// node-unique values (name, addresses, ID range), and the config written
// last as the commit point, with everything rolled back on failure.
// VE_PRIVATE, VE_ROOT and VE_LAYOUT of layer are ignored (the node's
// defaults place the new container), so that nothing is written outside
// them and a backup restores on any node. fill gets
// the layout, the container and its limits and must build c.Private
// (storage.CreateFilled).
func (n *Node) CreateFrom(id int, layer *conf.Config, fill func(lay storage.Layout, c storage.CT, lim storage.Limits) error) error {
	l, err := n.lock(id, "restore")
	if err != nil {
		return err
	}
	defer l.Release()
	cfgPath := n.Paths.CTConfig(id)
	if _, err := os.Stat(cfgPath); err == nil {
		return fmt.Errorf("container %d: config %s already exists: %w", id, cfgPath, vzerror.ErrPrivateExists)
	}
	// The source's paths and layout may not exist here (another node, a
	// btrfs container restored onto ext4): this node's defaults apply.
	layer.VEPrivate, layer.VERoot, layer.VELayout = nil, nil, nil
	if err := layer.Validate(); err != nil {
		return err
	}
	if err := n.checkIPsFree(id, layer.IPAddress); err != nil {
		return err
	}
	eff := n.Effective(layer)
	c := n.storageCT(id, eff)
	lim := diskLimits(eff)
	name := storage.Resolve(conf.Str(eff.VELayout), filepath.Dir(c.Private), lim)
	layer.VELayout = &name
	lay, err := storage.Open(name, n.Log)
	if err != nil {
		return err
	}
	if err := l.Update(recovery.Record("create", c.Private, c.Root)); err != nil {
		return err
	}
	r := revert.New()
	defer r.Fail()
	if nm := conf.Str(layer.Name); nm != "" {
		if err := n.registerName(id, nm); err != nil {
			return err
		}
		r.Add(func() { n.unregisterName(id, nm) })
	}
	if err := n.checkPrivateFree(c.Private); err != nil {
		return err
	}
	if err := n.confine(c); err != nil {
		return err
	}
	if err := fill(lay, c, lim); err != nil {
		return err
	}
	r.Add(func() { storage.Remove(c.Private) })
	if err := os.MkdirAll(c.Root, 0o755); err != nil {
		return fmt.Errorf("creating mount point %s: %w: %w", c.Root, err, vzerror.ErrMountPoint)
	}
	if err := os.MkdirAll(n.Paths.ConfDir(), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w: %w", n.Paths.ConfDir(), err, vzerror.ErrConfigSave)
	}
	ids, err := pairIDs(layer.LocalUID, layer.LocalGID)
	if err != nil {
		return err
	}
	nl, err := n.lockNode("restore " + strconv.Itoa(id))
	if err != nil {
		return err
	}
	defer nl.Release()
	// The files carry the source's host IDs: the same range is needed
	// here, not a new one.
	if !ids.identity() {
		if _, err := n.assignIDs(id, ids, false); err != nil {
			return err
		}
	}
	if err := n.ipsFreeLocked(id, layer.IPAddress); err != nil {
		return err
	}
	if err := layer.Save(cfgPath, configHeader(id)); err != nil {
		return err
	}
	r.Success()
	n.Log.Infof("CT configuration saved to %s", cfgPath)
	return nil
}
