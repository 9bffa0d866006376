package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"govz/internal/mountinfo"
)

// hostState is what existed before the bench ran, so that cleanup removes
// only what the peers left behind during this run.
type hostState struct {
	nspawnRun bool            // /run/systemd/nspawn existed
	cgroups   map[string]bool // helper cgroups (lxc.pivot, payload, supervisor) that existed
}

// helperCgroups are cgroups the peers create at the top of a hierarchy and
// never remove: LXC's lxc.pivot, nspawn's payload/supervisor on a host
// without systemd.
var helperCgroups = []string{"lxc.pivot", "payload", "supervisor"}

const nspawnRunDir = "/run/systemd/nspawn"

func recordHostState() hostState {
	h := hostState{cgroups: map[string]bool{}}
	_, err := os.Stat(nspawnRunDir)
	h.nspawnRun = err == nil
	for _, hier := range cgroupHierarchies() {
		for _, n := range helperCgroups {
			if _, err := os.Stat(filepath.Join(hier, n)); err == nil {
				h.cgroups[filepath.Join(hier, n)] = true
			}
		}
	}
	return h
}

// cgroupHierarchies lists the mounted cgroup hierarchies (v1 and v2).
func cgroupHierarchies() []string {
	ms, err := mountinfo.Read(0)
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range ms {
		if m.FSType == "cgroup" || m.FSType == "cgroup2" {
			out = append(out, m.MountPoint)
		}
	}
	return out
}

// removeCgroupEverywhere removes the cgroup name (relative) and everything
// below it in every hierarchy, deepest first. rmdir only succeeds on an
// empty cgroup, so a group that still has tasks is reported, not forced.
func removeCgroupEverywhere(name string) error {
	var errs []error
	for _, hier := range cgroupHierarchies() {
		if err := removeCgroupTree(filepath.Join(hier, name)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func removeCgroupTree(dir string) error {
	var dirs []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.Reverse(dirs)
	var last error
	for _, d := range dirs {
		// A cgroup that just lost its last task may still be dying.
		for i := 0; i < 50; i++ {
			if last = unix.Rmdir(d); last == nil || errors.Is(last, unix.ENOENT) || !errors.Is(last, unix.EBUSY) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("cgroup %s still exists: %w", dir, last)
	}
	return nil
}

// procSet tracks the background processes the bench started itself
// (nspawn, unshare), so cleanup kills exactly those, by PID.
type procSet struct {
	mu sync.Mutex
	m  map[int]*os.Process
}

func (s *procSet) add(p *os.Process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[int]*os.Process{}
	}
	s.m[p.Pid] = p
}

func (s *procSet) done(p *os.Process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, p.Pid)
}

// killAll SIGKILLs every tracked process that is still there.
func (s *procSet) killAll() {
	s.mu.Lock()
	ps := make([]*os.Process, 0, len(s.m))
	for _, p := range s.m {
		ps = append(ps, p)
	}
	s.m = nil
	s.mu.Unlock()
	for _, p := range ps {
		killWait(p)
	}
}

// cleanHost removes what the peers may have left on the host: LXC
// containers of our lxcpath and their cgroups, OCI containers, tracked
// background processes and nspawn's bookkeeping. It runs at the very end (it was pushed first).
func (b *bench) cleanHost() error {
	var errs []error
	b.procs.killAll()
	if err := b.cleanLXC(); err != nil {
		errs = append(errs, err)
	}
	b.cleanOCI()
	if !b.host.nspawnRun && !processRunning("systemd-nspawn") {
		os.RemoveAll(nspawnRunDir)
	}
	for _, hier := range cgroupHierarchies() {
		for _, n := range helperCgroups {
			p := filepath.Join(hier, n)
			if _, err := os.Stat(p); err == nil && !b.host.cgroups[p] {
				removeCgroupTree(p)
			}
		}
	}
	return errors.Join(errs...)
}

// processRunning reports whether any process has comm name.
func processRunning(name string) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err == nil && strings.TrimSpace(string(c)) == name {
			return true
		}
	}
	return false
}

// crun 1.8 refuses a cgroup v1 "hybrid" host while any controller sits on
// the v2 hierarchy ("cgroups in hybrid mode not supported, drop all
// controllers from cgroupv2"); here hugetlb does. The baseline moved
// hugetlb to a temporary v1 mount, which changes the host for everyone:
// whatever creates cgroups meanwhile (other tests) leaves them in that
// hierarchy, which then lingers after the umount and keeps hugetlb off v2.
// Instead the bench runs crun from one OS thread with a mount namespace of
// its own, where an empty file is bound over the v2 cgroup.controllers: crun
// sees no v2 controllers, and nothing changes for anyone else.

const v2Controllers = "/sys/fs/cgroup/unified/cgroup.controllers"

// nsThread runs functions on a locked OS thread; children it starts inherit
// that thread's mount namespace.
type nsThread struct {
	req chan func()
}

// crunThread returns the thread crun runs from, making it on first use;
// nil when crun needs no help on this host.
func (b *bench) crunThread() (*nsThread, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.crunNS != nil {
		return b.crunNS, nil
	}
	data, err := os.ReadFile(v2Controllers)
	if err != nil || strings.TrimSpace(string(data)) == "" {
		return nil, nil
	}
	empty := filepath.Join(b.work, "empty-cgroup.controllers")
	if err := os.WriteFile(empty, nil, 0o444); err != nil {
		return nil, err
	}
	t := &nsThread{req: make(chan func())}
	errc := make(chan error)
	go func() {
		// Never unlocked: the thread ends with this goroutine instead of
		// going back to the scheduler with a different mount namespace.
		runtime.LockOSThread()
		// CLONE_NEWNS also unshares this thread's fs_struct from the
		// others', so only this thread (and its children) is affected.
		err := unix.Unshare(unix.CLONE_NEWNS)
		if err == nil {
			// Slave: host mounts still show up here, ours do not leak out.
			err = unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, "")
		}
		if err == nil {
			err = unix.Mount(empty, v2Controllers, "", unix.MS_BIND, "")
		}
		errc <- err
		if err != nil {
			return
		}
		for f := range t.req {
			f()
		}
	}()
	if err := <-errc; err != nil {
		return nil, fmt.Errorf("preparing a mount namespace for crun: %w", err)
	}
	b.crunNS = t
	return t, nil
}

// do runs f on the thread and waits for it.
func (t *nsThread) do(f func()) {
	done := make(chan struct{})
	t.req <- func() {
		defer close(done)
		f()
	}
	<-done
}
