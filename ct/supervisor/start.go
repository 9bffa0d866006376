package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/nsinit"
	"govz/ct/runstate"
	"govz/ct/vzerror"
	"govz/internal/inroot"
	"govz/internal/reexec"
)

// Verb is the hidden first argument that makes the executable run Main.
const Verb = reexec.Supervisor

// StartOptions tune Start.
type StartOptions struct {
	// Wait returns only when the guest reports that it finished booting
	// (systemd's READY=1 on the notify socket, or the readiness hook of a
	// busybox/OpenRC guest); for a guest that has neither, when its init
	// runs. vzctl start --wait.
	Wait bool
	// Exe is the executable to re-exec as the supervisor; "" means
	// /proc/self/exe. Its main must dispatch Verb to Main and nsinit.Verb
	// to nsinit.Main.
	Exe string
	// Restore, when set, is a dump directory: the first boot restores the
	// container from it (Hooks.Restore) instead of booting its init.
	Restore string
}

// Files in the run directory.
const (
	controlName = "control"
	notifyName  = "notify"
	readyName   = "ready"
	lockName    = runstate.SupervisorLockName
	logName     = "supervisor.log"
)

// LogPath is where the supervisor of the container with run directory
// runDir writes its log (its standard error): what it did at each boot,
// stop and crash, stamped with vzlog.TimeFormat. vzctl status -v names it.
func LogPath(runDir string) string { return filepath.Join(runDir, logName) }

// report is one line the supervisor writes to Start over the report pipe.
type report struct {
	Event string              `json:"event"` // "running", "ready", "error"
	PID   int                 `json:"pid,omitempty"`
	Error *nsinit.RemoteError `json:"error,omitempty"`
}

// Start boots the container loader describes: it spawns the container's
// supervisor (a re-exec of this executable, detached in its own session)
// and returns when the guest's init runs, or with opts.Wait when the guest
// is ready. Errors keep their vzerror sentinel: a missing or broken init is
// vzerror.ErrBadTemplate, a running container vzerror.ErrRunning. After an
// error nothing of the container is left running. ctx bounds the wait; if
// it ends before init runs, the boot is aborted; if it ends while waiting
// for readiness, the container keeps running and the error wraps
// vzerror.ErrWaitFailed.
func Start(ctx context.Context, loader SpecLoader, opts StartOptions) error {
	s, err := loader()
	if err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return err
	}
	if running, _, _ := Status(s.RunDir); running {
		return fmt.Errorf("container %s: %w", s.ID, vzerror.ErrRunning)
	}
	if err := checkInit(s.Rootfs, s.Init[0]); err != nil {
		return fmt.Errorf("container %s: %w", s.ID, err)
	}
	if err := os.MkdirAll(s.RunDir, 0o700); err != nil {
		return fmt.Errorf("creating run directory %s: %w: %w", s.RunDir, err, vzerror.ErrSystem)
	}
	// The supervisor boots what this wrote, not what it would load.
	if err := WriteSpec(s.RunDir, s); err != nil {
		return err
	}
	logf, err := os.OpenFile(LogPath(s.RunDir), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("opening supervisor log: %w: %w", err, vzerror.ErrSystem)
	}
	defer logf.Close()
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devNull.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pr.Close()

	// The supervisor runs the file itself, not a sealed copy
	// (internal/exeseal): it stays in the host's namespaces, where no
	// guest process can see it, and a copy would cost the binary's size
	// in memory for every running container. What it starts inside a
	// container (nsinit.Start) runs a copy.
	exe := opts.Exe
	if exe == "" {
		exe = "/proc/self/exe"
	}
	args := []string{"govz-supervisor " + s.ID, Verb}
	if opts.Wait {
		args = append(args, "--wait")
	}
	if opts.Restore != "" {
		args = append(args, "--restore", opts.Restore)
	}
	args = append(args, s.ID, s.RunDir)
	proc, err := os.StartProcess(exe, args, &os.ProcAttr{
		Dir: "/",
		// GOMAXPROCS=1: one P means one mcache and as few threads as
		// possible; the supervisor is idle nearly all the time.
		Env:   append(os.Environ(), "GOMAXPROCS=1"),
		Files: []*os.File{devNull, logf, logf, pw},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	pw.Close()
	if err != nil {
		return fmt.Errorf("starting supervisor for %s: %w: %w", s.ID, err, vzerror.ErrSystem)
	}
	// Reap it whenever it exits; vzctl itself exits long before.
	exited := make(chan struct{})
	go func() {
		proc.Wait()
		close(exited)
	}()

	stop := context.AfterFunc(ctx, func() { pr.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	br := bufio.NewReader(pr)
	running := false
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded) && running:
				return fmt.Errorf("container %s: %w: %w", s.ID, ctx.Err(), vzerror.ErrWaitFailed)
			case errors.Is(err, os.ErrDeadlineExceeded):
				abort(s.RunDir, exited)
				return fmt.Errorf("container %s: start interrupted: %w: %w", s.ID, ctx.Err(), vzerror.ErrSystem)
			case running:
				// The supervisor closed the pipe after "running" without
				// "ready": the container stopped during boot.
				return fmt.Errorf("container %s stopped while booting (see %s): %w", s.ID, LogPath(s.RunDir), vzerror.ErrWaitFailed)
			}
			<-exited
			return fmt.Errorf("container %s: supervisor exited during start (see %s): %w", s.ID, LogPath(s.RunDir), vzerror.ErrSystem)
		}
		var r report
		if err := json.Unmarshal(line, &r); err != nil {
			return fmt.Errorf("container %s: bad report from supervisor %q: %w", s.ID, line, vzerror.ErrSystem)
		}
		switch r.Event {
		case "error":
			<-exited // it cleans up before exiting
			if r.Error == nil {
				return fmt.Errorf("container %s: start failed: %w", s.ID, vzerror.ErrSystem)
			}
			return fmt.Errorf("container %s: %w", s.ID, r.Error)
		case "running":
			running = true
			if !opts.Wait {
				return nil
			}
		case "ready":
			return nil
		}
	}
}

// abort stops a container whose start was given up, as soon as its
// supervisor listens, and waits until the supervisor has exited, so that
// nothing is left. It asks over the control socket rather than with a
// signal, which could arrive while the supervisor re-execs itself.
func abort(runDir string, exited <-chan struct{}) {
	for {
		conn, _, err := call(runDir, &request{Op: "stop", Fast: true}, time.Minute)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-exited:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	<-exited
}

// checkInit looks for the guest's init inside root the way the kernel will
// find it, but without leaving root: openat2(RESOLVE_IN_ROOT) resolves the
// guest's symlinks (/sbin/init -> ../lib/systemd/systemd) inside it.
func checkInit(root, init string) error {
	r, err := inroot.Open(root)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return fmt.Errorf("root %s: %w: %w", root, err, vzerror.ErrNotMounted)
		}
		return err
	}
	defer r.Close()
	st, err := r.Stat(init)
	if err != nil {
		return fmt.Errorf("init %s in %s: %w: %w", init, root, err, vzerror.ErrBadTemplate)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o111 == 0 {
		return fmt.Errorf("init %s in %s is not an executable file: %w", init, root, vzerror.ErrBadTemplate)
	}
	return nil
}
