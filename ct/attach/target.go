package attach

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"

	"govz/ct/cgroup"
	"govz/ct/revert"
	"govz/ct/runstate"
	"govz/ct/vzerror"
)

// target is a running container opened for joining: every handle the
// constructor needs, taken while the init was verified to be the one the
// run record names.
type target struct {
	runDir  string
	debug   func(format string, a ...any)
	state   *runstate.State
	pidfd   *os.File // nil without pidfd_open (Linux < 5.3) or in fallback tests
	root    *os.File // O_PATH /proc/PID/root: the init's root directory
	nsFlags int
	capKeep uint64
	cgroups []*os.File // cgroup.procs of every hierarchy, write-only
}

func openTarget(runDir string, opt Options) (_ *target, err error) {
	st, err := runstate.Read(runDir)
	if errors.Is(err, fs.ErrNotExist) {
		// vzctl's line starts "Container is not running"; scripts grep it.
		return nil, fmt.Errorf("%w (no run record in %s)", vzerror.ErrNotRunning, runDir)
	}
	if err != nil {
		return nil, fmt.Errorf("reading run record: %w: %w", err, vzerror.ErrSystem)
	}
	if !st.Alive() {
		return nil, notRunning(st)
	}
	// A process that joined a frozen container would stop there for as
	// long as it stays suspended.
	if frozen, _ := cgroup.PathsFrozen(st.CgroupPaths); frozen {
		return nil, fmt.Errorf("container %s is suspended (vzctl chkpnt --suspend): resume it (chkpnt --resume) or kill it (chkpnt --kill) first: %w", st.ID, vzerror.ErrChkpnt)
	}
	capKeep, err := capMask(st.CapBounding)
	if err != nil {
		return nil, fmt.Errorf("run record in %s: %w", runDir, err)
	}
	t := &target{runDir: runDir, debug: opt.Debug, state: st, capKeep: capKeep}
	r := revert.New()
	defer r.Fail()
	r.Add(t.Close)

	if !opt.noPidfd {
		fd, err := unix.PidfdOpen(st.InitPID, 0)
		switch {
		case errors.Is(err, unix.ESRCH):
			return nil, notRunning(st)
		case errors.Is(err, unix.ENOSYS):
		case err != nil:
			return nil, fmt.Errorf("pidfd_open %d: %w: %w", st.InitPID, err, vzerror.ErrSystem)
		default:
			t.pidfd = os.NewFile(uintptr(fd), "pidfd")
		}
	}
	// The pidfd names whatever process had the pid; the start time says
	// it is the recorded init.
	if !st.Alive() {
		return nil, notRunning(st)
	}
	proc := "/proc/" + strconv.Itoa(st.InitPID)
	rfd, err := unix.Open(proc+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
		return nil, notRunning(st)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s/root: %w: %w", proc, err, vzerror.ErrSystem)
	}
	t.root = os.NewFile(uintptr(rfd), proc+"/root")
	ctNS, err := readNamespaces(proc)
	if err != nil {
		return nil, err
	}
	selfNS, err := readNamespaces("/proc/self")
	if err != nil {
		return nil, err
	}
	if t.nsFlags, err = joinFlags(selfNS, ctNS); err != nil {
		return nil, fmt.Errorf("container %s: %w", st.ID, err)
	}
	// On cgroup2 a booted systemd guest enables controllers in INNER, after
	// which the kernel refuses new members there (EBUSY): join the leaf
	// below it instead.
	joinPaths, err := cgroup.JoinPaths(st.CgroupPaths)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w: %w", st.ID, err, vzerror.ErrSystem)
	}
	if t.cgroups, err = openCgroupProcs(joinPaths); err != nil {
		return nil, fmt.Errorf("container %s: %w", st.ID, err)
	}
	// Root and namespaces were read through the pid: they are the init's
	// only if it still lives now.
	if t.pidfd != nil {
		err = unix.PidfdSendSignal(int(t.pidfd.Fd()), 0, nil, 0)
		if errors.Is(err, unix.ESRCH) {
			return nil, notRunning(st)
		}
		if err != nil {
			return nil, fmt.Errorf("pidfd_send_signal %d: %w: %w", st.InitPID, err, vzerror.ErrSystem)
		}
	} else if !st.Alive() {
		return nil, notRunning(st)
	}
	r.Success()
	return t, nil
}

func notRunning(st *runstate.State) error {
	return fmt.Errorf("container %s: init %d is gone: %w", st.ID, st.InitPID, vzerror.ErrNotRunning)
}

// Close releases the handles.
func (t *target) Close() {
	for _, f := range append([]*os.File{t.pidfd, t.root}, t.cgroups...) {
		if f != nil {
			f.Close()
		}
	}
	t.pidfd, t.root, t.cgroups = nil, nil, nil
}

// nsKind is one namespace type: its /proc/PID/ns name and clone flag.
type nsKind struct {
	name string
	flag int
}

// nsKinds lists the namespaces exec joins. A container's own user
// namespace is joined first (the constructor orders it), and the command
// then runs as the container's root, not as host root.
func nsKinds() []nsKind {
	return []nsKind{
		{"user", unix.CLONE_NEWUSER},
		{"mnt", unix.CLONE_NEWNS},
		{"uts", unix.CLONE_NEWUTS},
		{"ipc", unix.CLONE_NEWIPC},
		{"net", unix.CLONE_NEWNET},
		{"cgroup", unix.CLONE_NEWCGROUP},
		{"pid", unix.CLONE_NEWPID},
		{"time", unix.CLONE_NEWTIME},
	}
}

// nsID identifies a namespace: nsfs device and inode.
type nsID struct{ dev, ino uint64 }

// readNamespaces returns the namespaces of the process at proc
// ("/proc/PID" or "/proc/self"); kinds the kernel lacks are left out.
func readNamespaces(proc string) (map[string]nsID, error) {
	m := make(map[string]nsID)
	for _, k := range nsKinds() {
		var st unix.Stat_t
		err := unix.Stat(proc+"/ns/"+k.name, &st)
		if errors.Is(err, unix.ENOENT) && k.name == "time" {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s/ns/%s: %w: %w", proc, k.name, err, vzerror.ErrSystem)
		}
		m[k.name] = nsID{st.Dev, st.Ino}
	}
	return m, nil
}

// joinFlags is the CLONE_NEW* mask of the container's namespaces that
// differ from ours: setns(2) into a namespace we already share is pointless
// and, for some kinds, EINVAL.
func joinFlags(self, ct map[string]nsID) (int, error) {
	// The user namespace is joined like the others when the container
	// has its own: host root in a container's other namespaces but outside
	// its user namespace would be more privileged than the container.
	flags := 0
	for _, k := range nsKinds() {
		id, ok := ct[k.name]
		if ok && id != self[k.name] {
			flags |= k.flag
		}
	}
	if flags&unix.CLONE_NEWNS == 0 || flags&unix.CLONE_NEWPID == 0 {
		return 0, fmt.Errorf("the init shares the host's mount or pid namespace: %w", vzerror.ErrSystem)
	}
	return flags, nil
}

// Cgroup filesystems' magic numbers (statfs(2)).
const (
	cgroupMagic  = 0x27e0eb
	cgroup2Magic = 0x63677270
)

// openCgroupProcs opens cgroup.procs of every path the run record lists.
// The host opens them: the constructor only writes its pid, and an fd opened
// here cannot be redirected by anything the container does to its own
// (possibly delegated) cgroup tree.
func openCgroupProcs(paths map[string]string) (_ []*os.File, err error) {
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var files []*os.File
	defer func() {
		if err != nil {
			for _, f := range files {
				f.Close()
			}
		}
	}()
	for _, k := range keys {
		dir := paths[k]
		if !filepath.IsAbs(dir) {
			return nil, fmt.Errorf("cgroup path %q of %s is not absolute: %w", dir, k, vzerror.ErrSystem)
		}
		p := filepath.Join(dir, "cgroup.procs")
		fd, err := unix.Open(p, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w: %w", p, err, vzerror.ErrSystem)
		}
		f := os.NewFile(uintptr(fd), p)
		files = append(files, f)
		var sfs unix.Statfs_t
		if err := unix.Fstatfs(fd, &sfs); err != nil {
			return nil, fmt.Errorf("statfs %s: %w: %w", p, err, vzerror.ErrSystem)
		}
		if sfs.Type != cgroupMagic && sfs.Type != cgroup2Magic {
			return nil, fmt.Errorf("%s is not on a cgroup filesystem: %w", p, vzerror.ErrSystem)
		}
	}
	return files, nil
}
