package ct

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"govz/conf"
	"govz/ct/caps"
	"govz/ct/inventory"
	"govz/ct/storage"
	"govz/ct/vzerror"
)

// layoutOf returns the storage layout a container's config names.
func (n *Node) layoutOf(eff *conf.Config) (storage.Layout, error) {
	return storage.Open(conf.Str(eff.VELayout), n.Log)
}

// storageCT is container id as a layout sees it.
func (n *Node) storageCT(id int, eff *conf.Config) storage.CT {
	return storage.CT{ID: id, Private: n.path(eff.VEPrivate, id), Root: n.path(eff.VERoot, id), Progress: n.Progress}
}

// storageIDMaps is the container's ID mapping as a layout that maps IDs at
// mount time takes it (storage.MapsIDs).
func storageIDMaps(layer *conf.Config) (uids, gids []storage.IDMap, err error) {
	us, gs, err := idMappings(layer)
	for _, m := range us {
		uids = append(uids, storage.IDMap(m))
	}
	for _, m := range gs {
		gids = append(gids, storage.IDMap(m))
	}
	return uids, gids, err
}

// confine closes the directories above container c's private area and
// mount point, and the dump directory, to all but root
// (storage.Confine): create, mount and start call it, so a node an old
// install left open is closed by its next use. A directory outside the
// installation (ve_private or ve_root configured elsewhere) may be shared
// with other things: it is only reported, never changed.
func (n *Node) confine(c storage.CT) error {
	dirs := []struct {
		dir, what string
		sentinel  error
		ifExists  bool // made by whoever first needs it
	}{
		{filepath.Dir(c.Private), "private areas", vzerror.ErrCreatePrivate, false},
		{filepath.Dir(c.Root), "mount points", vzerror.ErrMountPoint, false},
		{n.path(n.Global.DumpDir, -1), "dumps", vzerror.ErrSystem, true},
	}
	for _, d := range dirs {
		if !within(d.dir, n.Paths.Root) {
			if !d.ifExists {
				if err := os.MkdirAll(d.dir, 0o700); err != nil {
					return fmt.Errorf("creating the directory of %s: %w: %w", d.what, err, d.sentinel)
				}
			}
			if st, err := os.Stat(d.dir); err == nil && st.Mode().Perm()&0o077 != 0 {
				n.Log.Warnf("%s (the directory of %s) is %v: host users may reach the containers' files, setuid ones included; make it root-only (chmod 0700)", d.dir, d.what, st.Mode().Perm())
			}
			continue
		}
		if _, err := os.Stat(d.dir); d.ifExists && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := storage.Confine(d.dir); err != nil {
			return fmt.Errorf("securing the directory of %s: %w: %w", d.what, err, d.sentinel)
		}
	}
	return nil
}

// within reports whether p is strictly below dir.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, "../")
}

// diskLimits reads vzctl's disk limits from a config.
func diskLimits(eff *conf.Config) storage.Limits {
	lim := storage.NoLimits()
	if bl, ok := eff.Resource("diskspace"); ok {
		lim.SpaceSoftKB, lim.SpaceHardKB = bl.Barrier, bl.Limit
	}
	if bl, ok := eff.Resource("diskinodes"); ok {
		lim.InodesSoft, lim.InodesHard = bl.Barrier, bl.Limit
	}
	lim.GraceSeconds = int64(conf.Int(eff.QuotaTime, 0))
	lim.UGIDLimit = int64(conf.Int(eff.QuotaUGIDLimit, 0))
	return lim
}

// diskKeys are the keys whose change goes to the storage layout.
var diskKeys = []string{"diskspace", "diskinodes", "quotatime", "quotaugidlimit"}

// applyDiskLimits hands changed disk limits of a `vzctl set` to the
// container's layout: live when the private area is mounted (an image
// grows online), offline when the change is being saved. A change neither
// saved nor applicable live changes nothing, as Set then says.
func (n *Node) applyDiskLimits(id int, layer *conf.Config, o SetOptions) error {
	changed := false
	for _, k := range diskKeys {
		changed = changed || o.Layer.IsSet(k)
	}
	if !changed {
		return nil
	}
	old := diskLimits(n.Effective(layer))
	eff := n.Effective(conf.Merge(layer, o.Layer))
	c := n.storageCT(id, eff)
	mounted, err := inventory.IsMountPoint(c.Root)
	if err != nil || (!mounted && !o.Save) {
		return nil
	}
	lay, err := n.layoutOf(eff)
	if err != nil {
		return err
	}
	return lay.SetLimits(c, old, diskLimits(eff), mounted)
}

// capItems turns a layout's drops into "name:off" items, and lists the
// drops the container's own changes turn back on.
func capItems(drops []storage.CapDrop, own []caps.Change) (items []string, kept []storage.CapDrop) {
	for _, d := range drops {
		c, ok := caps.Lookup(d.Name)
		if !ok {
			continue
		}
		items = append(items, d.Name+":off")
		on := false
		for _, ch := range own {
			if ch.Cap == c {
				on = ch.On // the last change wins, as in caps.Bounding
			}
		}
		if on {
			kept = append(kept, d)
		}
	}
	return items, kept
}
