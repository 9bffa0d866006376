package ct

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"govz/conf"
	"govz/ct/inventory"
	"govz/ct/recovery"
	"govz/ct/revert"
	"govz/ct/rootfs"
	"govz/ct/storage"
	"govz/ct/vzerror"
	"govz/templates"
	"govz/templates/untar"
)

// CreateOptions are vzctl create's options; empty fields take the
// sample's or the global config's values.
type CreateOptions struct {
	OSTemplate  string
	Config      string // sample name
	Private     string
	Root        string
	Hostname    string
	Name        string
	Description string
	IPAdd       []string
	// Layout is the storage layout: dir, btrfs, image, overlay or auto.
	Layout string
	// DiskSpace and DiskInodes are vzctl's soft:hard limits.
	DiskSpace  string
	DiskInodes string
	// LocalUID and LocalGID are the user namespace's host IDs: a number,
	// 0 (identity mapping) or auto; "" takes the sample's, then vz.toml's,
	// then auto.
	LocalUID, LocalGID string
	// Progress, when set, receives unpacking progress in bytes.
	Progress func(done, total int64)
}

// Create makes container id on disk: config from a sample, private area
// unpacked from an OS template. The config file is written last and is
// the commit point: until it exists the container does not exist, and a
// create that dies before it is rolled back by the next command that
// takes the container's lock.
func (n *Node) Create(id int, o CreateOptions) (err error) {
	l, err := n.lock(id, "create")
	if err != nil {
		return err
	}
	defer l.Release()

	cfgPath := n.Paths.CTConfig(id)
	if _, err := os.Stat(cfgPath); err == nil {
		return fmt.Errorf("container %d: config %s already exists: %w", id, cfgPath, vzerror.ErrPrivateExists)
	}
	sample := o.Config
	if sample == "" {
		sample = conf.Str(n.Global.ConfigFile)
	}
	layer, err := conf.LoadSample(n.Paths, sample)
	if err != nil {
		return err
	}
	for _, w := range layer.UnknownKeys() {
		n.Log.Warnf("%s", w)
	}
	tmplName := o.OSTemplate
	if tmplName == "" {
		tmplName = conf.Str(n.Global.DefOSTemplate)
	}
	if tmplName == "" {
		return fmt.Errorf("no os template given and def_ostemplate unset: %w", vzerror.ErrNoOSTemplate)
	}
	tmplPath, err := templates.Cache{Dir: n.TemplateCacheDir()}.Find(tmplName)
	if err != nil {
		return err
	}

	cmd := &conf.Config{OSTemplate: &tmplName, OriginSample: &sample}
	set := func(dst **string, v string) {
		if v != "" {
			*dst = &v
		}
	}
	set(&cmd.Hostname, o.Hostname)
	set(&cmd.Name, o.Name)
	set(&cmd.Description, o.Description)
	set(&cmd.VEPrivate, o.Private)
	set(&cmd.VERoot, o.Root)
	set(&cmd.VELayout, o.Layout)
	set(&cmd.DiskSpace, o.DiskSpace)
	set(&cmd.DiskInodes, o.DiskInodes)
	addrs, autos, err := splitAuto(o.IPAdd)
	if err != nil {
		return err
	}
	if len(addrs) > 0 {
		cmd.IPAddress = dedupIPs(addrs)
	}
	if err := cmd.Validate(); err != nil {
		return err
	}
	ids, idsDefault, err := n.createIDSpec(layer, o)
	if err != nil {
		return err
	}
	layer = conf.Merge(layer, cmd)
	if err := n.checkIPsFree(id, layer.IPAddress); err != nil {
		return err
	}
	// An early answer on pool addresses (unknown pool, full pool); the
	// binding choice is made under the node lock at the commit.
	if _, err := n.allocIPs(autos); err != nil {
		return err
	}
	// An early answer on the IDs (taken range, full pool) before the slow
	// unpack; the binding one comes under the node lock at the commit.
	if _, err := n.assignIDs(id, ids, false); err != nil {
		return err
	}
	eff := n.Effective(layer)
	private := n.path(eff.VEPrivate, id)
	root := n.path(eff.VERoot, id)
	lim := diskLimits(eff)
	// The config records the concrete layout: a later change of the
	// global default must not reinterpret an existing private area.
	layoutName := storage.Resolve(conf.Str(eff.VELayout), filepath.Dir(private), lim)
	layer.VELayout = &layoutName
	lay, err := storage.Open(layoutName, n.Log)
	if err != nil {
		return err
	}
	// From here on the disk changes: record where, so that the next holder
	// of the lock can roll back if this process dies.
	if err := l.Update(recovery.Record("create", private, root)); err != nil {
		return err
	}

	r := revert.New()
	defer r.Fail()
	if o.Name != "" {
		if err := n.registerName(id, o.Name); err != nil {
			return err
		}
		r.Add(func() { n.unregisterName(id, o.Name) })
	}
	if err := n.checkPrivateFree(private); err != nil {
		return err
	}
	c := storage.CT{ID: id, Private: private, Root: root}
	if err := n.confine(c); err != nil {
		return err
	}
	tmpl := storage.Template{Name: tmplName, Path: tmplPath, Progress: o.Progress, Extract: extractTemplate}
	n.Log.Infof("Creating container private area (%s, layout %s)", tmplName, layoutName)
	if err := lay.Create(c, tmpl, lim); err != nil {
		return err
	}
	r.Add(func() { storage.Remove(private) })
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("creating mount point %s: %w: %w", root, err, vzerror.ErrMountPoint)
	}
	if err := n.freshIdentity(lay, c); err != nil {
		return err
	}
	if err := os.MkdirAll(n.Paths.ConfDir(), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w: %w", n.Paths.ConfDir(), err, vzerror.ErrConfigSave)
	}
	if ids, err = n.checkIDMappable(id, ids, idsDefault, private, layoutName); err != nil {
		return err
	}
	if !ids.identity() || len(layer.IPAddress) > 0 || len(autos) > 0 {
		// The binding checks of node-unique values, and the save.
		nl, err := n.lockNode("create " + strconv.Itoa(id))
		if err != nil {
			return err
		}
		defer nl.Release()
	}
	got, err := n.assignIDs(id, ids, false)
	if err != nil {
		return err
	}
	if err := n.ipsFreeLocked(id, layer.IPAddress); err != nil {
		return err
	}
	assigned, err := n.allocIPs(autos)
	if err != nil {
		return err
	}
	layer.IPAddress = append(layer.IPAddress, assigned...)
	got.setIDs(layer)
	if err := layer.Save(cfgPath, configHeader(id)); err != nil {
		return err
	}
	r.Success()
	if !got.identity() {
		n.Log.Infof("Container root is host UID %d, GID %d (%d IDs each)", got.uid, got.gid, UserNSRange)
	}
	n.logAssigned(id, assigned)
	n.Log.Infof("CT configuration saved to %s", cfgPath)
	n.Log.Infof("Container private area was created")
	return nil
}

// createIDSpec is what create asks for local_uid/local_gid: the command
// line's, else the sample's, else vz.toml's, else auto (byDefault); the
// first layer that sets either key decides both.
func (n *Node) createIDSpec(sample *conf.Config, o CreateOptions) (s idSpec, byDefault bool, err error) {
	cmd := &conf.Config{}
	for _, k := range []struct{ name, v string }{{"local_uid", o.LocalUID}, {"local_gid", o.LocalGID}} {
		if k.v != "" {
			if err := cmd.SetString(k.name, k.v); err != nil {
				return idSpec{}, false, err
			}
		}
	}
	if err := cmd.Validate(); err != nil {
		return idSpec{}, false, err
	}
	for _, l := range []*conf.Config{cmd, sample, n.Global} {
		if l.LocalUID != nil || l.LocalGID != nil {
			s, err := pairIDs(l.LocalUID, l.LocalGID)
			return s, false, err
		}
	}
	s, err = pairIDs(nil, nil)
	return s, true, err
}

// checkIDMappable makes sure a container with a range of its own can
// start: its root will be an idmapped mount of the private area, which
// some file systems refuse (9p, NFS, FUSE, tmpfs before Linux 6.3). The
// built-in default then falls back to identity mapping, with a warning;
// a range somebody asked for is refused (exit 5). An image layout is
// always ext4, which takes idmapped mounts; an overlay's layers are on
// ext4, XFS or btrfs (its create refuses others), which all do.
func (n *Node) checkIDMappable(id int, s idSpec, byDefault bool, private, layout string) (idSpec, error) {
	if s.identity() || layout == "image" || layout == "overlay" {
		return s, nil
	}
	err := rootfs.ProbeIDMap(private)
	switch {
	case err == nil:
		return s, nil
	case !errors.Is(err, rootfs.ErrNoIDMap):
		return idSpec{}, err
	case byDefault:
		n.Log.Warnf("%v: container %d is identity-mapped (local_uid = 0), its root is host root for the kernel's UID checks", err, id)
		return idSpec{}, nil
	}
	return idSpec{}, fmt.Errorf("local_uid %s: %w, so the container's root cannot be mapped (use --local_uid 0 or another file system): %w", s.uid, err, vzerror.ErrBadKernel)
}

func configHeader(id int) string {
	return "# Configuration of container " + strconv.Itoa(id) + " (govz). Keys: conf/KEYS.md.\n"
}

// checkPrivateFree refuses to unpack over an existing private area or
// into a directory that is a mount point.
func (n *Node) checkPrivateFree(private string) error {
	ents, err := os.ReadDir(private)
	if err == nil && len(ents) > 0 {
		return fmt.Errorf("private area %s already exists: %w", private, vzerror.ErrPrivateExists)
	}
	if err == nil {
		if mp, _ := inventory.IsMountPoint(private); mp {
			return fmt.Errorf("private area %s is a mount point: %w", private, vzerror.ErrPrivateExists)
		}
		return os.Remove(private)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("private area %s: %w: %w", private, err, vzerror.ErrCreatePrivate)
	}
	return nil
}

// extractTemplate is storage.Template.Extract: untar.ExtractFile.
func extractTemplate(path, dir string, progress func(done, total int64), warnf func(string, ...any)) error {
	return untar.ExtractFile(path, dir, untar.Options{Progress: progress, Warnf: warnf})
}
