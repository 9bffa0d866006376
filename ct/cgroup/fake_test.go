package cgroup

import (
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// fakeKernel is an in-memory cgroupfs that behaves like the kernel where
// the policy depends on it (new cpusets start empty, cgroup2 children see
// their parent's subtree_control, busy groups refuse rmdir, cgroup.kill
// kills the subtree) and records every change as one line of text, paths
// shown relative to /sys/fs/cgroup.
type fakeKernel struct {
	t     *testing.T
	files map[string]string
	dirs  map[string]bool
	links map[string]string
	hier  []hierarchy
	alive map[int]bool
	log   []string
	// fail makes the operation "op path" (as logged, without value)
	// return the error.
	fail map[string]error
	// immortal PIDs survive SIGKILL (stuck in uninterruptible sleep).
	immortal map[int]bool
}

const fakeBase = "/sys/fs/cgroup/"

// newFake builds the fake from a mountinfo sample in testdata. v2Avail is
// the cgroup2 root's cgroup.controllers, v2On its subtree_control.
func newFake(t *testing.T, sample, v2Avail, v2On string) *fakeKernel {
	t.Helper()
	mi, err := os.ReadFile("testdata/" + sample)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := parseMountinfo(string(mi))
	if err != nil {
		t.Fatal(err)
	}
	k := &fakeKernel{
		t: t, files: map[string]string{mountinfoPath: string(mi)},
		dirs: map[string]bool{"/sys/fs/cgroup": true}, links: map[string]string{},
		hier: hs, alive: map[int]bool{1: true}, fail: map[string]error{}, immortal: map[int]bool{},
	}
	for _, h := range hs {
		d := h.mountPoint
		k.dirs[d] = true
		k.files[d+"/cgroup.procs"] = "1\n"
		switch {
		case h.v2:
			k.files[d+"/cgroup.controllers"] = v2Avail
			k.files[d+"/cgroup.subtree_control"] = v2On
		case h.has("cpuset"):
			k.files[d+"/cpuset.cpus"] = "0-3\n"
			k.files[d+"/cpuset.mems"] = "0\n"
			k.files[d+"/cgroup.clone_children"] = "0\n"
			if slices.Contains(h.options, "clone_children") {
				k.files[d+"/cgroup.clone_children"] = "1\n"
			}
		case h.has("memory"):
			k.files[d+"/memory.use_hierarchy"] = "1\n"
		}
	}
	return k
}

func (k *fakeKernel) record(op, p string, val ...string) error {
	line := op + " " + strings.TrimPrefix(p, fakeBase)
	if err := k.fail[line]; err != nil {
		return &fs.PathError{Op: op, Path: p, Err: err}
	}
	k.log = append(k.log, strings.Join(append([]string{line}, val...), " "))
	return nil
}

// takeLog returns the lines recorded since the last call.
func (k *fakeKernel) takeLog() string {
	s := strings.Join(k.log, "\n")
	k.log = nil
	return s
}

func (k *fakeKernel) hierOf(p string) *hierarchy {
	for i := range k.hier {
		if p == k.hier[i].mountPoint || strings.HasPrefix(p, k.hier[i].mountPoint+"/") {
			return &k.hier[i]
		}
	}
	return nil
}

func (k *fakeKernel) Mkdir(p string) error {
	if k.dirs[p] || k.files[p] != "" {
		return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrExist}
	}
	parent := path.Dir(p)
	if !k.dirs[parent] {
		return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrNotExist}
	}
	if err := k.record("mkdir", p); err != nil {
		return err
	}
	k.dirs[p] = true
	h := k.hierOf(p)
	if h == nil {
		k.t.Fatalf("mkdir %s outside any cgroup hierarchy", p)
	}
	k.files[p+"/cgroup.procs"] = ""
	switch {
	case h.v2:
		k.files[p+"/cgroup.controllers"] = k.files[parent+"/cgroup.subtree_control"]
		k.files[p+"/cgroup.subtree_control"] = ""
		k.files[p+"/cgroup.kill"] = ""
		k.files[p+"/cgroup.freeze"] = "0\n"
		k.files[p+"/cgroup.events"] = "populated 0\nfrozen 0\n"
	case h.has("cpuset"):
		cc := k.files[parent+"/cgroup.clone_children"]
		k.files[p+"/cgroup.clone_children"] = cc
		k.files[p+"/cpuset.cpus"], k.files[p+"/cpuset.mems"] = "\n", "\n"
		if strings.TrimSpace(cc) == "1" {
			k.files[p+"/cpuset.cpus"] = k.files[parent+"/cpuset.cpus"]
			k.files[p+"/cpuset.mems"] = k.files[parent+"/cpuset.mems"]
		}
	case h.has("memory"):
		k.files[p+"/memory.use_hierarchy"] = "1\n"
	case h.has("freezer"):
		k.files[p+"/freezer.state"] = "THAWED\n"
	}
	return nil
}

func (k *fakeKernel) children(p string) []string {
	var out []string
	for d := range k.dirs {
		if path.Dir(d) == p && d != p {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

func (k *fakeKernel) Rmdir(p string) error {
	if !k.dirs[p] {
		return &fs.PathError{Op: "rmdir", Path: p, Err: syscall.ENOENT}
	}
	if len(k.children(p)) > 0 || strings.TrimSpace(k.files[p+"/cgroup.procs"]) != "" {
		return &fs.PathError{Op: "rmdir", Path: p, Err: syscall.EBUSY}
	}
	if err := k.record("rmdir", p); err != nil {
		return err
	}
	delete(k.dirs, p)
	for f := range k.files {
		if path.Dir(f) == p {
			delete(k.files, f)
		}
	}
	return nil
}

func (k *fakeKernel) ReadFile(p string) ([]byte, error) {
	if v, ok := k.files[p]; ok {
		if strings.HasSuffix(p, "/cgroup.kill") {
			return nil, &fs.PathError{Op: "open", Path: p, Err: syscall.EACCES}
		}
		return []byte(v), nil
	}
	return nil, &fs.PathError{Op: "open", Path: p, Err: syscall.ENOENT}
}

// pidsUnder returns the PIDs in p's subtree of one hierarchy.
func (k *fakeKernel) pidsUnder(p string) []int {
	var out []int
	for f, v := range k.files {
		if path.Base(f) == "cgroup.procs" && (path.Dir(f) == p || strings.HasPrefix(f, p+"/")) {
			for _, s := range strings.Fields(v) {
				n, _ := strconv.Atoi(s)
				out = append(out, n)
			}
		}
	}
	return out
}

// drop removes pid from every group: the process died.
func (k *fakeKernel) drop(pid int) {
	delete(k.alive, pid)
	for f, v := range k.files {
		if path.Base(f) == "cgroup.procs" {
			rest := slices.DeleteFunc(strings.Fields(v), func(s string) bool { return s == strconv.Itoa(pid) })
			k.files[f] = strings.Join(rest, "\n")
		}
	}
}

func (k *fakeKernel) WriteFile(p, data string) error {
	if _, ok := k.files[p]; !ok {
		return &fs.PathError{Op: "open", Path: p, Err: syscall.ENOENT}
	}
	if err := k.record("write", p, data); err != nil {
		return err
	}
	dir, h := path.Dir(p), k.hierOf(p)
	switch path.Base(p) {
	case "cgroup.procs":
		pid, err := strconv.Atoi(data)
		if err != nil || !k.alive[pid] {
			return &fs.PathError{Op: "write", Path: p, Err: syscall.ESRCH}
		}
		if h.has("cpuset") && strings.TrimSpace(k.files[dir+"/cpuset.cpus"]) == "" {
			return &fs.PathError{Op: "write", Path: p, Err: syscall.ENOSPC}
		}
		if h.v2 && dir != h.mountPoint && k.files[dir+"/cgroup.subtree_control"] != "" {
			return &fs.PathError{Op: "write", Path: p, Err: syscall.EBUSY}
		}
		for _, f := range k.procsFiles(h) {
			k.files[f] = strings.Join(slices.DeleteFunc(strings.Fields(k.files[f]), func(s string) bool { return s == data }), "\n")
		}
		k.files[p] = strings.TrimSpace(k.files[p] + "\n" + data)
	case "cgroup.subtree_control":
		c := strings.TrimPrefix(data, "+")
		if !slices.Contains(strings.Fields(k.files[dir+"/cgroup.controllers"]), c) {
			return &fs.PathError{Op: "write", Path: p, Err: syscall.ENOENT}
		}
		k.files[p] = strings.TrimSpace(k.files[p] + " " + c)
	case "cgroup.kill":
		for _, pid := range k.pidsUnder(dir) {
			if !k.immortal[pid] {
				k.drop(pid)
			}
		}
	case "cgroup.freeze":
		k.files[dir+"/cgroup.events"] = "populated 1\nfrozen " + data + "\n"
	default:
		k.files[p] = data
	}
	return nil
}

func (k *fakeKernel) procsFiles(h *hierarchy) []string {
	var out []string
	for f := range k.files {
		if path.Base(f) == "cgroup.procs" && k.hierOf(f) == h {
			out = append(out, f)
		}
	}
	return out
}

func (k *fakeKernel) ReadDir(p string) ([]dirEntry, error) {
	if !k.dirs[p] {
		return nil, &fs.PathError{Op: "open", Path: p, Err: syscall.ENOENT}
	}
	var out []dirEntry
	for _, d := range k.children(p) {
		out = append(out, dirEntry{name: path.Base(d), dir: true})
	}
	for l := range k.links {
		if path.Dir(l) == p {
			out = append(out, dirEntry{name: path.Base(l), symlink: true})
		}
	}
	for f := range k.files {
		if path.Dir(f) == p {
			out = append(out, dirEntry{name: path.Base(f)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func (k *fakeKernel) Readlink(p string) (string, error) {
	if t, ok := k.links[p]; ok {
		return t, nil
	}
	return "", &fs.PathError{Op: "readlink", Path: p, Err: syscall.EINVAL}
}

func (k *fakeKernel) Exists(p string) bool {
	_, f := k.files[p]
	return f || k.dirs[p] || k.links[p] != ""
}

func (k *fakeKernel) Kill(pid int) error {
	if !k.alive[pid] {
		return os.NewSyscallError("kill", syscall.ESRCH)
	}
	if err := k.record("kill", strconv.Itoa(pid)); err != nil {
		return err
	}
	if !k.immortal[pid] {
		k.drop(pid)
	}
	return nil
}

// spawn makes a live process in group dir (absolute) of every hierarchy,
// without logging: the guest did it.
func (k *fakeKernel) spawn(pid int, dirs ...string) {
	k.alive[pid] = true
	for _, d := range dirs {
		if _, ok := k.files[d+"/cgroup.procs"]; !ok {
			k.t.Fatalf("spawn into missing group %s", d)
		}
		k.files[d+"/cgroup.procs"] = strings.TrimSpace(k.files[d+"/cgroup.procs"] + "\n" + strconv.Itoa(pid))
	}
}

// guestMkdir makes a group the way a guest's systemd would, unlogged.
func (k *fakeKernel) guestMkdir(p string) {
	if err := k.Mkdir(p); err != nil {
		k.t.Fatal(err)
	}
	k.log = k.log[:len(k.log)-1]
}

func lines(s ...string) string { return strings.Join(s, "\n") }

func diff(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s:\n--- got\n%s\n--- want\n%s", what, got, want)
	}
}

func (k *fakeKernel) Chown(p string, uid, gid int) error {
	if !k.dirs[p] {
		if _, ok := k.files[p]; !ok {
			return &fs.PathError{Op: "chown", Path: p, Err: fs.ErrNotExist}
		}
	}
	return k.record("chown", p, strconv.Itoa(uid)+":"+strconv.Itoa(gid))
}
