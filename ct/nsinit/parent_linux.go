package nsinit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/revert"
	"govz/ct/vzerror"
	"govz/internal/exeseal"
)

// Namespaces the child is cloned into. The cgroup namespace comes later,
// from the child itself, once the parent has moved it into its cgroups.
const Namespaces = unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET

// Options are the parent's side of a start.
type Options struct {
	// Console becomes the child's stdin, stdout, stderr and controlling
	// terminal (a pty slave); nil = /dev/null and no /dev/console.
	Console *os.File
	// Stdio, when Console is nil, are the child's stdin, stdout and stderr
	// (pipes or a sealed file; no controlling terminal). nil = /dev/null.
	Stdio []*os.File
	// Place puts the child (host PID) into the container's cgroups. It
	// runs before the child does anything.
	Place func(pid int) error
	// Prestart runs when the container's namespaces and filesystem exist
	// and before its init is exec'd (networking moves interfaces into
	// /proc/PID/ns/net here). Optional.
	Prestart func(pid int) error
	// UIDMappings and GIDMappings, when set, clone the child into a new
	// user namespace that owns all its other namespaces, with these
	// mappings written before it runs (setgroups(2) stays allowed: the
	// guest's root needs it). Config.UserNS must be set with them.
	UIDMappings, GIDMappings []syscall.SysProcIDMap
}

// Process is a started container init.
type Process struct {
	*os.Process
	Kind  string   // KindSystemd, KindBusybox or KindOther
	Hooks []string // readiness hooks planted in the guest
}

// Start creates the container described by c and returns once its init has
// been exec'd, or with the error that stopped it (a child's error keeps its
// vzerror sentinel). On error nothing is left: the child is killed and
// reaped. ctx bounds the whole setup.
func Start(ctx context.Context, c *Config, o Options) (*Process, error) {
	r := revert.New()
	defer r.Fail()

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	// The parent's end is non-blocking so that the Go poller serves it and
	// read deadlines work.
	if err := unix.SetNonblock(pair[0], true); err != nil {
		unix.Close(pair[0])
		unix.Close(pair[1])
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	sock := os.NewFile(uintptr(pair[0]), "nsinit-sync")
	childEnd := os.NewFile(uintptr(pair[1]), "nsinit-sync-child")
	defer sock.Close()

	stdio := []*os.File{o.Console, o.Console, o.Console}
	if o.Console == nil && len(o.Stdio) == 3 {
		stdio = o.Stdio
	} else if o.Console == nil {
		devNull, err := os.Open(os.DevNull)
		if err != nil {
			childEnd.Close()
			return nil, err
		}
		defer devNull.Close()
		stdio = []*os.File{devNull, devNull, devNull}
	}
	// The child runs this executable inside the container's namespaces
	// until it execs the guest's init, and the lock helper inside its user
	// and mount namespaces: a guest process that reached /proc/PID/exe of
	// either would get the file itself. So both run a sealed copy, made
	// once per boot; the last process executing it frees it.
	exe, err := exeseal.Self()
	if err != nil {
		childEnd.Close()
		return nil, fmt.Errorf("container init: %w", err)
	}
	defer exe.Close()
	if c.UserNS != (len(o.UIDMappings) > 0) || len(o.UIDMappings) > 0 != (len(o.GIDMappings) > 0) {
		childEnd.Close()
		return nil, fmt.Errorf("user namespace: config and mappings disagree: %w", vzerror.ErrInvalidValue)
	}
	var owner uint32
	if c.LockMounts {
		if owner, err = lockOwner(o.UIDMappings); err != nil {
			childEnd.Close()
			return nil, err
		}
	}
	attr := &os.ProcAttr{
		Dir:   "/",
		Env:   []string{"GOMAXPROCS=1", "GOGC=off"},
		Files: []*os.File{stdio[0], stdio[1], stdio[2], childEnd, exe},
		Sys: &syscall.SysProcAttr{
			Cloneflags: Namespaces,
			Setsid:     true,
			Setctty:    o.Console != nil,
			Ctty:       0,
		},
	}
	if c.UserNS {
		attr.Sys.Cloneflags |= unix.CLONE_NEWUSER
		attr.Sys.UidMappings = o.UIDMappings
		attr.Sys.GidMappings = o.GIDMappings
		attr.Sys.GidMappingsEnableSetgroups = true
		// The clone keeps host root's IDs, which the new namespace does not
		// map; execve gives capabilities only to its root (capabilities(7)),
		// so become uid/gid 0 inside, without supplementary groups, first.
		attr.Sys.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	proc, err := os.StartProcess(exeseal.Path(exeFD), []string{"govz-init", Verb}, attr)
	childEnd.Close()
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", Verb, err)
	}
	r.Add(func() {
		proc.Kill()
		proc.Wait()
	})

	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(2 * time.Minute)
	}
	sock.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { sock.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if o.Place != nil {
		if err := o.Place(proc.Pid); err != nil {
			return nil, err
		}
	}
	if c.UserNS {
		if err := raiseNofile(proc.Pid); err != nil {
			return nil, err
		}
	}
	// The user namespace exists now, with its mappings: the idmapped
	// root can be made.
	cc := *c
	fds, err := hostMounts(&cc, o.Console, proc.Pid)
	if err != nil {
		return nil, err
	}
	err = sendWithFDs(sock, &message{Type: msgConfig, Config: &cc}, fds)
	closeAll(fds)
	if err != nil {
		return nil, err
	}
	// One small heap buffer for the child's messages (prestart, exec,
	// error): a large one would live on, and grow, the caller's stack.
	buf := make([]byte, 16<<10)
	m, err := expect(sock, buf, msgPrestart)
	if err != nil {
		return nil, err
	}
	p := &Process{Process: proc, Kind: m.Kind, Hooks: m.Hooks}
	if o.Prestart != nil {
		if err := o.Prestart(proc.Pid); err != nil {
			return nil, fmt.Errorf("prestart hook: %w", err)
		}
	}
	// The child's mount namespace is complete: lock it (lock_linux.go).
	var runFDs []int
	if c.LockMounts {
		fd, err := lockMounts(exe, proc.Pid, owner, deadline)
		if err != nil {
			return nil, err
		}
		runFDs = append(runFDs, fd)
	}
	err = sendWithFDs(sock, &message{Type: msgRun}, runFDs)
	closeAll(runFDs)
	if err != nil {
		return nil, err
	}
	if _, err := expect(sock, buf, msgExec); err != nil {
		return nil, err
	}
	// Either EOF (execve closed the child's end) or an error message.
	if _, err := expect(sock, buf, ""); err != nil {
		return nil, err
	}
	r.Success()
	return p, nil
}

// expect reads the next message and wants type want; want "" means EOF.
// An error message from the child becomes its RemoteError.
func expect(sock *os.File, buf []byte, want string) (*message, error) {
	n, err := sock.Read(buf)
	if errors.Is(err, io.EOF) || (err == nil && n == 0) {
		if want == "" {
			return nil, nil
		}
		return nil, fmt.Errorf("container init exited while setting up (waiting for %s): %w", want, vzerror.ErrSystem)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, fmt.Errorf("timed out waiting for container init (%s): %w", want, vzerror.ErrSystem)
	}
	if err != nil {
		return nil, fmt.Errorf("reading from container init: %w", err)
	}
	m, err := decode(buf[:n])
	if err != nil {
		return nil, err
	}
	if m.Type == msgError && m.Error != nil {
		return nil, m.Error
	}
	if m.Type != want {
		return nil, fmt.Errorf("container init sent %q, expected %q: %w", m.Type, want, vzerror.ErrSystem)
	}
	return m, nil
}

// guestNofileMax is the open files hard limit a guest in a user namespace
// starts with: systemd's own default for services (HIGH_RLIMIT_NOFILE,
// 512K), which dbus-daemon and others raise their soft limit towards.
const guestNofileMax = 512 << 10

// raiseNofile raises the child's RLIMIT_NOFILE hard limit to
// guestNofileMax (never lowers it; the soft limit stays): in its own user
// namespace the guest's root cannot raise a hard limit itself
// (CAP_SYS_RESOURCE counts only in the initial namespace there), which
// systemd in a privileged container does at boot. Best effort.
func raiseNofile(pid int) error {
	var cur unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &cur); err != nil {
		return fmt.Errorf("reading the container init's open files limit: %w", err)
	}
	if cur.Max >= guestNofileMax {
		return nil
	}
	want := unix.Rlimit{Cur: cur.Cur, Max: guestNofileMax}
	err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &want, nil)
	if errors.Is(err, unix.EPERM) {
		// The supervisor itself lacks CAP_SYS_RESOURCE (a confined host
		// root): then a privileged guest could not raise it either.
		return nil
	}
	if err != nil {
		return fmt.Errorf("raising the container init's open files limit: %w", err)
	}
	return nil
}
