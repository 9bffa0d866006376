// Package cgroup places each running container in its own cgroups, on both
// host layouts: cgroup v1 (legacy or "hybrid", one mount per controller
// hierarchy plus name=systemd and maybe a cgroup2 at .../unified) and
// cgroup v2 (one cgroup2 mount).
//
// Every container gets two levels in every mounted hierarchy:
//
//	PARENT/ID     OUTER: carries the limits the host sets
//	PARENT/ID/ct  INNER: holds the container's processes and becomes the
//	              root of its cgroup namespace
//
// The guest manages its own subtree below INNER (its systemd creates
// init.scope, system.slice, ...) but never sees OUTER, so it cannot raise
// the limits: on v1 nothing else protects the files of a cgroupns root, and
// on v2 the kernel refuses writes to non-delegatable files there anyway.
//
// Lifecycle: Open, Create, AddProc(init), record InnerPaths in the run
// state; processes entering later use Join with that record; GuestMounts
// says how the guest's /sys/fs/cgroup is built; on stop, Kill then Destroy.
// All kernel I/O goes through the kernel interface, so the policy (which
// files, which values, in what order) is tested against a recording fake.
package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultParent is the host-wide parent of every container's group.
const DefaultParent = "govz"

// innerName is INNER's name below OUTER.
const innerName = "ct"

// v2Controllers are enabled in cgroup.subtree_control from the mount root
// down to OUTER (where available) so OUTER can carry limits and INNER can
// delegate them to the guest.
const v2Controllers = "cpuset cpu io memory pids"

// Group is one container's pair of cgroups in every mounted hierarchy.
type Group struct {
	k        kernel
	parent   string
	id       string
	layout   Layout
	hier     []hierarchy
	symlinks []Mount    // the host's co-mount symlinks, for v1 guests
	kill     killMethod // killAuto except in tests
}

// Open resolves the group PARENT/ID in every hierarchy mounted here; it
// changes nothing. parent is a relative path ("govz", "govz-test-x/y") below
// each hierarchy's mount root; id is one path component.
func Open(parent, id string) (*Group, error) {
	return open(hostKernel{}, parent, id)
}

func open(k kernel, parent, id string) (*Group, error) {
	if err := validParent(parent); err != nil {
		return nil, err
	}
	if !validComponent(id) {
		return nil, fmt.Errorf("cgroup name %q: must be one path component other than . and ..: %w", id, ErrBadPath)
	}
	h, err := readHost(k)
	if err != nil {
		return nil, err
	}
	return h.Open(parent, id)
}

// Host is this mount namespace's cgroup hierarchies, read once, for a
// command that opens the groups of many containers (vzlist): Open parses
// the mount table (and on v1 lists /sys/fs/cgroup) at each call. Groups
// opened from a Host share its tables and never modify them.
type Host struct {
	k        kernel
	layout   Layout
	hier     []hierarchy
	symlinks []Mount
}

// ReadHost reads the hierarchies mounted here.
func ReadHost() (*Host, error) { return readHost(hostKernel{}) }

func readHost(k kernel) (*Host, error) {
	hs, l, err := readHierarchies(k)
	if err != nil {
		return nil, err
	}
	h := &Host{k: k, layout: l, hier: hs}
	if l == V1 {
		if h.symlinks, err = hostSymlinks(k, hs); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Open is the package's Open on the hierarchies h read.
func (h *Host) Open(parent, id string) (*Group, error) {
	if err := validParent(parent); err != nil {
		return nil, err
	}
	if !validComponent(id) {
		return nil, fmt.Errorf("cgroup name %q: must be one path component other than . and ..: %w", id, ErrBadPath)
	}
	return &Group{k: h.k, parent: parent, id: id, layout: h.layout, hier: h.hier, symlinks: h.symlinks}, nil
}

func validComponent(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00\n")
}

func validParent(parent string) error {
	ok := parent != "" && path.Clean(parent) == parent && !path.IsAbs(parent)
	for _, c := range strings.Split(parent, "/") {
		ok = ok && validComponent(c)
	}
	if !ok {
		return fmt.Errorf("cgroup parent %q: must be a relative path without . or ..: %w", parent, ErrBadPath)
	}
	return nil
}

// Layout is the host layout the group was opened on.
func (g *Group) Layout() Layout { return g.layout }

func (g *Group) outer() string { return path.Join(g.parent, g.id) }
func (g *Group) inner() string { return InnerPath(g.parent, g.id) }

// InnerPath is the group of container id's processes below parent,
// relative to a hierarchy's root: their cgroup namespace's root.
func InnerPath(parent, id string) string { return path.Join(parent, id, innerName) }

func (g *Group) unified() *hierarchy {
	for i := range g.hier {
		if g.hier[i].v2 {
			return &g.hier[i]
		}
	}
	return nil
}

func (g *Group) v1(controller string) *hierarchy {
	for i := range g.hier {
		if g.hier[i].has(controller) {
			return &g.hier[i]
		}
	}
	return nil
}

// Create makes OUTER and INNER in every hierarchy, and PARENT where it is
// missing. On failure the groups it made for this container are removed
// again; PARENT is shared and stays.
func (g *Group) Create() (err error) {
	var undo []string
	defer func() {
		if err == nil {
			return
		}
		for i := len(undo) - 1; i >= 0; i-- {
			if uerr := g.k.Rmdir(undo[i]); uerr != nil && !errors.Is(uerr, fs.ErrNotExist) {
				err = errors.Join(err, fmt.Errorf("undo: %w", uerr))
			}
		}
	}()
	for i := range g.hier {
		h := &g.hier[i]
		if err := g.prepare(h, "", false, false); err != nil {
			return err
		}
		comps := strings.Split(g.parent, "/")
		for n := range comps {
			rel := path.Join(comps[:n+1]...)
			created := true
			if err := g.k.Mkdir(h.hostPath(rel)); errors.Is(err, fs.ErrExist) {
				created = false // another container's start made it first
			} else if err != nil {
				return fmt.Errorf("creating cgroup %s: %w", h.hostPath(rel), err)
			}
			if err := g.prepare(h, rel, created, false); err != nil {
				return err
			}
		}
		for _, rel := range []string{g.outer(), g.inner()} {
			p := h.hostPath(rel)
			if err := g.k.Mkdir(p); err != nil {
				if errors.Is(err, fs.ErrExist) {
					return fmt.Errorf("creating cgroup %s: left over from an earlier run, destroy it first: %w", p, err)
				}
				return fmt.Errorf("creating cgroup %s: %w", p, err)
			}
			undo = append(undo, p)
			if err := g.prepare(h, rel, true, rel == g.inner()); err != nil {
				return err
			}
		}
	}
	return nil
}

// prepare readies group rel of h (rel "" is the mount root) before children
// are made in it (leaf: INNER, whose children are the guest's business).
func (g *Group) prepare(h *hierarchy, rel string, created, leaf bool) error {
	if h.v2 {
		if leaf {
			return nil
		}
		return g.enableControllers(h, rel)
	}
	if rel == "" {
		return nil
	}
	if created && h.has("memory") {
		// Before 5.16 a v1 memory group did not charge its children unless
		// use_hierarchy was set, and only while it had none; since then
		// the file is fixed at 1 or gone.
		f := h.hostPath(rel) + "/memory.use_hierarchy"
		if g.k.Exists(f) {
			if err := g.k.WriteFile(f, "1"); err != nil {
				return fmt.Errorf("setting %s: %w", f, err)
			}
		}
	}
	if h.has("cpuset") {
		if err := g.fillCpuset(h, rel); err != nil {
			return err
		}
		if leaf {
			// The guest's own children then start with INNER's cpus and
			// mems instead of empty sets that refuse tasks.
			f := h.hostPath(rel) + "/cgroup.clone_children"
			if err := g.k.WriteFile(f, "1"); err != nil {
				return fmt.Errorf("setting %s: %w", f, err)
			}
		}
	}
	return nil
}

// fillCpuset copies cpus and mems from the parent when rel has none: a new
// v1 cpuset starts empty and refuses tasks until both are set.
func (g *Group) fillCpuset(h *hierarchy, rel string) error {
	prefix := "cpuset."
	if slices.Contains(h.options, "noprefix") {
		prefix = ""
	}
	for _, name := range []string{prefix + "cpus", prefix + "mems"} {
		f := h.hostPath(rel) + "/" + name
		cur, err := g.k.ReadFile(f)
		if err != nil {
			return fmt.Errorf("reading %s: %w", f, err)
		}
		if strings.TrimSpace(string(cur)) != "" {
			continue
		}
		pf := h.hostPath(path.Dir(rel)) + "/" + name
		val, err := g.k.ReadFile(pf)
		if err != nil {
			return fmt.Errorf("reading %s: %w", pf, err)
		}
		v := strings.TrimSpace(string(val))
		if v == "" {
			return fmt.Errorf("copying %s: parent %s is empty: %w", f, pf, ErrNoResource)
		}
		if err := g.k.WriteFile(f, v); err != nil {
			return fmt.Errorf("setting %s to %s: %w", f, v, err)
		}
	}
	return nil
}

// enableControllers turns on, in rel's cgroup.subtree_control, each wanted
// controller that rel has and has not yet enabled; one write each so a
// refusal names its controller.
func (g *Group) enableControllers(h *hierarchy, rel string) error {
	dir := h.hostPath(rel)
	avail, err := g.k.ReadFile(dir + "/cgroup.controllers")
	if err != nil {
		return fmt.Errorf("reading controllers of %s: %w", dir, err)
	}
	on, err := g.k.ReadFile(dir + "/cgroup.subtree_control")
	if err != nil {
		return fmt.Errorf("reading controllers of %s: %w", dir, err)
	}
	have, enabled := strings.Fields(string(avail)), strings.Fields(string(on))
	for _, c := range strings.Fields(v2Controllers) {
		if !slices.Contains(have, c) || slices.Contains(enabled, c) {
			continue
		}
		if err := g.k.WriteFile(dir+"/cgroup.subtree_control", "+"+c); err != nil {
			return fmt.Errorf("enabling %s controller in %s: %w", c, dir, err)
		}
	}
	return nil
}

// Exists reports whether OUTER exists in any hierarchy, so a half-removed
// group still counts and can be destroyed.
func (g *Group) Exists() bool {
	for i := range g.hier {
		if g.k.Exists(g.hier[i].hostPath(g.outer())) {
			return true
		}
	}
	return false
}

// AddProc moves process pid (all its threads) into INNER in every
// hierarchy.
func (g *Group) AddProc(pid int) error {
	for i := range g.hier {
		f := g.hier[i].hostPath(g.inner()) + "/cgroup.procs"
		if err := g.k.WriteFile(f, strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("moving pid %d into %s: %w", pid, f, err)
		}
	}
	return nil
}

// InnerPaths maps each hierarchy's name (UnifiedName, "cpu,cpuacct",
// "name=systemd", ...) to INNER's host path in it. Record it in the run
// state; a process entering the running container joins with Join.
func (g *Group) InnerPaths() map[string]string {
	m := make(map[string]string, len(g.hier))
	for i := range g.hier {
		m[g.hier[i].name] = g.hier[i].hostPath(g.inner())
	}
	return m
}

// InnerCgroupPaths maps each hierarchy's name to INNER's cgroup path as
// /proc/PID/cgroup shows it in the host's cgroup namespace: the mount's
// root joined with INNER's path below it. CRIU names cgroups this way.
func (g *Group) InnerCgroupPaths() map[string]string {
	m := make(map[string]string, len(g.hier))
	for i := range g.hier {
		m[g.hier[i].name] = path.Join("/", g.hier[i].root, g.inner())
	}
	return m
}

// OuterPath returns OUTER's host path in the hierarchy that carries
// controller ("memory", "pids", ...) or that has that name (UnifiedName,
// "name=systemd"). On cgroup2 the controller must be available to OUTER,
// so call it after Create.
func (g *Group) OuterPath(controller string) (string, error) {
	for i := range g.hier {
		if h := &g.hier[i]; h.name == controller || h.has(controller) {
			return h.hostPath(g.outer()), nil
		}
	}
	if u := g.unified(); u != nil {
		dir := u.hostPath(g.outer())
		avail, err := g.k.ReadFile(dir + "/cgroup.controllers")
		if err != nil {
			return "", fmt.Errorf("reading controllers of %s: %w", dir, err)
		}
		if slices.Contains(strings.Fields(string(avail)), controller) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("cgroup controller %q not available for %s: %w", controller, g.outer(), ErrUnsupported)
}

// subtree lists dir and every group below it, children before parents.
// A missing dir (or one that vanishes meanwhile) is no error.
func (g *Group) subtree(dir string) ([]string, error) {
	es, err := g.k.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	var out []string
	for _, e := range es {
		if !e.dir || e.symlink {
			continue
		}
		sub, err := g.subtree(dir + "/" + e.name)
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
	return append(out, dir), nil
}

// procsIn returns the PIDs in h's part of OUTER's subtree.
func (g *Group) procsIn(h *hierarchy, seen map[int]bool) error {
	dirs, err := g.subtree(h.hostPath(g.outer()))
	if err != nil {
		return err
	}
	for _, d := range dirs {
		b, err := g.k.ReadFile(d + "/cgroup.procs")
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s/cgroup.procs: %w", d, err)
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				return fmt.Errorf("parsing %s/cgroup.procs: %w", d, err)
			}
			seen[pid] = true
		}
	}
	return nil
}

// Procs returns every PID in OUTER's whole subtree in any hierarchy,
// sorted. A process the guest moved around inside its subtree stays
// inside OUTER; the union also catches one that joined only some
// hierarchies.
func (g *Group) Procs() ([]int, error) {
	seen := map[int]bool{}
	for i := range g.hier {
		if err := g.procsIn(&g.hier[i], seen); err != nil {
			return nil, err
		}
	}
	pids := make([]int, 0, len(seen))
	for p := range seen {
		pids = append(pids, p)
	}
	slices.Sort(pids)
	return pids, nil
}

// Destroy removes OUTER's whole subtree, deepest groups first (the guest's
// systemd nests its own), in every hierarchy. Groups already gone are
// fine; live processes are an error wrapping ErrPopulated.
func (g *Group) Destroy() error {
	pids, err := g.Procs()
	if err != nil {
		return err
	}
	if len(pids) > 0 {
		return fmt.Errorf("removing cgroup %s: %d %w (%v)",
			g.outer(), len(pids), ErrPopulated, pids[:min(len(pids), 8)])
	}
	var errs []error
	for i := range g.hier {
		dirs, err := g.subtree(g.hier[i].hostPath(g.outer()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var failed []string
		for _, d := range dirs {
			if slices.ContainsFunc(failed, func(f string) bool { return strings.HasPrefix(f, d+"/") }) {
				continue // its child stayed, so it stays too
			}
			if err := g.rmdir(d); err != nil {
				failed = append(failed, d)
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

// rmdir removes one empty group. A task killed a moment ago can hold its
// group busy until it finishes exiting, so EBUSY is retried for up to a
// second; the first retries come soon (the exit takes microseconds): a
// stop or checkpoint waits for this.
func (g *Group) rmdir(dir string) error {
	deadline := time.Now().Add(time.Second)
	for wait := 500 * time.Microsecond; ; wait = min(2*wait, 20*time.Millisecond) {
		err := g.k.Rmdir(dir)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(wait)
	}
}

// RemoveParentIfEmpty removes parent (each of its components, deepest
// first) from every hierarchy where no group is left below it. Tests use it
// to clean up their own parent.
func RemoveParentIfEmpty(parent string) error {
	return removeParentIfEmpty(hostKernel{}, parent)
}

func removeParentIfEmpty(k kernel, parent string) error {
	if err := validParent(parent); err != nil {
		return err
	}
	hs, _, err := readHierarchies(k)
	if err != nil {
		return err
	}
	var errs []error
	comps := strings.Split(parent, "/")
	for i := range hs {
		for n := len(comps); n > 0; n-- {
			p := hs[i].hostPath(path.Join(comps[:n]...))
			err := k.Rmdir(p)
			if errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.ENOTEMPTY) {
				break // still in use: leave it and its ancestors
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", p, err))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// hostSymlinks returns the co-mount symlinks next to the host's v1
// hierarchies (systemd links "cpu" and "cpuacct" to "cpu,cpuacct"), as
// guest Mount entries.
func hostSymlinks(k kernel, hs []hierarchy) ([]Mount, error) {
	dir := ""
	names := map[string]string{} // host base name -> guest name
	for i := range hs {
		if !hs[i].v2 {
			if dir == "" {
				dir = filepath.Dir(hs[i].mountPoint)
			}
			if filepath.Dir(hs[i].mountPoint) == dir {
				names[filepath.Base(hs[i].mountPoint)] = hs[i].guestName()
			}
		}
	}
	if dir == "" {
		return nil, nil
	}
	es, err := k.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	var out []Mount
	for _, e := range es {
		if !e.symlink {
			continue
		}
		t, err := k.Readlink(dir + "/" + e.name)
		if err != nil {
			return nil, fmt.Errorf("reading link %s/%s: %w", dir, e.name, err)
		}
		if gn, ok := names[t]; ok && !strings.Contains(t, "/") {
			out = append(out, Mount{Target: guestCgroupDir + "/" + e.name, Symlink: gn})
		}
	}
	return out, nil
}

// JoinLeaf is the group below INNER in the cgroup2 hierarchy that
// processes entering a running container join (LXC uses ".lxc" the same
// way): once the guest's systemd enables controllers in INNER's
// cgroup.subtree_control, cgroup2's no-internal-process rule refuses new
// members in INNER itself (EBUSY), and a process that got there first
// would make the guest's own enabling fail.
const JoinLeaf = ".govz"

// JoinPaths maps InnerPaths (as recorded in a container's run state) to
// the directories a process entering the running container joins: INNER
// itself in v1 hierarchies, JoinLeaf below INNER (made on demand) in the
// cgroup2 one. Use it to open the cgroup.procs files up front.
func JoinPaths(paths map[string]string) (map[string]string, error) {
	return joinPaths(hostKernel{}, paths)
}

func joinPaths(k kernel, paths map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(paths))
	for name, dir := range paths {
		if name == UnifiedName {
			dir += "/" + JoinLeaf
			if err := k.Mkdir(dir); err != nil && !errors.Is(err, fs.ErrExist) {
				return nil, fmt.Errorf("creating cgroup %s: %w", dir, err)
			}
		}
		out[name] = dir
	}
	return out, nil
}

// Join moves process pid into the JoinPaths of a container's InnerPaths.
func Join(paths map[string]string, pid int) error {
	return join(hostKernel{}, paths, pid)
}

func join(k kernel, paths map[string]string, pid int) error {
	dirs, err := joinPaths(k, paths)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(dirs)) {
		if err := k.WriteFile(dirs[name]+"/cgroup.procs", strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("moving pid %d into %s: %w", pid, dirs[name], err)
		}
	}
	return nil
}
