package ovzimport

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"govz/conf"
	"govz/conf/ovzconf"
	"govz/ct"
	"govz/ct/storage"
	"govz/ct/vzerror"
)

// Execute imports the plan's containers, one at a time, each committed
// on its own: a failure stops that container only. It returns an error
// when any container could not be imported (the first one's sentinel
// decides the exit code).
func Execute(n *ct.Node, p *Plan) error {
	var first error
	failed := 0
	for _, it := range p.Items {
		err := it.Err
		if it.Skip != "" {
			continue // Print said so
		}
		if err == nil {
			n.Log.Infof("CT %d: importing %s (%s)", it.ID, it.Private, it.Action)
			err = importOne(n, p.From, it)
		}
		if err != nil {
			// On stdout with the plan: the one error line on stderr
			// is the summary Execute returns.
			if it.Err == nil {
				n.Log.Infof("CT %d: not imported: %v", it.ID, err)
			}
			failed++
			if first == nil {
				first = err
			}
			continue
		}
		n.Log.Infof("CT %d: imported", it.ID)
	}
	if first != nil {
		return fmt.Errorf("%d of %d containers not imported, the first: %w", failed, len(p.Items), first)
	}
	return nil
}

func importOne(n *ct.Node, from string, it *Item) error {
	layer := it.Result.Config
	layout := it.Layout
	layer.VELayout = &layout
	o := ct.AdoptOptions{Layer: layer, Scripts: it.Scripts, Header: header(it.Conf, it.Result.Kept)}
	switch it.Action {
	case ActMove:
		src := it.Private
		o.Source = src
		o.Take = func(private string) error {
			if err := os.Rename(src, private); err != nil {
				return fmt.Errorf("moving %s to %s: %w: %w", src, private, err, vzerror.ErrCreatePrivate)
			}
			return nil
		}
	case ActInPlace:
		o.Source = it.Private
	case ActCopy:
		o.Take = func(private string) error { return copyTree(it.Private, private) }
	case ActConvert:
		o.Take = func(private string) error { return takePloop(it.Ploop, private, layer) }
	default:
		return fmt.Errorf("container %d: nothing to do with %s: %w", it.ID, it.Private, vzerror.ErrSystem)
	}
	return n.Adopt(it.ID, o)
}

// header keeps in the new config, as comments, where it came from and
// what of the old one was not imported.
func header(src string, kept []ovzconf.Var) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Imported from OpenVZ: %s\n", src)
	for _, v := range kept {
		fmt.Fprintf(&b, "# not imported: %s=%s\n", v.Key, strconv.Quote(v.Value))
	}
	return b.String()
}

// copyTree copies a simfs private area to private through private.tmp:
// cp -a keeps owners (the container's own IDs), modes, times, hard
// links, special files, ACLs and extended attributes; reflinks where the
// file system shares extents.
func copyTree(src, private string) error {
	tmp := private + ".tmp"
	if err := storage.Remove(tmp); err != nil {
		return err
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w: %w", tmp, err, vzerror.ErrCreatePrivate)
	}
	out, err := exec.Command("cp", "-a", "--reflink=auto", "--", src+"/.", tmp+"/").CombinedOutput()
	if err != nil {
		storage.Remove(tmp)
		return fmt.Errorf("copying %s: %w: %s: %w", src, err, strings.TrimSpace(string(out)), vzerror.ErrCreatePrivate)
	}
	return commit(tmp, private)
}

// takePloop converts a ploop image into the image layout's root.img and
// sets diskspace to its size (the image layout's limit is its size).
func takePloop(d *Disk, private string, layer *conf.Config) error {
	tmp := private + ".tmp"
	if err := storage.Remove(tmp); err != nil {
		return err
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w: %w", tmp, err, vzerror.ErrCreatePrivate)
	}
	size, err := d.Convert(filepath.Join(tmp, "root.img"))
	if err != nil {
		storage.Remove(tmp)
		return err
	}
	kb := strconv.FormatInt(size/1024, 10)
	ds := kb + ":" + kb
	layer.DiskSpace = &ds
	return commit(tmp, private)
}

// commit renames a finished temporary into place; the parent is made
// root-only by the caller (ct's confine).
func commit(tmp, private string) error {
	if err := os.Rename(tmp, private); err != nil {
		storage.Remove(tmp)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("private area %s already exists: %w", private, vzerror.ErrPrivateExists)
		}
		return fmt.Errorf("renaming %s: %w: %w", tmp, err, vzerror.ErrCreatePrivate)
	}
	return nil
}

// Register makes container id of the OpenVZ private area at path, used
// where it is: vzctl's register (Virtuozzo 7). Its config is path's
// ve.conf (where Virtuozzo 7 keeps it) or, for vzctl 4.x, conf (a
// CTID.conf); without either, a config with defaults only. force takes a
// config whose VEID names another container.
func Register(n *ct.Node, path string, id int, confFile string, force bool) error {
	path, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("register %s: %w: %w", path, err, vzerror.ErrInvalidValue)
	}
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		return fmt.Errorf("private area %s not found: %w", path, vzerror.ErrNoPrivate)
	}
	if _, err := os.Stat(n.Paths.CTConfig(id)); err == nil {
		return fmt.Errorf("container %d exists already (%s): %w", id, n.Paths.CTConfig(id), vzerror.ErrPrivateExists)
	}
	if confFile == "" {
		if _, err := os.Stat(filepath.Join(path, "ve.conf")); err == nil {
			confFile = filepath.Join(path, "ve.conf")
		}
	}
	var data []byte
	if confFile != "" {
		if data, err = os.ReadFile(confFile); err != nil {
			return fmt.Errorf("reading %s: %w: %w", confFile, err, vzerror.ErrNoConfig)
		}
	}
	f := ovzconf.Parse(orStr(confFile, "(no config)"), data)
	for _, w := range f.Warnings {
		n.Log.Warnf("%s", w)
	}
	if v, ok := f.Get("VEID"); ok && v != strconv.Itoa(id) {
		if !force {
			return fmt.Errorf("%s belongs to container %s, not %d (use --force to register it as %d): %w", orStr(confFile, path), v, id, id, vzerror.ErrInvalidValue)
		}
		n.Log.Warnf("%s named container %s; registered as %d because of --force", confFile, v, id)
		f = withoutKey(f, "VEID")
	}
	// The private area is where it is, whatever the file said.
	f.Vars = append(f.Vars, ovzconf.Var{Key: "VE_PRIVATE", Value: path, Line: 0})
	res, err := ovzconf.Convert(id, f, nil)
	if err != nil {
		return err
	}
	for _, nt := range res.Notes {
		n.Log.Infof("note: %s", nt)
	}
	if res.Source.LocalUID != 0 || res.Source.LocalGID != 0 {
		return fmt.Errorf("LOCAL_UID=%d: the files are owned by shifted host IDs; shift them back first: %w", res.Source.LocalUID, vzerror.ErrInvalidConfig)
	}
	it := &Item{ID: id, Private: path, Result: res}
	if err := it.choose(path, Move); err != nil {
		return err
	}
	layer := res.Config
	layer.VEPrivate = &path
	o := ct.AdoptOptions{Layer: layer, Source: path, Header: header(orStr(confFile, path), res.Kept)}
	switch it.Action {
	case ActConvert:
		return fmt.Errorf("%s is a ploop image: import it with vzctl import (it is converted into a new private area): %w", path, vzerror.ErrInvalidValue)
	default:
		layout := "dir"
		layer.VELayout = &layout
	}
	return n.Adopt(id, o)
}

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func withoutKey(f *ovzconf.File, k string) *ovzconf.File {
	out := &ovzconf.File{Name: f.Name, Warnings: f.Warnings}
	for _, v := range f.Vars {
		if v.Key != k {
			out.Vars = append(out.Vars, v)
		}
	}
	return out
}
