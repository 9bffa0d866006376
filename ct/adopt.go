package ct

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"govz/conf"
	"govz/conf/atomicfile"
	"govz/ct/recovery"
	"govz/ct/revert"
	"govz/ct/storage"
	"govz/ct/vzerror"
)

// AdoptOptions describe a container whose files exist already (an OpenVZ
// container being imported or registered, ct/ovzimport) becoming one of
// this node's.
type AdoptOptions struct {
	// Layer is its config; ve_private and ve_layout say where its private
	// area will be and how it is kept. local_uid/local_gid unset take
	// vz.toml's mode, else auto, as create does.
	Layer *conf.Config
	// Source is where a private area that Take renames into place comes
	// from: a rollback renames it back. The private area itself when it
	// is used where it is (register): a rollback leaves it. "" when Take
	// makes a new one (a copy, a conversion): a rollback removes it.
	Source string
	// Take puts the private area at private, which does not exist yet;
	// nil when Source is the private area. On failure it leaves nothing
	// at private.
	Take func(private string) error
	// Scripts are action scripts to install, by phase (mount, start, ...).
	Scripts map[string][]byte
	// Header goes at the top of the config file, after govz's own line.
	Header string
}

// Adopt makes container id from o under its lock. The config file is the
// commit point, as in Create: a process killed before it leaves an
// operation record in the lock, and the next command on the container
// undoes what was done (recoverImport).
func (n *Node) Adopt(id int, o AdoptOptions) error {
	l, err := n.lock(id, "import")
	if err != nil {
		return err
	}
	defer l.Release()
	cfgPath := n.Paths.CTConfig(id)
	if _, err := os.Stat(cfgPath); err == nil {
		return fmt.Errorf("container %d: config %s already exists: %w", id, cfgPath, vzerror.ErrPrivateExists)
	}
	layer := o.Layer
	if err := layer.Validate(); err != nil {
		return err
	}
	if err := n.checkIPsFree(id, layer.IPAddress); err != nil {
		return err
	}
	ids, byDefault, err := n.adoptIDSpec(layer)
	if err != nil {
		return err
	}
	if _, err := n.assignIDs(id, ids, false); err != nil {
		return err
	}
	eff := n.Effective(layer)
	private, root := n.path(eff.VEPrivate, id), n.path(eff.VERoot, id)
	inPlace := o.Source != "" && filepath.Clean(o.Source) == private
	if !inPlace {
		if _, err := os.Lstat(private); err == nil {
			return fmt.Errorf("private area %s already exists: %w", private, vzerror.ErrPrivateExists)
		}
	}
	if err := l.Update(recovery.ImportRecord(private, root, o.Source)); err != nil {
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
	c := storage.CT{ID: id, Private: private, Root: root}
	if err := n.confine(c); err != nil {
		return err
	}
	if o.Take != nil {
		if err := o.Take(private); err != nil {
			return err
		}
		r.Add(func() { recovery.UndoTake(n.inv(), private, o.Source) })
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("creating mount point %s: %w: %w", root, err, vzerror.ErrMountPoint)
	}
	r.Add(func() { os.Remove(root) })
	if err := os.MkdirAll(n.Paths.ConfDir(), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w: %w", n.Paths.ConfDir(), err, vzerror.ErrConfigSave)
	}
	for phase, body := range o.Scripts {
		p := filepath.Join(n.Paths.ConfDir(), strconv.Itoa(id)+"."+phase)
		if err := atomicfile.WriteFile(p, body, 0o755); err != nil {
			return fmt.Errorf("installing action script %s: %w: %w", p, err, vzerror.ErrConfigSave)
		}
		r.Add(func() { os.Remove(p) })
	}
	if ids, err = n.checkIDMappable(id, ids, byDefault, private, conf.Str(eff.VELayout)); err != nil {
		return err
	}
	nl, err := n.lockNode("import " + strconv.Itoa(id))
	if err != nil {
		return err
	}
	defer nl.Release()
	got, err := n.assignIDs(id, ids, false)
	if err != nil {
		return err
	}
	if err := n.ipsFreeLocked(id, layer.IPAddress); err != nil {
		return err
	}
	got.setIDs(layer)
	if err := layer.Save(cfgPath, configHeader(id)+o.Header); err != nil {
		return err
	}
	r.Success()
	if !got.identity() {
		n.Log.Infof("Container root is host UID %d, GID %d (%d IDs each)", got.uid, got.gid, UserNSRange)
	}
	n.Log.Infof("CT configuration saved to %s", cfgPath)
	return nil
}

// adoptIDSpec is create's rule without a command line: the layer's
// local_uid/local_gid, else vz.toml's, else auto.
func (n *Node) adoptIDSpec(layer *conf.Config) (idSpec, bool, error) {
	for _, l := range []*conf.Config{layer, n.Global} {
		if l.LocalUID != nil || l.LocalGID != nil {
			s, err := pairIDs(l.LocalUID, l.LocalGID)
			return s, false, err
		}
	}
	s, err := pairIDs(nil, nil)
	return s, true, err
}

// WithLock runs f under container id's lock (recovering what a dead
// holder left first), refusing while the container runs: for commands
// that read a stopped container's files (export).
func (n *Node) WithLock(id int, op string, f func(layer *conf.Config) error) error {
	l, err := n.lock(id, op)
	if err != nil {
		return err
	}
	defer l.Release()
	layer, err := n.LoadCT(id)
	if err != nil {
		return err
	}
	if n.busy(id, n.Effective(layer)) {
		return fmt.Errorf("container %d is running, stop it first: %w", id, vzerror.ErrRunning)
	}
	return f(layer)
}
