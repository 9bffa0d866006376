// Package ovzimport moves containers in from an OpenVZ node (vzctl 4.x)
// and back out: it reads the old node's tree (vz.conf, CTID.conf, names,
// action scripts, simfs and ploop private areas), plans what each
// container becomes, and hands each to ct.Node.Adopt, which commits it
// under the container's lock with crash recovery. docs/OPENVZ-IMPORT.md
// is the user's view; conf/ovzconf maps the keys.
package ovzimport

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"govz/conf"
	"govz/conf/ovzconf"
	"govz/ct"
	"govz/ct/vzerror"
)

// The old node's files, relative to its root (vzctl's paths.am).
const (
	vzConfPath = "etc/vz/vz.conf"
	confDir    = "etc/vz/conf"
	namesDir   = "etc/vz/names"
)

// Phases are the action scripts a container may have (vzctl(8)).
var Phases = []string{"premount", "mount", "start", "stop", "umount", "postumount"}

// Mode is how a simfs private area is taken.
type Mode int

const (
	// Move renames the directory into place when it is on the same file
	// system, else copies it (the old one stays).
	Move Mode = iota
	// Copy always copies; the old node's files are not touched.
	Copy
)

// Options of an import.
type Options struct {
	From string // the old node's root
	IDs  []int  // the containers to take; none = all
	Mode Mode
}

// Action is what happens to a private area.
type Action string

const (
	ActMove    Action = "move"    // rename into place
	ActCopy    Action = "copy"    // cp -a into place
	ActConvert Action = "convert" // ploop top delta to an ext4 image
	ActInPlace Action = "in place"
)

// Item is one container of the plan.
type Item struct {
	ID   int
	Conf string // the old CTID.conf
	// Skip says why the container is left alone (imported already); Err
	// why it cannot be imported. Neither: it is imported.
	Skip string
	Err  error

	Result  *ovzconf.Result
	Private string // the old private area, as this host reaches it
	Layout  string // govz layout: dir or image
	Action  Action
	Ploop   *Disk // for ActConvert
	Scripts map[string][]byte
	Notes   []string
}

// Plan is what an import will do.
type Plan struct {
	From  string
	Items []*Item
	// NodeNotes are vz.conf's settings that are not imported.
	NodeNotes []string
}

// MakePlan reads the old node at o.From and plans the import of its
// containers (o.IDs, or all of them). It changes nothing. A container
// that cannot be imported has Err set; a tree that cannot be read at all
// is an error.
func MakePlan(n *ct.Node, o Options) (*Plan, error) {
	from, err := filepath.Abs(o.From)
	if err != nil {
		return nil, fmt.Errorf("--from %s: %w: %w", o.From, err, vzerror.ErrInvalidValue)
	}
	if st, err := os.Stat(filepath.Join(from, confDir)); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("--from %s: no OpenVZ node there (%s missing): %w", o.From, filepath.Join(from, confDir), vzerror.ErrInvalidValue)
	}
	var global *ovzconf.File
	if data, err := os.ReadFile(filepath.Join(from, vzConfPath)); err == nil {
		global = ovzconf.Parse(filepath.Join(from, vzConfPath), data)
		for _, w := range global.Warnings {
			n.Log.Warnf("%s", w)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w: %w", vzConfPath, err, vzerror.ErrSystem)
	}
	ids := o.IDs
	if len(ids) == 0 {
		if ids, err = oldIDs(filepath.Join(from, confDir)); err != nil {
			return nil, err
		}
	}
	names := oldNames(filepath.Join(from, namesDir))
	p := &Plan{From: from}
	if global != nil {
		p.NodeNotes = ovzconf.NodeNotes(global)
	}
	for _, id := range ids {
		it := planOne(n, from, id, global, names[id], o.Mode)
		p.Items = append(p.Items, it)
	}
	return p, nil
}

// oldIDs lists the CTID.conf files of the old node (not 0.conf, the
// host's, nor samples or .destroyed leftovers).
func oldIDs(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w: %w", dir, err, vzerror.ErrSystem)
	}
	var ids []int
	for _, e := range ents {
		s, ok := strings.CutSuffix(e.Name(), ".conf")
		if !ok {
			continue
		}
		if id, numeric, err := ct.ParseID(s); numeric && err == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// oldNames maps CTIDs to the names /etc/vz/names links give them
// (NAME -> ../conf/CTID.conf, or an absolute link into the old root).
func oldNames(dir string) map[int][]string {
	out := map[int][]string{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		t, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		s, ok := strings.CutSuffix(filepath.Base(t), ".conf")
		if id, numeric, err := ct.ParseID(s); ok && numeric && err == nil {
			out[id] = append(out[id], e.Name())
		}
	}
	return out
}

func planOne(n *ct.Node, from string, id int, global *ovzconf.File, names []string, mode Mode) *Item {
	it := &Item{ID: id, Conf: filepath.Join(from, confDir, strconv.Itoa(id)+".conf")}
	if _, err := os.Stat(n.Paths.CTConfig(id)); err == nil {
		it.Skip = "already imported (" + n.Paths.CTConfig(id) + " exists)"
		return it
	}
	data, err := os.ReadFile(it.Conf)
	if err != nil {
		it.Err = fmt.Errorf("container %d: %w: %w", id, err, vzerror.ErrNoConfig)
		return it
	}
	f := ovzconf.Parse(it.Conf, data)
	it.Notes = append(it.Notes, f.Warnings...)
	res, err := ovzconf.Convert(id, f, global)
	if err != nil {
		it.Err = err
		return it
	}
	it.Result = res
	it.Notes = append(it.Notes, res.Notes...)
	if res.Config.Name == nil && len(names) == 1 && conf.ValidateName(names[0]) == nil {
		nm := names[0]
		res.Config.Name = &nm
		it.Notes = append(it.Notes, fmt.Sprintf("name %s taken from %s", nm, filepath.Join(namesDir, nm)))
	}
	if res.Source.LocalUID != 0 || res.Source.LocalGID != 0 {
		it.Err = fmt.Errorf("container %d: LOCAL_UID=%d LOCAL_GID=%d: vzctl made its files owned by shifted host IDs; shift them back on the old node (or with a uid-shifting copy) and clear LOCAL_UID/LOCAL_GID first: %w",
			id, res.Source.LocalUID, res.Source.LocalGID, vzerror.ErrInvalidConfig)
		return it
	}
	if !filepath.IsAbs(res.Source.Private) {
		it.Err = fmt.Errorf("container %d: VE_PRIVATE %q is not an absolute path: %w", id, res.Source.Private, vzerror.ErrInvalidConfig)
		return it
	}
	it.Private = filepath.Join(from, res.Source.Private)
	it.Scripts, it.Notes = readScripts(filepath.Join(from, confDir), id, it.Notes)
	target := filepath.Clean(n.Paths.Expand(conf.Str(n.Effective(nil).VEPrivate), id))
	if err := it.choose(target, mode); err != nil {
		it.Err = err
	}
	return it
}

// choose decides how the private area is taken, by what it holds: a
// ploop image (root.hdd/DiskDescriptor.xml, whatever VE_LAYOUT says: vzctl
// itself goes by the files) or a simfs directory.
func (it *Item) choose(target string, mode Mode) error {
	st, err := os.Stat(it.Private)
	if err != nil || !st.IsDir() {
		return fmt.Errorf("container %d: private area %s not found: %w", it.ID, it.Private, vzerror.ErrNoPrivate)
	}
	desc := filepath.Join(it.Private, "root.hdd", "DiskDescriptor.xml")
	if _, err := os.Stat(desc); err == nil {
		if it.Result.Source.Layout != "ploop" {
			it.Notes = append(it.Notes, "VE_LAYOUT says simfs, but the private area is a ploop image: taken as ploop")
		}
		d, err := ReadDescriptor(desc)
		if err != nil {
			return fmt.Errorf("container %d: %w", it.ID, err)
		}
		it.Layout, it.Action, it.Ploop = "image", ActConvert, d
		return nil
	}
	if it.Result.Source.Layout == "ploop" {
		return fmt.Errorf("container %d: VE_LAYOUT=ploop but %s is missing: %w", it.ID, desc, vzerror.ErrNoPrivate)
	}
	it.Layout, it.Action = "dir", ActCopy
	if filepath.Clean(it.Private) == target {
		// --from / on the node itself, with VZ_ROOT where vzctl's
		// VE_PRIVATE was: the area is already where govz wants it.
		it.Action = ActInPlace
		return nil
	}
	if mode == Move && sameFS(it.Private, target) {
		it.Action = ActMove
	}
	return nil
}

// sameFS reports whether a rename from a to b's place can work: both on
// one mounted file system (rename(2) fails with EXDEV across mounts, bind
// mounts of one file system included).
func sameFS(a, b string) bool {
	mnt := func(p string) (uint64, bool) {
		for ; ; p = filepath.Dir(p) {
			var st unix.Statx_t
			if err := unix.Statx(unix.AT_FDCWD, p, 0, unix.STATX_MNT_ID, &st); err == nil {
				return st.Mnt_id, st.Mask&unix.STATX_MNT_ID != 0
			}
			if p == "/" {
				return 0, false
			}
		}
	}
	ma, oka := mnt(filepath.Dir(a))
	mb, okb := mnt(filepath.Dir(b))
	return oka && okb && ma == mb
}

// readScripts reads container id's action scripts; one that reads the
// shell config gets a note: the config is TOML now.
func readScripts(dir string, id int, notes []string) (map[string][]byte, []string) {
	out := map[string][]byte{}
	for _, ph := range Phases {
		p := filepath.Join(dir, strconv.Itoa(id)+"."+ph)
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		out[ph] = data
		if s := string(data); strings.Contains(s, "VE_CONFFILE") || strings.Contains(s, "vz.conf") {
			notes = append(notes, fmt.Sprintf("action script %s reads the shell config; govz's is TOML: use $VE_ROOT and $VE_PRIVATE from the environment", p))
		}
	}
	for _, g := range []string{"vps.premount", "vps.mount", "vps.umount", "vps.postumount"} {
		if _, err := os.Stat(filepath.Join(dir, g)); err == nil {
			notes = append(notes, fmt.Sprintf("global action script %s not imported: copy it into $VZ_ROOT/conf by hand if still needed", filepath.Join(dir, g)))
		}
	}
	return out, notes
}

// Print writes the plan, one block per container.
func (p *Plan) Print(w io.Writer) {
	for _, nt := range p.NodeNotes {
		fmt.Fprintf(w, "note: %s\n", nt)
	}
	for _, it := range p.Items {
		switch {
		case it.Skip != "":
			fmt.Fprintf(w, "CT %d: skipped: %s\n", it.ID, it.Skip)
			continue
		case it.Err != nil:
			fmt.Fprintf(w, "CT %d: cannot import: %v\n", it.ID, it.Err)
		default:
			c := it.Result.Config
			fmt.Fprintf(w, "CT %d: %s %s -> %s (%s)\n", it.ID, it.Result.Source.Layout, it.Private, it.Layout, it.Action)
			fmt.Fprintf(w, "  name=%s hostname=%s ip=%s onboot=%s\n", orDash(conf.Str(c.Name)), orDash(conf.Str(c.Hostname)), orDash(strings.Join(c.IPAddress, ",")), boolStr(c.OnBoot))
			var sc []string
			for _, ph := range Phases {
				if _, ok := it.Scripts[ph]; ok {
					sc = append(sc, ph)
				}
			}
			if len(sc) > 0 {
				fmt.Fprintf(w, "  action scripts: %s\n", strings.Join(sc, " "))
			}
		}
		for _, nt := range it.Notes {
			fmt.Fprintf(w, "  note: %s\n", nt)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func boolStr(b *bool) string {
	if b == nil {
		return "-"
	}
	return conf.YesNo(*b)
}
