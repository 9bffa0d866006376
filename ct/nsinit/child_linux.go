package nsinit

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"govz/ct/caps"
	"govz/ct/rootfs"
	"govz/ct/vzerror"
	"govz/internal/reexec"
)

// syncFD is the child's end of the socketpair; exeFD the sealed copy of
// the executable the child was started from (see Start).
const (
	syncFD = 3
	exeFD  = 4
)

func init() {
	// Capabilities, the seccomp filter and the cgroup namespace are per
	// thread: keep the main goroutine on the main thread from before main
	// runs until execve, so all of them land on the thread that execs
	// (runc does the same in its init package).
	if reexec.Is(os.Args, Verb) {
		runtime.LockOSThread()
	}
}

// Main is the child. It never returns: it either execs the guest's init
// or reports its error to the parent and exits.
func Main() {
	sock := os.NewFile(syncFD, "sync")
	err := child(sock)
	// Only failures get here.
	if b, eerr := encode(&message{Type: msgError, Error: NewRemoteError(err)}); eerr == nil {
		sock.Write(b)
	}
	fmt.Fprintf(os.Stderr, "govz nsinit: %v\n", err)
	os.Exit(1)
}

func child(sock *os.File) error {
	// The execve that started us needed it; /proc/self/exe is the copy now.
	unix.Close(exeFD)
	unix.CloseOnExec(syncFD)
	m, fds, err := recvWithFDs(syncFD)
	if err != nil {
		return fmt.Errorf("waiting for config: %w", err)
	}
	// They are close-on-exec; attached mounts live on without them.
	defer closeAll(fds)
	if m.Type != msgConfig || m.Config == nil {
		return fmt.Errorf("expected config, got %q", m.Type)
	}
	c := m.Config
	if len(fds) != len(c.Mounts) {
		return fmt.Errorf("config names %d mounts but %d descriptors came with it", len(c.Mounts), len(fds))
	}
	mounts := make(map[string]int, len(fds))
	for i, name := range c.Mounts {
		mounts[name] = fds[i]
	}

	// The parent has moved us into the container's cgroups; a new cgroup
	// namespace now takes them as its root, so the guest sees "/" there
	// (clone(2) with CLONE_NEWCGROUP would have taken the supervisor's).
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return fmt.Errorf("unshare cgroup namespace: %w", err)
	}
	unix.Umask(0)
	resolved, err := build(c, mounts)
	if err != nil {
		return err
	}

	kind := guestKind(resolved)
	var hooks []string
	if c.ReadyHooks && kind != KindSystemd && c.ReadyFifo != "" {
		hooks, err = rootfs.PlantReadyHooks("/")
		if err != nil {
			return fmt.Errorf("planting readiness hook: %w", err)
		}
	}
	if err := send(sock, &message{Type: msgPrestart, Kind: kind, Hooks: hooks}); err != nil {
		return err
	}
	m, runFDs, err := recvWithFDs(syncFD)
	if err != nil {
		return fmt.Errorf("waiting for run: %w", err)
	}
	defer closeAll(runFDs)
	if m.Type != msgRun {
		return fmt.Errorf("expected run, got %q", m.Type)
	}
	want := 0
	if c.LockMounts {
		want = 1 // the locked mount namespace
	}
	if len(runFDs) != want {
		return fmt.Errorf("run came with %d descriptors (locked mounts: %v)", len(runFDs), c.LockMounts)
	}

	// The kernel starts init with umask 022; so do we.
	unix.Umask(0o022)
	if c.LockMounts {
		if err := send(sock, &message{Type: msgExec}); err != nil {
			return err
		}
		return execLocked(c, runFDs[0])
	}
	// Nothing of ours may reach the guest: the supervisor passed only fds
	// 0-3, but the Go runtime has its own (epoll), and 3 must close on
	// exec to tell the parent it worked.
	if err := unix.CloseRange(syncFD, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close_range: %w", err)
	}
	if c.Seccomp {
		if _, err := caps.InstallFilter(); err != nil {
			return err
		}
	}
	if err := caps.Apply(c.Caps, c.CapLast); err != nil {
		return err
	}
	if err := send(sock, &message{Type: msgExec}); err != nil {
		return err
	}
	// Exec the path as given (argv[0] and the kernel's own symlink walk
	// decide what runs, as they would on a real boot); resolved only told
	// us what kind of init it is.
	err = unix.Exec(c.Init[0], c.Init, c.Env)
	return fmt.Errorf("exec %s: %w: %w", c.Init[0], err, vzerror.ErrBadTemplate)
}

// build sets up the container's filesystem and UTS name, and returns the
// resolved path of the guest's init inside the new root. mounts are the
// parent's detached mounts by name (hostMounts).
func build(c *Config, mounts map[string]int) (string, error) {
	if len(c.Init) == 0 {
		return "", fmt.Errorf("no init command: %w", vzerror.ErrInvalidValue)
	}
	fs := c.FS
	fs.ConsoleFD, fs.NotifyFD, fs.ReadyFD = -1, -1, -1
	if fd, ok := mounts[mountConsole]; ok {
		fs.ConsoleFD = fd
	}
	if fd, ok := mounts[mountNotify]; ok {
		fs.NotifyFD = fd
	}
	if fd, ok := mounts[mountReady]; ok {
		fs.ReadyFD = fd
	}
	fs.Binds = append([]rootfs.Bind(nil), fs.Binds...)
	if err := bindFDs(&fs, mounts); err != nil {
		return "", err
	}
	if c.UserNS {
		if err := pivotUserNS(&fs, mounts); err != nil {
			return "", err
		}
	} else {
		if err := rootfs.PrepareRoot(c.Rootfs); err != nil {
			return "", err
		}
		if err := rootfs.PivotRoot(c.Rootfs); err != nil {
			return "", fmt.Errorf("%w: %w", err, vzerror.ErrMount)
		}
	}
	steps, err := rootfs.Plan(fs)
	if err != nil {
		return "", err
	}
	if err := rootfs.Apply(rootfs.HostKernel{}, steps); err != nil {
		return "", err
	}
	if c.Hostname != "" {
		if err := unix.Sethostname([]byte(c.Hostname)); err != nil {
			return "", fmt.Errorf("sethostname %q: %w: %w", c.Hostname, err, vzerror.ErrBadHostname)
		}
	}
	return findInit(c.Init[0])
}

// pivotUserNS pivots into the idmapped root the parent made, without
// looking up a single host path (the container's root may not), after
// making the container's procfs and sysfs while the host's are still in
// view (mount_too_revealing in fs/namespace.c refuses them afterwards).
// The host's device nodes in mounts are bound instead of made: mknod(2)
// needs CAP_MKNOD in the initial user namespace.
func pivotUserNS(fs *rootfs.Config, mounts map[string]int) error {
	root, ok := mounts[mountRoot]
	if !ok {
		return fmt.Errorf("no root mount from the supervisor: %w", vzerror.ErrMount)
	}
	fs.Detached = map[string]int{}
	for name, fd := range mounts {
		if strings.HasPrefix(name, "/dev/") {
			fs.Detached[name] = fd
		}
	}
	proc, err := rootfs.NewKernelFS("proc", false)
	if err != nil {
		return fmt.Errorf("%w: %w", err, vzerror.ErrMount)
	}
	fs.Detached["/proc"] = proc
	sys, err := rootfs.NewKernelFS("sysfs", !fs.WritableSys)
	if err != nil {
		unix.Close(proc)
		return fmt.Errorf("%w: %w", err, vzerror.ErrMount)
	}
	fs.Detached["/sys"] = sys
	if err := rootfs.PivotRootFD(root); err != nil {
		return fmt.Errorf("%w: %w", err, vzerror.ErrMount)
	}
	return nil
}

// findInit resolves the guest's init inside the (already pivoted) root and
// checks that it can be executed; a missing or broken init is a broken
// template (vzctl exit 47).
func findInit(p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("init %q is not an absolute path: %w", p, vzerror.ErrInvalidValue)
	}
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("init %s: %w: %w", p, err, vzerror.ErrBadTemplate)
	}
	var st unix.Stat_t
	if err := unix.Stat(resolved, &st); err != nil {
		return "", fmt.Errorf("init %s: %w: %w", p, err, vzerror.ErrBadTemplate)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o111 == 0 {
		return "", fmt.Errorf("init %s (%s) is not an executable file: %w", p, resolved, vzerror.ErrBadTemplate)
	}
	return resolved, nil
}

func send(sock *os.File, m *message) error {
	b, err := encode(m)
	if err != nil {
		return err
	}
	if _, err := sock.Write(b); err != nil {
		return fmt.Errorf("sending %s: %w", m.Type, err)
	}
	return nil
}
