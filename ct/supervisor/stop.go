package supervisor

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/cgroup"
	"govz/ct/runstate"
	"govz/ct/vzerror"
	"govz/internal/inroot"
)

// sigRTMin3 is SIGRTMIN+3 as glibc numbers it (SIGRTMIN is 34 there: the
// kernel's 32 plus two that glibc keeps for itself); systemd's "halt".
const sigRTMin3 = unix.Signal(37)

// haltMethod is how to ask a guest's init to shut down.
type haltMethod struct {
	Signal  unix.Signal // when !Initctl
	Initctl bool        // write a runlevel-0 request to /run/initctl
	Why     string
}

// chooseHalt picks the shutdown request for an init from its
// /proc/PID/status and whether the guest has a sysvinit control fifo, the
// way LXC's do_lxcapi_shutdown does, extended for sysvinit:
//
//   - systemd blocks every signal it handles and reads them from a signalfd;
//     SIGRTMIN+3 in SigBlk means systemd, and SIGRTMIN+3 is its "halt"
//     (systemd(1)); a halt in a container ends in reboot(2), which kills
//     init with SIGINT.
//   - sysvinit's documented interface is /run/initctl (what telinit 0
//     writes); its SIGPWR means "power failure", not shutdown.
//   - busybox init (init/init.c in 1.35) takes SIGPWR and SIGUSR1 as
//     "halt", SIGUSR2 as "poweroff", SIGTERM as "reboot"; halt and poweroff
//     both end in reboot(2) and SIGINT. It blocks these signals and waits
//     for them in sigtimedwait(2), which unblocks the waited set for the
//     duration, so /proc shows nothing blocked or caught while it idles:
//     busybox gets the default, SIGPWR. openrc-init treats SIGPWR as
//     shutdown too, and SIGPWR is LXC's default.
//   - an init that catches SIGTERM but not SIGPWR (a shell-script init,
//     tini) gets SIGTERM.
//
// Signals without a handler never reach a namespace's init from outside
// (pid_namespaces(7)), so an init that catches none of these simply does
// not react and is killed after the timeout.
func chooseHalt(status []byte, initctl bool) haltMethod {
	blk, cgt := statusMask(status, "SigBlk"), statusMask(status, "SigCgt")
	// A blocked signal is queued even for a namespace's init (the kernel's
	// sig_ignored never ignores blocked signals), so "blocked" counts as
	// "handled": busybox and systemd both block theirs and fetch them with
	// sigtimedwait/signalfd.
	handled := blk | cgt
	has := func(mask uint64, s unix.Signal) bool { return mask&(1<<(uint(s)-1)) != 0 }
	switch {
	case has(blk, sigRTMin3):
		return haltMethod{Signal: sigRTMin3, Why: "SIGRTMIN+3 blocked (systemd)"}
	case initctl:
		return haltMethod{Initctl: true, Why: "/run/initctl present (sysvinit)"}
	case has(handled, unix.SIGPWR):
		return haltMethod{Signal: unix.SIGPWR, Why: "SIGPWR handled (busybox, openrc-init)"}
	case has(handled, unix.SIGTERM):
		return haltMethod{Signal: unix.SIGTERM, Why: "SIGTERM handled"}
	}
	return haltMethod{Signal: unix.SIGPWR, Why: "default (busybox, openrc-init, LXC)"}
}

// statusMask reads a hex mask line ("SigBlk:\t0000000000000000") of
// /proc/PID/status; missing or bad lines read as 0.
func statusMask(status []byte, key string) uint64 {
	for _, l := range bytes.Split(status, []byte{'\n'}) {
		if v, ok := bytes.CutPrefix(l, []byte(key+":")); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(string(v)), 16, 64)
			if err == nil {
				return n
			}
		}
	}
	return 0
}

// initctlRequest is sysvinit's struct init_request (src/initreq.h): magic
// 0x03091969, command INIT_CMD_RUNLVL (1), runlevel '0', then 368 bytes of
// union; 384 bytes in all, host byte order (always little-endian here).
func initctlRequest(runlevel byte) []byte {
	b := make([]byte, 384)
	binary.LittleEndian.PutUint32(b[0:], 0x03091969)
	binary.LittleEndian.PutUint32(b[4:], 1)
	binary.LittleEndian.PutUint32(b[8:], uint32(runlevel))
	return b
}

// openInitctl opens the guest's /run/initctl for writing, resolving the
// path inside the guest's root (via /proc/PID/root) so that a symlink in
// the guest cannot lead out of it; it must be a fifo with a reader.
func openInitctl(pid int) (*os.File, error) {
	root, err := inroot.Open("/proc/" + strconv.Itoa(pid) + "/root")
	if err != nil {
		return nil, err
	}
	defer root.Close()
	// Non-blocking, as inroot opens everything: no reader is ENXIO.
	return root.OpenFile("/run/initctl", unix.O_WRONLY, inroot.FIFO)
}

// requestHalt asks init (host PID pid) to shut down and says how.
func requestHalt(pid int) (string, error) {
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return "", err
	}
	// systemd also creates /run/initctl (its sysvinit compatibility), so
	// the fifo is opened only when SigBlk does not say systemd.
	var ctl *os.File
	if m := chooseHalt(status, false); m.Signal != sigRTMin3 {
		if f, err := openInitctl(pid); err == nil {
			ctl = f
			defer ctl.Close()
		}
	}
	m := chooseHalt(status, ctl != nil)
	if m.Initctl {
		if _, err := ctl.Write(initctlRequest('0')); err != nil {
			return m.Why, fmt.Errorf("writing /run/initctl: %w", err)
		}
		return m.Why, nil
	}
	return m.Why + ": " + unix.SignalName(m.Signal), unix.Kill(pid, m.Signal)
}

// Stop stops the container whose run directory is runDir: gracefully (its
// init is asked to halt; after timeout, or at once with fast, every process
// in its cgroup is killed). It returns when the container and its
// supervisor are gone: no process, cgroup, pty, socket or runstate left.
// A container that is not running is vzerror.ErrNotRunning; a failure to
// stop wraps vzerror.ErrStop.
func Stop(runDir string, timeout time.Duration, fast bool) error {
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	conn, resp, err := call(runDir, &request{Op: "stop", Timeout: timeout, Fast: fast}, timeout+time.Minute)
	if errors.Is(err, vzerror.ErrNotRunning) {
		return stopOrphan(runDir)
	}
	if err != nil {
		return fmt.Errorf("%w (%w)", err, vzerror.ErrStop)
	}
	conn.Close()
	if resp.Error != nil {
		return resp.Error
	}
	if !waitGone(resp.SupervisorPID, 10*time.Second) {
		return fmt.Errorf("supervisor %d did not exit: %w", resp.SupervisorPID, vzerror.ErrStop)
	}
	return nil
}

// stopOrphan handles a container without a supervisor: nothing to do when
// no init is recorded alive; a live init whose supervisor died is killed
// through its cgroup, and its traces removed.
func stopOrphan(runDir string) error {
	// A dead supervisor leaves its sockets, fifo and lock behind; nobody
	// holds the lock, so they are garbage.
	if !Alive(runDir) {
		for _, n := range []string{controlName, notifyName, readyName, lockName, bootingName} {
			os.Remove(filepath.Join(runDir, n))
		}
	}
	st, err := runstate.Read(runDir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %w", runDir, vzerror.ErrNotRunning)
	}
	if err != nil {
		return fmt.Errorf("%w (%w)", err, vzerror.ErrStop)
	}
	if !st.Alive() {
		runstate.Remove(runDir)
		return fmt.Errorf("container %s: %w", st.ID, vzerror.ErrNotRunning)
	}
	if st.CgroupParent == "" {
		return fmt.Errorf("container %s: supervisor gone and no cgroup recorded: %w", st.ID, vzerror.ErrStop)
	}
	g, err := cgroup.Open(st.CgroupParent, st.ID)
	if err != nil {
		return fmt.Errorf("%w (%w)", err, vzerror.ErrStop)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.Kill(ctx); err != nil {
		return fmt.Errorf("killing container %s: %w (%w)", st.ID, err, vzerror.ErrStop)
	}
	if err := g.Destroy(); err != nil {
		return fmt.Errorf("container %s: %w (%w)", st.ID, err, vzerror.ErrStop)
	}
	return runstate.Remove(runDir)
}

// waitGone waits until process pid has exited (a zombie counts as gone:
// its parent may reap late).
func waitGone(pid int, d time.Duration) bool {
	if pid <= 0 {
		return true
	}
	end := time.Now().Add(d)
	for {
		if _, err := runstate.StartTime(pid); err != nil {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Status reports whether the container whose run directory is runDir is
// running, and its runstate record (nil when there is none). A record whose
// init is dead is returned with running false.
func Status(runDir string) (bool, *runstate.State, error) {
	st, err := runstate.Read(runDir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	return st.Alive(), st, nil
}
