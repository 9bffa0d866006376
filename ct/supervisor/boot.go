package supervisor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/caps"
	"govz/ct/cgroup"
	"govz/ct/nsinit"
	"govz/ct/revert"
	"govz/ct/rootfs"
	"govz/ct/runstate"
	"govz/ct/vzerror"
)

// bootState is one boot of the container: from cgroup creation to init's
// death. A reboot from inside makes a new one.
type bootState struct {
	spec        *Spec         // nil after a re-exec: s.currentSpec
	stopTimeout time.Duration // spec.StopTimeout
	cg          *cgroup.Group // nil after a re-exec: reopen with s.group
	proc        *nsinit.Process
	state       *runstate.State
	prestarted  bool // Hooks.Prestart succeeded: Poststop is owed
	ready       bool
	exited      chan struct{} // init has exited; the main loop reaps it
}

func contextTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// boot creates the container's cgroups and namespaces, execs its init and
// records it in runstate. On error everything it made is gone again.
func (s *sup) boot(spec *Spec) (*bootState, error) {
	s.hooks = spec.Hooks
	b := &bootState{spec: spec, stopTimeout: spec.StopTimeout, exited: make(chan struct{}, 1)}
	// Between placing init in its cgroup and writing the run record the
	// container has processes but cannot be joined yet; the marker tells
	// Booting so, and a status that says running means exec works.
	marker := filepath.Join(s.runDir, bootingName)
	os.WriteFile(marker, nil, 0o600)
	err := s.bootSteps(b)
	os.Remove(marker)
	if err != nil {
		if b.prestarted {
			s.poststopPending = true
		}
		return nil, err
	}
	if b.prestarted {
		// This boot's own teardown will call Poststop.
		s.poststopPending = false
	}
	go func() { waitExited(b.proc.Pid); b.exited <- struct{}{} }()
	return b, nil
}

// waitExited returns once init has exited, without reaping it: it waits
// on a pidfd through the Go poller (a blocking waitid(2) would pin an OS
// thread for the container's whole life) and checks with WNOWAIT. The main
// loop reaps, so the post-boot re-exec, which also runs in the main loop,
// can never happen between a reap and its report and lose the status.
func waitExited(pid int) {
	exited := func(flags int) bool {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT|flags, nil)
		return err == nil && info.Signo == int32(unix.SIGCHLD) || err != nil && err != unix.EINTR
	}
	if fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK); err == nil {
		f := os.NewFile(uintptr(fd), "pidfd")
		defer f.Close()
		if rc, err := f.SyscallConn(); err == nil && rc.Read(func(uintptr) bool { return exited(unix.WNOHANG) }) == nil {
			return
		}
	}
	for !exited(0) {
	}
}

// reap collects init's wait status once waitExited has seen it exit.
func reap(pid int) syscall.WaitStatus {
	var ws syscall.WaitStatus
	for {
		_, err := unix.Wait4(pid, (*unix.WaitStatus)(&ws), 0, nil)
		if err != unix.EINTR {
			return ws
		}
	}
}

func (s *sup) bootSteps(b *bootState) error {
	spec := b.spec
	r := revert.New()
	defer r.Fail()

	cg, err := cgroup.Open(spec.CgroupParent, spec.ID)
	if err != nil {
		return err
	}
	if cg.Exists() {
		// Left by a supervisor that died; we hold the run directory's lock,
		// so nobody else owns it.
		s.logf("removing stale cgroup %s/%s", spec.CgroupParent, spec.ID)
		ctx, cancel := contextTimeout(30 * time.Second)
		err := cg.Kill(ctx)
		cancel()
		if err == nil {
			err = cg.Destroy()
		}
		if err != nil {
			return fmt.Errorf("removing stale cgroup: %w", err)
		}
	}
	if err := cg.Create(); err != nil {
		return fmt.Errorf("%w (%w)", err, vzerror.ErrResource)
	}
	b.cg = cg
	r.Add(func() {
		ctx, cancel := contextTimeout(30 * time.Second)
		defer cancel()
		if err := cg.Kill(ctx); err != nil {
			s.logf("undo: %v", err)
		}
		if err := cg.Destroy(); err != nil {
			s.logf("undo: %v", err)
		}
	})
	if err := applyDevices(cg, spec.DevNodes, spec.Devices); err != nil {
		return err
	}
	// A container in a user namespace gets its INNER cgroups, its console
	// and the run directory's sockets as its root's; one without gets them
	// back (the configuration may have changed since the last boot).
	rootUID, rootGID := spec.hostRoot()
	if spec.UserNS() && !spec.Identity() {
		if err := cg.Delegate(rootUID, rootGID); err != nil {
			return fmt.Errorf("%w (%w)", err, vzerror.ErrResource)
		}
	}
	if err := s.ownRunObjects(rootUID, rootGID); err != nil {
		return err
	}

	last, err := caps.KernelLast()
	if err != nil {
		return err
	}
	changes, err := caps.ParseChanges(spec.Capabilities)
	if err != nil {
		return err
	}
	keep, err := caps.Bounding(last, changes)
	if err != nil {
		return err
	}
	// A container cannot get what the supervisor does not have.
	if own, err := ownBounding(); err == nil {
		keep &= own
	}
	var mounts []rootfs.Mount
	for _, m := range cg.GuestMounts() {
		mounts = append(mounts, rootfs.Mount{Source: m.Source, Target: m.Target, FSType: m.FSType, Data: m.Data, Flags: m.Flags, Symlink: m.Symlink})
	}
	// A new UTS namespace starts with a copy of the host's name; a
	// container without a configured hostname gets its ID instead (as
	// nspawn names it after the machine) rather than the host's.
	hostname := spec.Hostname
	if hostname == "" {
		hostname = spec.ID
	}
	cfg := &nsinit.Config{
		ID:           spec.ID,
		Rootfs:       spec.Rootfs,
		Hostname:     hostname,
		Init:         spec.Init,
		Env:          initEnv(spec, true),
		Caps:         keep,
		CapLast:      last,
		Seccomp:      !spec.NoSeccomp,
		Console:      true,
		NotifySocket: filepath.Join(s.runDir, notifyName),
		ReadyFifo:    filepath.Join(s.runDir, readyName),
		ReadyHooks:   true,
		FS: rootfs.Config{
			DevNodes:  spec.DevNodes,
			Binds:     spec.Binds,
			ShmSize:   spec.ShmSize,
			RunSize:   spec.RunSize,
			Cgroup:    mounts,
			OSRelease: hostOSRelease(),
			Manager:   managerName,
		},
	}
	if err := s.console.renewSlave(); err != nil {
		return fmt.Errorf("container %s: %w: %w", spec.ID, err, vzerror.ErrSystem)
	}
	consoleUID, consoleGID := -1, -1
	if spec.UserNS() && !spec.Identity() {
		// The guest's tty group, 5 as devpts' gid= has it everywhere.
		consoleUID, consoleGID = rootUID, rootGID+ttyGID
	}
	if err := s.console.own(consoleUID, consoleGID); err != nil {
		return fmt.Errorf("container %s: %w: %w", spec.ID, err, vzerror.ErrSystem)
	}
	cfg.UserNS = spec.UserNS()
	cfg.IDMap = spec.UserNS() && !spec.Identity() && !spec.RootMapped
	// Every container in a user namespace runs in a locked copy of its
	// mount namespace (ct/nsinit/lock_linux.go).
	cfg.LockMounts = spec.UserNS()
	ctx, cancel := contextTimeout(2 * time.Minute)
	defer cancel()
	var proc *nsinit.Process
	if s.restore != "" {
		proc, err = s.restoreInit(spec)
		// The restorer did what the prestart steps do (the network's
		// host side); their poststop steps are owed as after a boot.
		b.prestarted = err == nil
	} else {
		proc, err = nsinit.Start(ctx, cfg, nsinit.Options{
			Console:     s.console.slave,
			Place:       cg.AddProc,
			UIDMappings: sysMappings(spec.UIDMappings),
			GIDMappings: sysMappings(spec.GIDMappings),
			Prestart: func(pid int) error {
				if spec.Hooks.Prestart == nil {
					return nil
				}
				if err := spec.Hooks.Prestart(pid); err != nil {
					return err
				}
				b.prestarted = true
				return nil
			},
		})
	}
	if err != nil {
		return err
	}
	b.proc = proc
	r.Add(func() {
		proc.Kill()
		proc.Wait()
	})

	start, err := runstate.StartTime(proc.Pid)
	if err != nil {
		return fmt.Errorf("init %d: %w: %w", proc.Pid, err, vzerror.ErrSystem)
	}
	id := make([]byte, 16)
	rand.Read(id)
	b.state = &runstate.State{
		ID:            spec.ID,
		SupervisorPID: s.pid,
		InitPID:       proc.Pid,
		InitStartTime: start,
		BootID:        hex.EncodeToString(id),
		CapBounding:   keep.Names(),
		CgroupPaths:   cg.InnerPaths(),
		Seccomp:       !spec.NoSeccomp,
		CgroupParent:  spec.CgroupParent,
		Hostname:      hostname,
		Started:       time.Now().UTC(),
	}
	if err := runstate.Write(s.runDir, b.state); err != nil {
		return fmt.Errorf("writing runstate: %w: %w", err, vzerror.ErrSystem)
	}
	r.Success()
	return nil
}

// restoreInit brings the container's processes back from the dump
// s.restore (Hooks.Restore) in place of nsinit.Start; the next boot (a
// reboot from inside) is an ordinary one.
func (s *sup) restoreInit(spec *Spec) (*nsinit.Process, error) {
	dir := s.restore
	s.restore = ""
	if spec.Hooks.Restore == nil {
		return nil, fmt.Errorf("container %s: restoring is not available: %w", spec.ID, vzerror.ErrRestore)
	}
	var uids, gids []IDMap
	if spec.UserNS() && !spec.Identity() {
		uids, gids = spec.UIDMappings, spec.GIDMappings
	}
	pid, err := spec.Hooks.Restore(dir, s.console.slave, uids, gids)
	if err != nil {
		return nil, err
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return nil, fmt.Errorf("container %s: restored init %d: %w: %w", spec.ID, pid, err, vzerror.ErrRestore)
	}
	s.logf("restored from %s: init %d", dir, pid)
	return &nsinit.Process{Process: p, Kind: nsinit.KindOther}, nil
}

// group returns the boot's cgroup, reopening it after a re-exec.
func (s *sup) group(b *bootState) (*cgroup.Group, error) {
	if b.cg == nil {
		cg, err := cgroup.Open(b.state.CgroupParent, s.id)
		if err != nil {
			return nil, err
		}
		b.cg = cg
	}
	return b.cg, nil
}

// hooksOf returns the boot's hooks, reloading the spec after a re-exec
// (hooks are functions: they do not survive one).
func (s *sup) hooksOf(b *bootState) Hooks {
	if b.spec == nil {
		spec, err := s.currentSpec()
		if err != nil {
			s.logf("%v", err)
			return Hooks{}
		}
		b.spec = spec
	}
	return b.spec.Hooks
}

// teardownBoot removes what is left of a boot whose init has died.
func (s *sup) teardownBoot(b *bootState, reboot bool) {
	ctx, cancel := contextTimeout(30 * time.Second)
	defer cancel()
	var errs []string
	if cg, err := s.group(b); err != nil {
		errs = append(errs, err.Error())
	} else {
		if err := cg.Kill(ctx); err != nil {
			errs = append(errs, err.Error())
		}
		if err := cg.Destroy(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if err := runstate.Remove(s.runDir); err != nil {
		errs = append(errs, err.Error())
	}
	if b.prestarted {
		if h := s.hooksOf(b); h.Poststop != nil {
			h.Poststop(reboot)
		}
	}
	s.poststopPending = b.prestarted && reboot
	if len(errs) > 0 {
		s.teardownErr = fmt.Errorf("cleaning up container %s: %s: %w", s.id, strings.Join(errs, "; "), vzerror.ErrStop)
		s.logf("%v", s.teardownErr)
	}
}

// ownBounding is the supervisor's own capability bounding set.
func ownBounding() (caps.Set, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			return caps.ParseStatusSet(v)
		}
	}
	return 0, fmt.Errorf("no CapBnd in /proc/self/status")
}

// hostOSRelease is the host's os-release, for /run/host/os-release.
func hostOSRelease() []byte {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		if b, err := os.ReadFile(p); err == nil && len(b) < 16<<10 {
			return b
		}
	}
	return nil
}
