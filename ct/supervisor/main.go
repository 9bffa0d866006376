package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/nsinit"
	"govz/ct/vzerror"
	"govz/ct/vzlog"
)

// reportFD is the supervisor's end of the pipe Start reads.
const reportFD = 3

// Main is the supervisor process, one per running container. args are the
// arguments after Verb: "[--wait] ID"; loaderFor returns the loader that
// builds ID's current Spec (it is called once; the loader on every boot).
// It returns the process exit status. main dispatches Verb here through
// internal/reexec (cmd/vzctl's reexecHandlers).
func Main(args []string, loaderFor func(id string) SpecLoader) int {
	return MainWith(args, loaderFor, nil)
}

// MainWith is Main with the executors of the Spec's hook steps. args are
// "[--wait] ID [RUNDIR]": with RUNDIR (what Start passes) the first boot
// runs the Spec Start wrote there; without, the one loaderFor builds.
func MainWith(args []string, loaderFor func(id string) SpecLoader, ex Executors) int {
	if len(args) > 0 && args[0] == modeMonitor {
		return monitorMain(loaderFor, ex)
	}
	// Before anything opens files of its own: drop descriptors vzctl's
	// caller leaked to it (a shell's, a CI harness's), which would
	// otherwise be held for the container's whole life.
	closeInherited(reportFD)
	// No collection while the container boots: what the boot allocates is
	// gone with the re-exec into the idle loop right after it (reexec),
	// and a collection on the way would only delay the guest's init. A
	// supervisor that stays in Go sets its small heap target then (run).
	debug.SetGCPercent(-1)
	unix.CloseOnExec(reportFD)
	rep := os.NewFile(reportFD, "report")

	wait := false
	if len(args) > 0 && args[0] == "--wait" {
		wait, args = true, args[1:]
	}
	restore := ""
	if len(args) > 1 && args[0] == "--restore" {
		restore, args = args[1], args[2:]
	}
	if len(args) != 1 && len(args) != 2 {
		fmt.Fprintf(os.Stderr, "usage: %s [--wait] [--restore DIR] ID [RUNDIR]\n", Verb)
		return 2
	}
	s := &sup{id: args[0], report: rep, wait: wait, pid: os.Getpid(), executors: ex, restore: restore,
		ctl: make(chan ctlRequest), ready: make(chan struct{}, 1)}
	if len(args) == 2 {
		s.specDir = args[1]
	}
	s.catchSignals()
	s.loader = loaderFor(s.id)
	if err := s.run(); err != nil {
		s.logf("error: %v", err)
		return 1
	}
	return 0
}

// closeInherited closes every inherited descriptor above keep. Inherited
// ones are those without FD_CLOEXEC (they survived the exec); the Go
// runtime's own (its epoll instance, which a package's init can create
// before main by opening a file: protobuf's detrand reads the executable)
// are close-on-exec and must stay.
func closeInherited(keep int) {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		unix.CloseRange(uint(keep+1), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
		return
	}
	for _, e := range es {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= keep {
			continue
		}
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && fl&unix.FD_CLOEXEC == 0 {
			unix.Close(fd)
		}
	}
}

// sup is the supervisor's state. Only the main loop (run and what it calls)
// touches it; other goroutines talk to it through channels.
type sup struct {
	id     string
	pid    int
	loader SpecLoader
	// specDir holds the first boot's Spec (Start wrote it); "" = load it.
	specDir   string
	executors Executors
	wait      bool
	report    *os.File // nil once Start has what it waited for
	// restore is the dump directory the first boot restores from ("" once
	// it is done: a reboot from inside boots the guest afresh).
	restore string

	runDir  string
	lock    *os.File
	console *console
	control *net.UnixListener
	notify  *net.UnixConn
	fifo    *os.File
	ctl     chan ctlRequest
	ready   chan struct{}
	sigs    chan os.Signal
	// closed when the notify and fifo readers have returned
	notifyDone, fifoDone chan struct{}

	hooks           Hooks // of the latest boot
	poststopPending bool  // a Prestart succeeded and Poststop(false) is still owed
	stopping        bool
	noIdle          bool // stay in Go (the C idle loop failed)
	stopWaiters     []net.Conn
	teardownErr     error // cleanup failures, for the stop requests' answer
}

// catchSignals makes SIGTERM and SIGINT a graceful stop, from the start:
// one that arrives while the container boots waits in the channel.
func (s *sup) catchSignals() {
	s.sigs = make(chan os.Signal, 1)
	signal.Notify(s.sigs, unix.SIGTERM, unix.SIGINT)
	signal.Ignore(unix.SIGHUP, unix.SIGPIPE)
}

func (s *sup) logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s %s: %s\n", vzlog.Stamp(time.Now()), s.id, fmt.Sprintf(format, a...))
}

// send writes one report line to Start and closes the pipe after the last
// one Start waits for.
func (s *sup) send(r *report) {
	if s.report == nil {
		return
	}
	b, _ := json.Marshal(r)
	s.report.Write(append(b, '\n'))
	if r.Event == "error" || r.Event == "ready" || (r.Event == "running" && !s.wait) {
		s.report.Close()
		s.report = nil
	}
}

// run is the supervisor's life; every way out goes through finish.
func (s *sup) run() (err error) {
	var spec *Spec
	if s.specDir != "" {
		spec, err = ReadSpec(s.specDir)
	} else {
		spec, err = s.newSpec()
	}
	if err == nil {
		err = spec.Validate()
	}
	if err == nil {
		err = spec.bind(s.executors)
	}
	if err == nil && spec.ID != s.id {
		err = fmt.Errorf("loader for %s returned container %s: %w", s.id, spec.ID, vzerror.ErrInvalidConfig)
	}
	if err != nil {
		s.finish(err)
		return err
	}
	s.runDir = spec.RunDir
	defer s.teardownSupervisor()
	if err := s.setup(spec); err != nil {
		s.finish(err)
		return err
	}

	b, err := s.boot(spec)
	if err != nil {
		s.finish(err)
		return err
	}
	s.bootReported(b)
	s.reexec(b)
	// Still in Go (no re-exec): a small heap target from here on; the
	// supervisor allocates little and lives long (its memory counts once
	// per container).
	debug.SetGCPercent(20)
	return s.loop(b)
}

// newSpec builds the Spec of a new boot from the configuration (a reboot
// from inside picks up what changed), binds its steps and records it in
// the run directory, where a re-exec'd supervisor finds it.
func (s *sup) newSpec() (*Spec, error) {
	spec, err := s.loader()
	if err == nil {
		err = spec.Validate()
	}
	if err == nil {
		err = spec.bind(s.executors)
	}
	if err == nil && (len(spec.Prestart) > 0 || len(spec.Poststop) > 0) {
		err = WriteSpec(spec.RunDir, spec)
	}
	return spec, err
}

// currentSpec is the running boot's Spec, read back after a re-exec.
func (s *sup) currentSpec() (*Spec, error) {
	spec, err := ReadSpec(s.runDir)
	if err != nil || len(spec.Prestart) == 0 && len(spec.Poststop) == 0 {
		// A spec without steps had its hooks set by the loader.
		spec, err = s.loader()
	}
	if err == nil {
		err = spec.bind(s.executors)
	}
	if err != nil {
		return nil, fmt.Errorf("reloading the spec for its hooks: %w", err)
	}
	return spec, nil
}

// loop supervises boot b until the container ends for good, booting it
// again when the guest reboots. After every boot it re-execs itself into
// a fresh, small process (see handoff.go).
func (s *sup) loop(b *bootState) error {
	var stopTimer <-chan time.Time
	// What keeps the supervisor in Go ends without an event of its own
	// (a console client leaving): look again now and then.
	var idleCheck <-chan time.Time
	if s.canIdle() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		idleCheck = t.C
	}
	for {
		select {
		case <-b.exited:
			ws := reap(b.proc.Pid)
			reboot := ws.Signaled() && ws.Signal() == unix.SIGHUP && !s.stopping
			s.logf("init %d %s", b.proc.Pid, describeExit(ws))
			s.teardownBoot(b, reboot)
			// Reaped already (reap); this only drops Go's pidfd.
			b.proc.Release()
			if !reboot {
				s.finish(nil)
				return nil
			}
			spec, err := s.newSpec()
			if err == nil {
				b, err = s.boot(spec)
			}
			if err != nil {
				s.logf("reboot failed: %v", err)
				s.finish(err)
				return nil
			}
			s.bootReported(b)
			s.reexec(b)
		case r := <-s.ctl:
			if t := s.handle(r, b); t != nil {
				stopTimer = t
			}
			s.idle(b)
		case <-s.ready:
			if !b.ready {
				b.ready = true
				s.logf("guest is ready")
				s.send(&report{Event: "ready"})
			}
			s.idle(b)
		case <-idleCheck:
			s.idle(b)
		case sig := <-s.sigs:
			s.logf("got %v: stopping", sig)
			// For Poststop: the node (systemd stopping a scope, at
			// shutdown) or a host process stopped the container, not its
			// guest nor vzctl stop.
			os.WriteFile(filepath.Join(s.runDir, SignalStopName), nil, 0o600)
			if t := s.beginStop(b, b.stopTimeout, false); t != nil {
				stopTimer = t
			}
		case <-stopTimer:
			stopTimer = nil
			s.logf("init %d did not stop within the timeout: killing the container", b.proc.Pid)
			s.kill(b)
		}
	}
}

// idle hands the waiting to the C idle loop (idle.c) when nothing needs
// Go: no start waiting for a report, no stop under way, no console client.
func (s *sup) idle(b *bootState) {
	if !s.canIdle() || s.report != nil || s.stopping || len(s.stopWaiters) > 0 {
		return
	}
	s.console.mu.Lock()
	attached := s.console.client != nil
	s.console.mu.Unlock()
	if !attached {
		s.reexec(b)
	}
}

// bootReported tells Start the boot worked (and, for a guest that has no
// way to say it is ready, that it is ready).
func (s *sup) bootReported(b *bootState) {
	s.logf("init %d running (%s guest, boot %s)", b.proc.Pid, b.proc.Kind, b.state.BootID)
	s.send(&report{Event: "running", PID: b.proc.Pid})
	if b.proc.Kind != nsinit.KindSystemd && len(b.proc.Hooks) == 0 {
		b.ready = true
		s.send(&report{Event: "ready"})
	}
}

// handle answers one control request; it returns a stop timer when a
// graceful stop began.
func (s *sup) handle(r ctlRequest, b *bootState) <-chan time.Time {
	switch r.req.Op {
	case "status":
		reply(r.conn, &response{OK: true, SupervisorPID: s.pid, State: b.state, Kind: b.proc.Kind, Ready: b.ready})
		r.conn.Close()
	case "stop":
		s.stopWaiters = append(s.stopWaiters, r.conn)
		timeout := r.req.Timeout
		if timeout <= 0 {
			timeout = b.stopTimeout
		}
		return s.beginStop(b, timeout, r.req.Fast)
	case "console":
		if r.req.TTY != 0 && r.req.TTY != 1 {
			reply(r.conn, &response{Error: nsinit.NewRemoteError(fmt.Errorf("tty %d: only the console is supported: %w", r.req.TTY, vzerror.ErrInvalidValue))})
			r.conn.Close()
			return nil
		}
		if reply(r.conn, &response{OK: true}) != nil {
			r.conn.Close()
			return nil
		}
		s.console.attach(r.conn, true)
	default:
		reply(r.conn, &response{Error: nsinit.NewRemoteError(fmt.Errorf("unknown request %q: %w", r.req.Op, vzerror.ErrInvalidValue))})
		r.conn.Close()
	}
	return nil
}

// beginStop asks init to halt, or kills the container at once with fast;
// it returns the timer after which a graceful stop turns into a kill.
func (s *sup) beginStop(b *bootState, timeout time.Duration, fast bool) <-chan time.Time {
	already := s.stopping
	s.stopping = true
	if fast {
		s.logf("fast stop: killing the container")
		s.kill(b)
		return nil
	}
	if already {
		return nil
	}
	how, err := requestHalt(b.proc.Pid)
	if err != nil {
		s.logf("asking init %d to halt (%s) failed: %v; killing the container", b.proc.Pid, how, err)
		s.kill(b)
		return nil
	}
	s.logf("asked init %d to halt (%s); timeout %v", b.proc.Pid, how, timeout)
	return time.After(timeout)
}

// kill kills every process of the container; init's exit then ends the
// main loop's wait.
func (s *sup) kill(b *bootState) {
	ctx, cancel := contextTimeout(30 * time.Second)
	defer cancel()
	cg, err := s.group(b)
	if err == nil {
		err = cg.Kill(ctx)
	}
	if err != nil {
		s.logf("killing the container's cgroup: %v", err)
		// init at least: its death takes the whole PID namespace along.
		b.proc.Signal(unix.SIGKILL)
	}
}

// finish answers the stop requests and, when the container ends for good
// after a Prestart, owes the lead its Poststop(false).
func (s *sup) finish(err error) {
	if s.poststopPending {
		h := s.hooks
		if h.Poststop == nil {
			// After a re-exec the hooks are bound again from the spec
			// this boot ran.
			if spec, err := s.currentSpec(); err == nil {
				h = spec.Hooks
			} else {
				s.logf("%v", err)
			}
		}
		if h.Poststop != nil {
			h.Poststop(false)
		}
	}
	s.poststopPending = false
	if err != nil {
		s.send(&report{Event: "error", Error: nsinit.NewRemoteError(err)})
	}
	resp := &response{OK: s.teardownErr == nil, SupervisorPID: s.pid}
	if s.teardownErr != nil {
		resp.Error = nsinit.NewRemoteError(s.teardownErr)
	}
	for _, c := range s.stopWaiters {
		reply(c, resp)
		c.Close()
	}
	s.stopWaiters = nil
}

func describeExit(ws syscall.WaitStatus) string {
	switch {
	case ws.Signaled() && ws.Signal() == unix.SIGHUP:
		return "killed by SIGHUP: the guest rebooted"
	case ws.Signaled() && ws.Signal() == unix.SIGINT:
		return "killed by SIGINT: the guest halted or powered off"
	case ws.Signaled():
		return "killed by " + unix.SignalName(ws.Signal())
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	}
	return fmt.Sprintf("ended (wait status %#x)", uint32(ws))
}

// setup takes the run directory's lock and makes the supervisor's objects:
// console pty, notify socket, readiness fifo, control socket.
func (s *sup) setup(spec *Spec) error {
	lock, err := os.OpenFile(filepath.Join(s.runDir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening supervisor lock: %w: %w", err, vzerror.ErrSystem)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		return fmt.Errorf("another supervisor runs container %s: %w", s.id, vzerror.ErrRunning)
	}
	s.lock = lock
	// We hold the lock: whatever sockets are here are a dead supervisor's.
	for _, n := range []string{controlName, notifyName, readyName} {
		os.Remove(filepath.Join(s.runDir, n))
	}
	if s.console, err = openConsole(spec.ConsoleLog); err != nil {
		return fmt.Errorf("%w: %w", err, vzerror.ErrSystem)
	}
	notifyPath := filepath.Join(s.runDir, notifyName)
	s.notify, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify socket: %w: %w", err, vzerror.ErrSystem)
	}
	s.notifyDone = make(chan struct{})
	go readNotify(s.notify, s.ready, s.notifyDone)
	fifoPath := filepath.Join(s.runDir, readyName)
	if err := unix.Mkfifo(fifoPath, 0o600); err != nil {
		return fmt.Errorf("readiness fifo: %w: %w", err, vzerror.ErrSystem)
	}
	// O_RDWR: we are a writer too, so the fifo never reads EOF between
	// guest writers, and opening it does not wait for one.
	fd, err := unix.Open(fifoPath, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("readiness fifo: %w: %w", err, vzerror.ErrSystem)
	}
	s.fifo = os.NewFile(uintptr(fd), fifoPath)
	s.fifoDone = make(chan struct{})
	go readReady(s.fifo, s.ready, s.fifoDone)
	if s.control, err = listenControl(filepath.Join(s.runDir, controlName)); err != nil {
		return fmt.Errorf("%w: %w", err, vzerror.ErrSystem)
	}
	go serveControl(s.control, s.ctl)
	return nil
}

// teardownSupervisor closes and removes what setup made (the log stays).
func (s *sup) teardownSupervisor() {
	if s.control != nil {
		s.control.Close() // removes the socket file
	}
	if s.notify != nil {
		s.notify.Close()
		os.Remove(filepath.Join(s.runDir, notifyName))
	}
	if s.fifo != nil {
		s.fifo.Close()
		os.Remove(filepath.Join(s.runDir, readyName))
	}
	if s.console != nil {
		s.console.close()
	}
	if s.lock != nil {
		os.Remove(s.lock.Name())
		s.lock.Close()
	}
}

// readNotify reads sd_notify datagrams ("READY=1\nSTATUS=...") until the
// socket is closed or its read deadline passes (before a re-exec).
func readNotify(c *net.UnixConn, ready chan<- struct{}, done chan<- struct{}) {
	defer close(done)
	buf := make([]byte, 4096)
	for {
		n, _, err := c.ReadFromUnix(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			continue
		}
		for _, l := range strings.Split(string(buf[:n]), "\n") {
			if l == "READY=1" {
				signalReady(ready)
			}
		}
	}
}

// readReady reads lines from the readiness fifo; any line with READY=1
// (what the planted hook writes) counts.
func readReady(f *os.File, ready chan<- struct{}, done chan<- struct{}) {
	defer close(done)
	buf := make([]byte, 512)
	for {
		n, err := f.Read(buf)
		if n > 0 && strings.Contains(string(buf[:n]), "READY=1") {
			signalReady(ready)
		}
		if err != nil {
			if errors.Is(err, os.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func signalReady(ready chan<- struct{}) {
	select {
	case ready <- struct{}{}:
	default:
	}
}
