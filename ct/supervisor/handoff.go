package supervisor

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/nsinit"
	"govz/ct/runstate"
)

// After every boot the supervisor execve(2)s itself again ("--monitor"),
// keeping its PID, and with it the parenthood of the container's init, its
// open files (the lock, the console pty, the sockets) and what it knows
// about the boot (handed over in an environment variable). The point is
// memory: booting grows a Go process (the runtime keeps a thread for every
// syscall that blocked during the boot, 48 KiB of stacks each, plus one
// heap span per size class the boot's JSON and cgroup code touched), and
// none of it is returned to the kernel. The fresh process only runs the
// supervision loop, at about the Go runtime's floor; measured in
// TestDensity. A reboot from inside boots in the lean process and
// re-execs again.
//
// Open descriptors are moved to 100 and up without close-on-exec; every
// other descriptor of a Go process is close-on-exec and disappears.
const (
	handoffEnv    = "GOVZ_SUPERVISOR_HANDOFF"
	handoffFDBase = 100
	// noReexecEnv, set to anything, keeps the supervisor in one process
	// (debugging, or comparing memory).
	noReexecEnv = "GOVZ_SUPERVISOR_NO_REEXEC"
	// idleEnv carries the C idle loop's descriptors (idle.c); wakeEnv is
	// what woke it back into Go; noIdleEnv, set to anything, keeps the
	// waiting in Go.
	idleEnv   = "GOVZ_SUPERVISOR_IDLE"
	wakeEnv   = "GOVZ_SUPERVISOR_WAKE"
	noIdleEnv = "GOVZ_SUPERVISOR_NO_IDLE"
)

type handoff struct {
	ID              string         `json:"id"`
	RunDir          string         `json:"run_dir"`
	Wait            bool           `json:"wait"`
	InitPID         int            `json:"init_pid"`
	Kind            string         `json:"kind"`
	Hooks           []string       `json:"hooks"`
	Ready           bool           `json:"ready"`
	Prestarted      bool           `json:"prestarted"`
	PoststopPending bool           `json:"poststop_pending"`
	StopTimeout     time.Duration  `json:"stop_timeout"`
	Ring            []byte         `json:"ring"`
	FDs             map[string]int `json:"fds"`
	// State is the boot's run record, so that a record removed behind the
	// supervisor's back (an admin's rm, a cleanup script) is written again
	// instead of leaving the container unsupervised.
	State *runstate.State `json:"state"`
}

// reexec replaces the process with a lean copy of itself that carries on
// supervising b. It returns only if that is not possible now (a stop is
// under way) or failed, and the supervisor then simply goes on as it is.
func (s *sup) reexec(b *bootState) {
	// A pending stop request (signal) would be lost with the process.
	if s.stopping || len(s.stopWaiters) > 0 || len(s.sigs) > 0 || os.Getenv(noReexecEnv) != "" {
		return
	}
	// Stop the readers first so that no datagram, fifo line or console
	// output is half consumed: what they have not read stays in the kernel
	// for the next process; what they have read is handled here.
	past := time.Unix(1, 0)
	s.notify.SetReadDeadline(past)
	s.fifo.SetReadDeadline(past)
	s.console.master.SetReadDeadline(past)
	for _, done := range []chan struct{}{s.notifyDone, s.fifoDone, s.console.pumpDone} {
		select {
		case <-done:
		case <-time.After(time.Second):
			s.logf("re-exec: a reader did not stop; staying as is")
			s.resumeReaders()
			return
		}
	}
	select {
	case <-s.ready:
		if !b.ready {
			b.ready = true
			s.logf("guest is ready")
			s.send(&report{Event: "ready"})
		}
	default:
	}

	h := handoff{
		ID: s.id, RunDir: s.runDir, Wait: s.wait, InitPID: b.proc.Pid, Kind: b.proc.Kind,
		Hooks: b.proc.Hooks, Ready: b.ready, Prestarted: b.prestarted,
		PoststopPending: s.poststopPending, StopTimeout: b.stopTimeout, FDs: map[string]int{},
		State: b.state,
	}
	var dups []int
	fail := func(err error) {
		s.logf("re-exec: %v; staying as is", err)
		for _, fd := range dups {
			unix.Close(fd)
		}
		s.resumeReaders()
	}
	dup := func(name string, sc syscall.Conn) error {
		if sc == nil {
			return nil
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			return err
		}
		var derr error
		err = rc.Control(func(fd uintptr) {
			nfd, err := unix.FcntlInt(fd, unix.F_DUPFD, handoffFDBase)
			if err != nil {
				derr = err
				return
			}
			h.FDs[name] = nfd
			dups = append(dups, nfd)
		})
		if err == nil {
			err = derr
		}
		if err != nil {
			return fmt.Errorf("handing over %s: %w", name, err)
		}
		return nil
	}
	s.console.mu.Lock()
	h.Ring = append([]byte(nil), s.console.ring...)
	client, _ := s.console.client.(*net.UnixConn)
	s.console.mu.Unlock()
	for _, x := range []struct {
		name string
		sc   syscall.Conn
		ok   bool
	}{
		{"report", s.report, s.report != nil},
		{"lock", s.lock, true},
		{"master", s.console.master, true},
		{"slave", s.console.slave, true},
		{"log", s.console.log, s.console.log != nil},
		{"client", client, client != nil},
		{"notify", s.notify, true},
		{"fifo", s.fifo, true},
		{"control", s.control, true},
	} {
		if !x.ok {
			continue
		}
		if err := dup(x.name, x.sc); err != nil {
			fail(err)
			return
		}
	}
	mode := modeMonitor
	var idle string
	if s.canIdle() && client == nil && s.report == nil {
		ring, err := ringFile(h.Ring)
		if err != nil {
			fail(err)
			return
		}
		h.FDs["ring"], h.Ring = ring, nil
		dups = append(dups, ring)
		f := idleFields{Master: h.FDs["master"], Log: -1, Control: h.FDs["control"], Notify: h.FDs["notify"],
			FIFO: h.FDs["fifo"], Ring: ring, PID: b.proc.Pid, Ready: b.ready}
		if fd, ok := h.FDs["log"]; ok {
			f.Log = fd
		}
		mode = modeIdle
		idle = idleEnv + "=" + f.String()
	}
	state, err := json.Marshal(&h)
	if err != nil {
		fail(err)
		return
	}
	env := []string{handoffEnv + "=" + string(state)}
	if idle != "" {
		env = append(env, idle)
	}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, handoffEnv+"=") && !strings.HasPrefix(e, idleEnv+"=") && !strings.HasPrefix(e, wakeEnv+"=") {
			env = append(env, e)
		}
	}
	// Into idle.c, SIGTERM and SIGINT stay blocked across the execve, so
	// one that arrives meanwhile waits for idle.c's signalfd instead of
	// killing the supervisor (the default action). Not into Go: its
	// runtime unblocks them while it starts, before it can catch them.
	runtime.LockOSThread()
	var block, old unix.Sigset_t
	if mode == modeIdle {
		for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGINT} {
			block.Val[(sig-1)/64] |= 1 << ((uint(sig) - 1) % 64)
		}
	}
	unix.PthreadSigmask(unix.SIG_BLOCK, &block, &old)
	// The file itself, as at Start: the supervisor never enters a
	// container's namespaces, so no sealed copy is needed.
	err = unix.Exec("/proc/self/exe", []string{"govz-supervisor " + s.id, Verb, mode}, env)
	unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	runtime.UnlockOSThread()
	fail(fmt.Errorf("execve: %w", err))
}

// canIdle says whether the waiting may be left to the C idle loop.
func (s *sup) canIdle() bool {
	return idleAvailable && !s.noIdle && os.Getenv(noIdleEnv) == ""
}

// ringFile puts the console ring into a memfd for idle.c: a uint32
// length (native order) and room for ringSize bytes. The descriptor is
// at handoffFDBase or above, without close-on-exec.
func ringFile(ring []byte) (int, error) {
	fd, err := unix.MemfdCreate("govz-console-ring", 0)
	if err != nil {
		return -1, fmt.Errorf("console ring: %w", err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 4+ringSize)
	binary.NativeEndian.PutUint32(buf, uint32(len(ring)))
	copy(buf[4:], ring)
	if _, err := unix.Pwrite(fd, buf, 0); err != nil {
		return -1, fmt.Errorf("console ring: %w", err)
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD, handoffFDBase)
	if err != nil {
		return -1, fmt.Errorf("console ring: %w", err)
	}
	return nfd, nil
}

// readRing reads back what ringFile wrote, as idle.c left it.
func readRing(fd int) ([]byte, error) {
	buf := make([]byte, 4+ringSize)
	n, err := unix.Pread(fd, buf, 0)
	if err != nil {
		return nil, fmt.Errorf("console ring: %w", err)
	}
	if n < 4 {
		return nil, fmt.Errorf("console ring: %d bytes", n)
	}
	l := int(binary.NativeEndian.Uint32(buf))
	if l > n-4 {
		l = n - 4
	}
	return append([]byte(nil), buf[4:4+l]...), nil
}

// resumeReaders restarts the readers stopped for a re-exec that did not
// happen.
func (s *sup) resumeReaders() {
	s.notify.SetReadDeadline(time.Time{})
	s.fifo.SetReadDeadline(time.Time{})
	s.console.master.SetReadDeadline(time.Time{})
	s.notifyDone, s.fifoDone = make(chan struct{}), make(chan struct{})
	go readNotify(s.notify, s.ready, s.notifyDone)
	go readReady(s.fifo, s.ready, s.fifoDone)
	s.console.start()
}

// monitorMain is the supervisor after a re-exec: it rebuilds its state
// from the handoff and goes on supervising.
func monitorMain(loaderFor func(id string) SpecLoader, ex Executors) int {
	debug.SetGCPercent(20)
	var h handoff
	if err := json.Unmarshal([]byte(os.Getenv(handoffEnv)), &h); err != nil {
		fmt.Fprintf(os.Stderr, "supervisor: bad handoff: %v\n", err)
		return 1
	}
	os.Unsetenv(handoffEnv)
	wake := os.Getenv(wakeEnv)
	os.Unsetenv(wakeEnv)
	os.Unsetenv(idleEnv)
	if fd, ok := h.FDs["ring"]; ok {
		if ring, err := readRing(fd); err == nil {
			h.Ring = ring
		} else {
			fmt.Fprintf(os.Stderr, "supervisor: %v\n", err)
		}
		unix.Close(fd)
		delete(h.FDs, "ring")
	}
	s := &sup{id: h.ID, pid: os.Getpid(), wait: h.Wait, runDir: h.RunDir, poststopPending: h.PoststopPending, executors: ex,
		ctl: make(chan ctlRequest), ready: make(chan struct{}, 1)}
	// An idle loop that woke for an error would only fail again.
	s.noIdle = wake == wakeError || wake == wakeConsole
	s.catchSignals()
	if n, ok := strings.CutPrefix(wake, wakeSignalPrefix); ok {
		if sig, err := strconv.Atoi(n); err == nil {
			s.sigs <- syscall.Signal(sig)
		}
	}
	s.loader = loaderFor(h.ID)
	err := s.resume(&h)
	if err != nil {
		// Without its descriptors the supervisor cannot go on; the
		// container keeps running and Stop finds it through runstate.
		es, _ := os.ReadDir("/proc/self/fd")
		var names []string
		for _, e := range es {
			l, _ := os.Readlink("/proc/self/fd/" + e.Name())
			names = append(names, e.Name()+"="+l)
		}
		s.logf("resuming after re-exec: %v (handoff %v, open %v)", err, h.FDs, names)
		return 1
	}
	b, err := s.resumeBoot(&h)
	if err != nil {
		s.logf("resuming after re-exec: %v", err)
		return 1
	}
	defer s.teardownSupervisor()
	if err := s.loop(b); err != nil {
		s.logf("error: %v", err)
		return 1
	}
	return 0
}

// resume takes over the handed-over descriptors.
func (s *sup) resume(h *handoff) error {
	file := func(name, path string) *os.File {
		fd, ok := h.FDs[name]
		if !ok {
			return nil
		}
		unix.CloseOnExec(fd)
		if path == "" {
			path = name
		}
		return os.NewFile(uintptr(fd), path)
	}
	conn := func(name string) (net.Conn, error) {
		f := file(name, "")
		if f == nil {
			return nil, nil
		}
		defer f.Close()
		return net.FileConn(f)
	}
	s.report = file("report", "")
	s.lock = file("lock", filepath.Join(s.runDir, lockName))
	s.console = &console{
		master: file("master", ""),
		slave:  file("slave", ""),
		log:    file("log", ""),
		ring:   append(make([]byte, 0, ringSize), h.Ring...),
	}
	s.fifo = file("fifo", filepath.Join(s.runDir, readyName))
	if s.lock == nil || s.console.master == nil || s.console.slave == nil || s.fifo == nil {
		return fmt.Errorf("descriptors missing from the handoff: %v", h.FDs)
	}
	s.console.start()
	c, err := conn("notify")
	if err != nil {
		return err
	}
	s.notify, _ = c.(*net.UnixConn)
	if cf := file("control", ""); cf != nil {
		l, err := net.FileListener(cf)
		cf.Close()
		if err != nil {
			return err
		}
		s.control, _ = l.(*net.UnixListener)
	}
	if s.notify == nil || s.control == nil {
		return fmt.Errorf("sockets missing from the handoff: %v", h.FDs)
	}
	// The original listener removed its socket file when closed; keep it so.
	s.control.SetUnlinkOnClose(true)
	if cl, err := conn("client"); err == nil && cl != nil {
		s.console.attach(cl, false)
	}
	s.notifyDone, s.fifoDone = make(chan struct{}), make(chan struct{})
	go readNotify(s.notify, s.ready, s.notifyDone)
	go readReady(s.fifo, s.ready, s.fifoDone)
	go serveControl(s.control, s.ctl)
	return nil
}

// resumeBoot rebuilds the current boot's state: init is still our child.
func (s *sup) resumeBoot(h *handoff) (*bootState, error) {
	st, err := runstate.Read(s.runDir)
	if errors.Is(err, os.ErrNotExist) && h.State != nil {
		s.logf("run record missing; writing it again")
		st = h.State
		err = runstate.Write(s.runDir, st)
	}
	if err != nil {
		return nil, err
	}
	p, err := os.FindProcess(h.InitPID)
	if err != nil {
		return nil, err
	}
	b := &bootState{
		stopTimeout: h.StopTimeout,
		proc:        &nsinit.Process{Process: p, Kind: h.Kind, Hooks: h.Hooks},
		state:       st,
		prestarted:  h.Prestarted,
		ready:       h.Ready,
		exited:      make(chan struct{}, 1),
	}
	go func() { waitExited(p.Pid); b.exited <- struct{}{} }()
	return b, nil
}
