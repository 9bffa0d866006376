package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/caps"
	"govz/ct/runstate"
	"govz/ct/vzerror"
	"govz/internal/exitcode"
)

// inspect is a /test.sh that records what the container sees.
const inspect = `#!/bin/sh
hostname >/results/hostname
cat /proc/self/mountinfo >/results/mountinfo
ls /proc | grep -E '^[0-9]+$' >/results/pids
tr '\0' '\n' </proc/1/environ >/results/env1
cat /run/host/container-manager >/results/manager
grep -E '^(CapBnd|CapEff|CapInh|NoNewPrivs|Seccomp):' /proc/1/status >/results/status1
ls -l /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/ptmx /dev/console /dev/fd >/results/dev
cat /proc/self/cgroup >/results/cgroup
ls /sys/fs/cgroup >/results/cgroupfs
echo ok >/results/done
`

func TestStartStopBusybox(t *testing.T) {
	c := newCT(t, "bb1")
	c.write("test.sh", inspect, 0o755)
	before := snapshot(t, c)
	t0 := time.Now()
	st := c.mustStart(true)
	t.Logf("start --wait (busybox, ready hook): %v", time.Since(t0))
	c.waitFile("results/done", 5*time.Second)

	// PID 1 is busybox init in its own PID namespace.
	if ns := procStatus(t, st.InitPID, "NSpid"); ns != fmt.Sprintf("%d\t1", st.InitPID) {
		t.Errorf("init NSpid = %q, want %d and 1", ns, st.InitPID)
	}
	// The path is relative to init's own root, as the kernel prints it.
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", st.InitPID)); exe != "/bin/busybox" {
		t.Errorf("init runs %s", exe)
	}
	if got := strings.TrimSpace(c.read("results/hostname")); got != "ct-bb1" {
		t.Errorf("hostname inside = %q", got)
	}
	// Only the container's processes are visible (a handful: init, rcS,
	// test.sh, ls, grep), and not the test's own.
	pids := strings.Fields(c.read("results/pids"))
	if len(pids) == 0 || len(pids) > 8 || pids[0] != "1" {
		t.Errorf("processes seen inside: %v", pids)
	}
	for _, p := range pids {
		if p == strconv.Itoa(os.Getpid()) && os.Getpid() > 8 {
			t.Errorf("the host's test process %s is visible inside", p)
		}
	}
	env := c.read("results/env1")
	for _, want := range []string{"container=govz", "container_uuid=" + ContainerUUID("bb1"), "NOTIFY_SOCKET=/run/host/notify"} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("init's environment lacks %s:\n%s", want, env)
		}
	}
	if m := c.read("results/manager"); m != "govz\n" {
		t.Errorf("/run/host/container-manager = %q", m)
	}
	checkMounts(t, c, c.read("results/mountinfo"))
	checkStatus(t, st, c.read("results/status1"))
	if cg := c.read("results/cgroup"); !strings.Contains(cg, ":/\n") || strings.Contains(cg, "govz-test") {
		t.Errorf("/proc/self/cgroup inside should show the namespace root only:\n%s", cg)
	}
	for _, h := range []string{"memory", "devices", "systemd", "unified"} {
		if !strings.Contains(c.read("results/cgroupfs"), h+"\n") {
			t.Errorf("/sys/fs/cgroup inside lacks %s: %s", h, c.read("results/cgroupfs"))
		}
	}
	if d := c.read("results/dev"); !strings.Contains(d, "/dev/ptmx -> pts/ptmx") || !strings.Contains(d, "/dev/fd -> /proc/self/fd") || strings.Count(d, "\n") != 9 {
		t.Errorf("/dev inside:\n%s", d)
	}
	if len(st.CgroupPaths) == 0 || st.CgroupParent != c.spec.CgroupParent || st.SupervisorPID <= 0 {
		t.Errorf("runstate: %+v", st)
	}
	if hl := c.read("../run/hooks.log"); hl != "prestart own-netns=true\n" {
		t.Errorf("hooks before stop: %q", hl)
	}

	t0 = time.Now()
	if err := Stop(c.spec.RunDir, 10*time.Second, false); err != nil {
		t.Fatalf("stop: %v\n%s", err, c.logs())
	}
	t.Logf("graceful stop (busybox halt, with its 2 s of sleeps): %v", time.Since(t0))
	if hl := c.read("../run/hooks.log"); hl != "prestart own-netns=true\npoststop reboot=false\n" {
		t.Errorf("hooks after stop: %q", hl)
	}
	if !strings.Contains(c.logs(), "halted or powered off") {
		t.Errorf("stop was not a clean halt:\n%s", c.logs())
	}
	checkNoLeaks(t, c, before)
	if err := Stop(c.spec.RunDir, time.Second, false); !errors.Is(err, vzerror.ErrNotRunning) {
		t.Errorf("second stop: %v, want ErrNotRunning", err)
	}
}

// checkMounts wants exactly the container's own mounts inside: nothing
// from the host's tree, everything the runtime promises.
func checkMounts(t *testing.T, c *ct, mountinfo string) {
	t.Helper()
	seen := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(mountinfo), "\n") {
		f := strings.Fields(l)
		if len(f) < 10 {
			t.Fatalf("bad mountinfo line %q", l)
		}
		mp := f[4]
		seen[mp] += f[5] + " "
		ok := mp == "/" || mp == "/proc" || mp == "/sys" || mp == "/run" || strings.HasPrefix(mp, "/proc/") ||
			strings.HasPrefix(mp, "/sys/fs/cgroup") || mp == "/sys/firmware" || strings.HasPrefix(mp, "/dev") ||
			strings.HasPrefix(mp, "/run/host/")
		if !ok {
			t.Errorf("unexpected mount inside: %s", l)
		}
		if strings.Contains(l, c.root) && mp != "/" {
			t.Errorf("host path visible in mount: %s", l)
		}
	}
	for _, mp := range []string{"/", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/console",
		"/run", "/run/host/notify", "/run/host/ready", "/sys/fs/cgroup", "/sys/fs/cgroup/memory",
		"/proc/sys", "/proc/sys/net", "/proc/sys/kernel/hostname", "/proc/sysrq-trigger", "/proc/kcore", "/proc/keys", "/proc/kmsg",
		"/proc/timer_list", "/proc/acpi", "/sys/firmware"} {
		// Masks and read-only binds exist only for entries this kernel has
		// (this CI kernel has neither sysrq-trigger nor kcore).
		if !fileExists(mp) {
			continue
		}
		if _, ok := seen[mp]; !ok {
			t.Errorf("mount %s missing inside", mp)
		}
	}
	for mp, wantRO := range map[string]bool{"/sys": true, "/proc/sys": true, "/proc/sysrq-trigger": true, "/proc/sys/net": false,
		"/proc/sys/kernel/hostname": false, "/proc": false, "/sys/fs/cgroup": true, "/proc/acpi": true} {
		if !fileExists(mp) {
			continue
		}
		opts := seen[mp]
		if ro := strings.HasPrefix(opts, "ro,") || strings.HasPrefix(opts, "ro "); ro != wantRO {
			t.Errorf("%s mounted %q, want read-only=%v", mp, opts, wantRO)
		}
	}
}

// checkStatus checks init's capability sets against the runstate record.
func checkStatus(t *testing.T, st *runstate.State, status string) {
	t.Helper()
	want, err := caps.FromNames(st.CapBounding)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(status), "\n") {
		k, v, _ := strings.Cut(l, ":")
		v = strings.TrimSpace(v)
		switch k {
		case "CapBnd", "CapEff":
			s, _ := caps.ParseStatusSet(v)
			if s != want {
				t.Errorf("init %s = %v, want %v", k, s.Names(), want.Names())
			}
			if !s.Has(22) || s.Has(16) || s.Has(17) || s.Has(25) {
				t.Errorf("init %s must keep sys_boot and lack sys_module, sys_rawio, sys_time: %v", k, s.Names())
			}
		case "CapInh":
			if s, _ := caps.ParseStatusSet(v); s != 0 {
				t.Errorf("init CapInh = %v", s.Names())
			}
		case "NoNewPrivs":
			if v != "0" {
				t.Errorf("NoNewPrivs = %s: setuid programs would not work inside", v)
			}
		case "Seccomp":
			if v != "2" {
				t.Errorf("Seccomp = %s, want 2 (filter)", v)
			}
		}
	}
}

func TestStopFast(t *testing.T) {
	c := newCT(t, "fast")
	c.spec.Hostname = ""
	before := snapshot(t, c)
	st := c.mustStart(false)
	// Without a configured name the container is named after its ID, not
	// after the host.
	if out, err := inCT(st.InitPID, "hostname"); err != nil || strings.TrimSpace(out) != "fast" || st.Hostname != "fast" {
		t.Errorf("hostname inside %q (%v), runstate %q; want the ID", out, err, st.Hostname)
	}
	t0 := time.Now()
	if err := Stop(c.spec.RunDir, 10*time.Second, true); err != nil {
		t.Fatalf("fast stop: %v\n%s", err, c.logs())
	}
	d := time.Since(t0)
	t.Logf("fast stop: %v", d)
	// busybox's own clean halt takes 2 s; a kill is far below that
	// (slower only under the race detector, whose re-exec is slow).
	if d > 1900*time.Millisecond {
		t.Errorf("fast stop took %v", d)
	}
	if !strings.Contains(c.logs(), "killed by SIGKILL") {
		t.Errorf("fast stop did not kill init:\n%s", c.logs())
	}
	checkNoLeaks(t, c, before)
}

func TestStopTimeoutKillsStubbornGuest(t *testing.T) {
	c := newCT(t, "stubborn")
	// init is a shell that ignores every stop request.
	c.write("sbin/stubborn", "#!/bin/sh\ntrap '' PWR TERM INT HUP USR1 USR2\nwhile :; do sleep 1; done\n", 0o755)
	c.spec.Init = []string{"/sbin/stubborn"}
	before := snapshot(t, c)
	c.mustStart(false)
	t0 := time.Now()
	if err := Stop(c.spec.RunDir, 500*time.Millisecond, false); err != nil {
		t.Fatalf("stop: %v\n%s", err, c.logs())
	}
	if d := time.Since(t0); d < 500*time.Millisecond || d > 5*time.Second {
		t.Errorf("stop took %v, want the 0.5 s timeout and then a kill", d)
	}
	if !strings.Contains(c.logs(), "did not stop within the timeout") {
		t.Errorf("no timeout kill:\n%s", c.logs())
	}
	checkNoLeaks(t, c, before)
}

func TestRebootFromInside(t *testing.T) {
	c := newCT(t, "reboot")
	// The first boot reboots (once); busybox's reboot asks init, whose
	// reboot(2) kills it with SIGHUP.
	c.write("test.sh", "#!/bin/sh\nif [ ! -e /results/rebooted ]; then : >/results/rebooted; (sleep 0.3; reboot) & fi\n", 0o755)
	before := snapshot(t, c)
	st1 := c.mustStart(true)
	var st2 *runstate.State
	end := time.Now().Add(15 * time.Second)
	for time.Now().Before(end) {
		if _, st, _ := Status(c.spec.RunDir); st != nil && st.BootID != st1.BootID && st.Alive() {
			st2 = st
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st2 == nil {
		t.Fatalf("no second boot\n%s", c.logs())
	}
	if st2.InitPID == st1.InitPID || st2.SupervisorPID != st1.SupervisorPID {
		t.Errorf("second boot: init %d (was %d), supervisor %d (was %d)", st2.InitPID, st1.InitPID, st2.SupervisorPID, st1.SupervisorPID)
	}
	// Fresh namespaces: the new init's PID namespace is not the old one's.
	if st1.Alive() {
		t.Errorf("old init %d still alive", st1.InitPID)
	}
	c.waitFile("results/boots", time.Second)
	for i := 0; i < 100 && strings.Count(c.read("results/boots"), "boot") < 2; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if n := strings.Count(c.read("results/boots"), "boot"); n != 2 {
		t.Errorf("guest saw %d boots", n)
	}
	if !strings.Contains(c.logs(), "killed by SIGHUP: the guest rebooted") {
		t.Errorf("supervisor log:\n%s", c.logs())
	}
	if err := Stop(c.spec.RunDir, 10*time.Second, true); err != nil {
		t.Fatal(err)
	}
	want := "prestart own-netns=true\npoststop reboot=true\nprestart own-netns=true\npoststop reboot=false\n"
	if hl := c.read("../run/hooks.log"); hl != want {
		t.Errorf("hooks: %q, want %q", hl, want)
	}
	checkNoLeaks(t, c, before)
}

func TestPoweroffFromInside(t *testing.T) {
	c := newCT(t, "poweroff")
	c.write("test.sh", "#!/bin/sh\n(sleep 0.3; poweroff) &\n", 0o755)
	before := snapshot(t, c)
	st := c.mustStart(true)
	c.waitDown(st.SupervisorPID, 15*time.Second)
	if !strings.Contains(c.logs(), "killed by SIGINT") {
		t.Errorf("supervisor log:\n%s", c.logs())
	}
	if hl := c.read("../run/hooks.log"); hl != "prestart own-netns=true\npoststop reboot=false\n" {
		t.Errorf("hooks: %q", hl)
	}
	checkNoLeaks(t, c, before)
}

func TestInitKilled(t *testing.T) {
	c := newCT(t, "killed")
	before := snapshot(t, c)
	st := c.mustStart(false)
	if err := unix.Kill(st.InitPID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.waitDown(st.SupervisorPID, 10*time.Second)
	if !strings.Contains(c.logs(), "killed by SIGKILL") {
		t.Errorf("supervisor log:\n%s", c.logs())
	}
	checkNoLeaks(t, c, before)
}

func TestStartErrors(t *testing.T) {
	t.Run("missing init", func(t *testing.T) {
		c := newCT(t, "noinit")
		os.Remove(filepath.Join(c.root, "sbin/init"))
		before := snapshot(t, c)
		err := c.start(false)
		if !errors.Is(err, vzerror.ErrBadTemplate) || exitcode.Of(err) != 47 {
			t.Errorf("start without init: %v (code %d), want ErrBadTemplate/47", err, exitcode.Of(err))
		}
		checkNoLeaks(t, c, before)
	})
	t.Run("init not executable format", func(t *testing.T) {
		// Passes the host-side check, fails execve inside: the child's
		// error crosses the sync socket and the report pipe.
		c := newCT(t, "badinit")
		os.Remove(filepath.Join(c.root, "sbin/init"))
		c.write("sbin/init", "this is not a program\n", 0o755)
		before := snapshot(t, c)
		err := c.start(false)
		if !errors.Is(err, vzerror.ErrBadTemplate) || exitcode.Of(err) != 47 || !strings.Contains(err.Error(), "exec /sbin/init") {
			t.Errorf("start with a broken init: %v (code %d), want exec error, ErrBadTemplate/47", err, exitcode.Of(err))
		}
		checkNoLeaks(t, c, before)
	})
	t.Run("mount failure inside", func(t *testing.T) {
		c := newCT(t, "badproc")
		os.Remove(filepath.Join(c.root, "proc"))
		c.write("proc", "a file where a directory belongs\n", 0o644)
		before := snapshot(t, c)
		err := c.start(false)
		if !errors.Is(err, vzerror.ErrMount) || !strings.Contains(err.Error(), "/proc") {
			t.Errorf("start with /proc a file: %v (code %d), want ErrMount", err, exitcode.Of(err))
		}
		checkNoLeaks(t, c, before)
	})
	t.Run("prestart hook fails", func(t *testing.T) {
		c := newCT(t, "badhook")
		os.MkdirAll(c.spec.RunDir, 0o700)
		os.WriteFile(filepath.Join(c.spec.RunDir, "fail-prestart"), nil, 0o600)
		before := snapshot(t, c)
		err := c.start(false)
		if err == nil || !strings.Contains(err.Error(), "prestart refused by test") {
			t.Errorf("start with a failing prestart hook: %v", err)
		}
		if hl := c.read("../run/hooks.log"); hl != "prestart-fail\n" {
			t.Errorf("hooks: %q (no poststop is owed for a failed prestart)", hl)
		}
		checkNoLeaks(t, c, before)
	})
	t.Run("already running", func(t *testing.T) {
		c := newCT(t, "twice")
		c.mustStart(false)
		if err := c.start(false); !errors.Is(err, vzerror.ErrRunning) {
			t.Errorf("second start: %v, want ErrRunning", err)
		}
		if err := Stop(c.spec.RunDir, time.Second, true); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("not running", func(t *testing.T) {
		c := newCT(t, "never")
		if err := Stop(c.spec.RunDir, time.Second, false); !errors.Is(err, vzerror.ErrNotRunning) {
			t.Errorf("stop of a stopped container: %v", err)
		}
		if running, st, err := Status(c.spec.RunDir); running || st != nil || err != nil {
			t.Errorf("Status = %v %v %v", running, st, err)
		}
	})
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestConsole(t *testing.T) {
	c := newCT(t, "console")
	c.write("etc/inittab", defaultInittab+"::respawn:/bin/sh\n", 0o644)
	c.mustStart(true)
	defer Stop(c.spec.RunDir, 10*time.Second, true)
	in, inW := io.Pipe()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Console(c.spec.RunDir, 0, in, out) }()
	inW.Write([]byte("echo console-$((40+2)) $(tty)\n"))
	end := time.Now().Add(5 * time.Second)
	for time.Now().Before(end) && !strings.Contains(out.String(), "console-42 /dev/console") {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "console-42 /dev/console") {
		t.Errorf("console output:\n%q\n%s", out.String(), c.logs())
	}
	// Replayed boot output reaches a client that attaches late.
	if !strings.Contains(out.String(), "rcS-done") {
		t.Errorf("console did not replay the boot output: %q", out.String())
	}
	// Esc . detaches.
	inW.Write([]byte{0x1b, '.'})
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("console: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Esc . did not detach")
	}
	if err := Console(c.spec.RunDir, 3, nil, io.Discard); !errors.Is(err, vzerror.ErrInvalidValue) {
		t.Errorf("console tty 3: %v", err)
	}
}

func TestStopWithoutSupervisor(t *testing.T) {
	c := newCT(t, "orphan")
	before := snapshot(t, c)
	st := c.mustStart(false)
	// The supervisor dies; its container lives on, reparented.
	if err := unix.Kill(st.SupervisorPID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200 && !waitGone(st.SupervisorPID, 0); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if running, _, _ := Status(c.spec.RunDir); !running {
		t.Fatal("the container died with its supervisor")
	}
	if err := Stop(c.spec.RunDir, time.Second, false); err != nil {
		t.Fatalf("stop without a supervisor: %v", err)
	}
	if running, st2, _ := Status(c.spec.RunDir); running || st2 != nil {
		t.Errorf("after stop: running=%v state=%v", running, st2)
	}
	for i := 0; i < 200 && st.Alive(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if st.Alive() {
		t.Errorf("init %d still alive", st.InitPID)
	}
	checkNoLeaks(t, c, before)
}

func TestStartInterrupted(t *testing.T) {
	c := newCT(t, "interrupted")
	before := snapshot(t, c)
	c.saveSpec()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Millisecond)
	defer cancel()
	err := Start(ctx, c.loader, StartOptions{})
	if err == nil || !strings.Contains(err.Error(), "start interrupted") {
		t.Fatalf("start with a 2 ms deadline: %v", err)
	}
	if running, st, _ := Status(c.spec.RunDir); running || st != nil {
		t.Errorf("after an interrupted start: running=%v %v", running, st)
	}
	checkNoLeaks(t, c, before)
}

func TestSupervisorSIGTERM(t *testing.T) {
	c := newCT(t, "sigterm")
	before := snapshot(t, c)
	st := c.mustStart(true)
	// A signal that lands while the supervisor re-execs itself after the
	// boot kills it (the Go runtime's default for SIGTERM acts before the
	// new image can catch it); Stop, over the control socket, has no such
	// window. Wait for the re-exec.
	for i := 0; i < 200; i++ {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", st.SupervisorPID))
		if strings.Contains(string(b), "--monitor") || strings.Contains(string(b), "--idle") {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	if err := unix.Kill(st.SupervisorPID, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	c.waitDown(st.SupervisorPID, 15*time.Second)
	if l := c.logs(); !strings.Contains(l, "stopping") || !strings.Contains(l, "halted or powered off") {
		t.Errorf("SIGTERM did not stop the guest cleanly:\n%s", l)
	}
	if !fileExists(filepath.Join(c.spec.RunDir, SignalStopName)) {
		t.Errorf("%s not written: Poststop cannot tell a signal from a halt inside", SignalStopName)
	}
	checkNoLeaks(t, c, before)
}
