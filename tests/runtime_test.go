package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"govz/internal/mountinfo"
)

// status returns vzctl status's line without the trailing newline.
func (n *node) status(id string) string {
	n.t.Helper()
	return strings.TrimSpace(n.ok("vzctl", "status", id).out)
}

// waitStatus polls vzctl status until it prints want.
func (n *node) waitStatus(id, want string, d time.Duration) {
	n.t.Helper()
	end := time.Now().Add(d)
	for {
		got := n.status(id)
		if got == want {
			return
		}
		if time.Now().After(end) {
			n.t.Fatalf("status %q, want %q after %v", got, want, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopClean stops a running container with vzctl stop (graceful), logs
// how long it took, and checks it is down, unmounted and left nothing.
func (n *node) stopClean(id string) {
	n.t.Helper()
	start := time.Now()
	n.ok("vzctl", "stop", id)
	n.t.Logf("clean stop took %v", time.Since(start))
	if s, want := n.status(id), "CTID "+id+" exist unmounted down"; s != want {
		n.t.Fatalf("status after stop %q, want %q", s, want)
	}
	n.noLeftovers()
}

// runState reads the container's run record (boot id, init pid).
func (n *node) runState(id string) (bootID string, initPID int) {
	b, err := os.ReadFile(n.path("run/" + id + "/state.json"))
	if err != nil {
		return "", 0
	}
	var st struct {
		BootID  string `json:"boot_id"`
		InitPID int    `json:"init_pid"`
	}
	json.Unmarshal(b, &st)
	return st.BootID, st.InitPID
}

// leftovers lists what a stopped node must not have: mounts under its
// root, the test's cgroups, processes started for it.
func (n *node) leftovers() []string {
	var out []string
	for _, m := range n.mounts() {
		out = append(out, "mount "+m)
	}
	for _, d := range cgroupDirs(n.cgroupParent()) {
		out = append(out, "cgroup "+d)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), "VZ_ROOT="+n.root+"\x00") {
			cmd, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
			out = append(out, "process "+filepath.Base(filepath.Dir(p))+" "+strings.ReplaceAll(string(cmd), "\x00", " "))
		}
	}
	return out
}

func (n *node) noLeftovers() {
	n.t.Helper()
	// The supervisor may need a moment to exit after the container is gone.
	end := time.Now().Add(5 * time.Second)
	for {
		l := n.leftovers()
		if len(l) == 0 {
			return
		}
		if time.Now().After(end) {
			n.t.Fatalf("left on the host:\n%s", strings.Join(l, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBusyboxStartExecStop(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101", "--hostname", "ct101")
	n.fails(31, "vzctl", "exec", "101", "true")
	n.fails(31, "vzctl", "stop", "101")
	n.ok("vzctl", "start", "101")
	if s := n.status("101"); s != "CTID 101 exist mounted running" {
		t.Fatalf("status %q", s)
	}
	n.fails(32, "vzctl", "start", "101")
	if r := n.ok("vzlist", "-H", "-o", "ctid,numproc,status"); !strings.Contains(r.out, "101") || !strings.Contains(r.out, "running") {
		t.Fatalf("vzlist: %q", r.out)
	}
	if r := n.ok("vzctl", "exec2", "101", "cat", "/proc/1/comm"); r.out != "init\n" {
		t.Fatalf("/proc/1/comm: %q", r.out)
	}
	if r := n.ok("vzctl", "exec2", "101", "hostname"); r.out != "ct101\n" {
		t.Fatalf("hostname: %q", r.out)
	}
	// The host's processes are invisible: a host process we start is not
	// in the container's /proc, and the container sees only a handful.
	host := exec.Command("sleep", "60")
	host.Start()
	defer func() { host.Process.Kill(); host.Wait() }()
	r := n.ok("vzctl", "exec2", "101", "ls /proc | grep -c '^[0-9]'")
	if c, _ := strconv.Atoi(strings.TrimSpace(r.out)); c == 0 || c > 10 {
		t.Fatalf("container sees %q processes", r.out)
	}
	if r := n.run("vzctl", "exec2", "101", fmt.Sprintf("test -e /proc/%d/cmdline && grep -q sleep /proc/%d/cmdline", host.Process.Pid, host.Process.Pid)); r.code == 0 {
		t.Fatalf("host process %d visible inside", host.Process.Pid)
	}
	// Only the container's own mounts: nothing from the host's tree.
	r = n.ok("vzctl", "exec2", "101", "cat", "/proc/self/mountinfo")
	for _, l := range strings.Split(strings.TrimSpace(r.out), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		for _, bad := range []string{"/work", "/tmp/", n.root, "/etc/"} {
			if strings.HasPrefix(f[4], bad) {
				t.Errorf("host mount visible inside: %s", l)
			}
		}
	}
	// vzctl's exit conventions.
	n.fails(8, "vzctl", "exec", "101", "exit 3")
	n.fails(3, "vzctl", "exec2", "101", "exit 3")
	if r := n.ok("vzctl", "exec3", "101", "/bin/echo", "a  b"); r.out != "a  b\n" {
		t.Fatalf("exec3 argv: %q", r.out)
	}
	c := n.cmd("vzctl", "exec", "101", "-")
	c.Stdin = strings.NewReader("echo from-stdin\n")
	if out, err := c.Output(); err != nil || string(out) != "from-stdin\n" {
		t.Fatalf("exec - : %q %v", out, err)
	}
	// The run directory holds the state other commands read.
	if boot, pid := n.runState("101"); boot == "" || pid == 0 {
		t.Fatalf("no run record: %q %d", boot, pid)
	}
	n.ok("vzctl", "stop", "101")
	if s := n.status("101"); s != "CTID 101 exist unmounted down" {
		t.Fatalf("status after stop %q", s)
	}
	n.noLeftovers()
	// Cycles leave nothing behind either.
	for i := 0; i < 3; i++ {
		n.ok("vzctl", "start", "101")
		n.ok("vzctl", "stop", "--fast", "101")
	}
	n.noLeftovers()
	n.ok("vzctl", "start", "101")
	n.ok("vzctl", "stop", "--skip-umount", "101")
	if s := n.status("101"); s != "CTID 101 exist mounted down" {
		t.Fatalf("status after --skip-umount %q", s)
	}
	n.ok("vzctl", "restart", "101")
	n.waitStatus("101", "CTID 101 exist mounted running", 5*time.Second)
	n.ok("vzctl", "stop", "101")
	n.noLeftovers()
}

func TestRebootAndPoweroffInside(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "start", "101")
	boot1, pid1 := n.runState("101")
	n.run("vzctl", "exec", "101", "reboot")
	end := time.Now().Add(20 * time.Second)
	for {
		boot2, pid2 := n.runState("101")
		if boot2 != "" && boot2 != boot1 && pid2 != pid1 && n.status("101") == "CTID 101 exist mounted running" {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("no new boot after reboot inside: %q %d -> %q %d", boot1, pid1, boot2, pid2)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := n.ok("vzctl", "exec2", "101", "cat", "/proc/1/comm"); r.out != "init\n" {
		t.Fatalf("after reboot /proc/1/comm: %q", r.out)
	}
	n.run("vzctl", "exec", "101", "poweroff")
	n.waitStatus("101", "CTID 101 exist unmounted down", 20*time.Second)
	n.noLeftovers()
	// Killing init from the host stops the container too.
	n.ok("vzctl", "start", "101")
	_, pid := n.runState("101")
	if pid == 0 {
		t.Fatal("no init pid")
	}
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
	}
	n.waitStatus("101", "CTID 101 exist unmounted down", 20*time.Second)
	n.noLeftovers()
}

func TestStartFailures(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	os.Remove(n.path("private/101/sbin/init"))
	if r := n.fails(47, "vzctl", "start", "101"); !strings.Contains(r.err, "init") {
		t.Fatalf("start failure not explained: %q", r.err)
	}
	if s := n.status("101"); s != "CTID 101 exist unmounted down" {
		t.Fatalf("status after failed start %q", s)
	}
	n.noLeftovers()
	n.ok("vzctl", "create", "102")
	n.ok("vzctl", "set", "102", "--disabled", "yes", "--save")
	n.fails(105, "vzctl", "start", "102")
	n.ok("vzctl", "start", "102", "--force")
	n.ok("vzctl", "stop", "--fast", "102")
	n.fails(14, "vzctl", "start", "103")
	n.noLeftovers()
}

func TestConcurrentStart(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	var wg sync.WaitGroup
	res := make([]result, 3)
	for i := range res {
		wg.Add(1)
		go func() { defer wg.Done(); res[i] = n.run("vzctl", "start", "101") }()
	}
	wg.Wait()
	wins := 0
	for _, r := range res {
		switch r.code {
		case 0:
			wins++
		case 9, 32:
		default:
			t.Errorf("concurrent start failed uncleanly:\n%s", r)
		}
	}
	if wins != 1 {
		t.Fatalf("%d starts won: %v", wins, res)
	}
	n.ok("vzctl", "stop", "101")
	n.noLeftovers()
}

func TestKilledStart(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	for _, delay := range []time.Duration{0, 2 * time.Millisecond, 10 * time.Millisecond, 40 * time.Millisecond} {
		c := n.cmd("vzctl", "start", "101")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		c.Process.Kill()
		c.Wait()
		// Whatever the kill interrupted, status tells the truth and the
		// next commands recover.
		// The supervisor the killed command spawned may still be booting
		// the container (start then says 32) or may have given up.
		end := time.Now().Add(15 * time.Second)
		for {
			s := n.status("101")
			if s != "CTID 101 exist mounted running" && s != "CTID 101 exist unmounted down" && s != "CTID 101 exist mounted down" {
				t.Fatalf("after killed start (delay %v): status %q", delay, s)
			}
			if s == "CTID 101 exist mounted running" {
				break
			}
			r := n.run("vzctl", "start", "101")
			if r.code == 0 {
				break
			}
			if r.code != 32 && r.code != 9 {
				t.Fatalf("start after killed start:\n%s", r)
			}
			if time.Now().After(end) {
				t.Fatalf("container neither ran nor stopped after a killed start: %q", s)
			}
			time.Sleep(50 * time.Millisecond)
		}
		n.ok("vzctl", "exec2", "101", "true")
		n.ok("vzctl", "stop", "--fast", "101")
		n.noLeftovers()
	}
}

func TestStopTimeout(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	// An init that ignores every halt request.
	os.Remove(n.path("private/101/sbin/init"))
	n.writeFile("private/101/sbin/init", "#!/bin/sh\ntrap '' TERM INT HUP USR1 USR2 PWR QUIT 37 38\nwhile :; do sleep 1; done\n")
	os.Chmod(n.path("private/101/sbin/init"), 0o755)
	n.ok("vzctl", "set", "101", "--stop-timeout", "2", "--save")
	n.ok("vzctl", "start", "101")
	start := time.Now()
	n.ok("vzctl", "stop", "101")
	if d := time.Since(start); d < 1500*time.Millisecond || d > 30*time.Second {
		t.Fatalf("stop took %v with a 2 s timeout", d)
	}
	if s := n.status("101"); s != "CTID 101 exist unmounted down" {
		t.Fatalf("status %q", s)
	}
	n.noLeftovers()
}

func TestContainerRootIsConfined(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "start", "101")
	defer n.run("vzctl", "stop", "--fast", "101")
	// CAP_SYS_MODULE (16), CAP_SYS_RAWIO (17), CAP_SYS_TIME (25) are not in
	// the bounding set; CAP_SYS_BOOT (22) is (reboot must work).
	r := n.ok("vzctl", "exec2", "101", "grep CapBnd /proc/self/status")
	f := strings.Fields(r.out)
	bnd, err := strconv.ParseUint(f[len(f)-1], 16, 64)
	if err != nil {
		t.Fatalf("CapBnd: %q", r.out)
	}
	for _, c := range []uint{16, 17, 25} {
		if bnd&(1<<c) != 0 {
			t.Errorf("capability %d in the bounding set %x", c, bnd)
		}
	}
	if bnd&(1<<22) == 0 {
		t.Errorf("CAP_SYS_BOOT missing from %x", bnd)
	}
	// Loading a module fails even with a real module file (when the host has any).
	mods, _ := filepath.Glob("/lib/modules/*/kernel/*/*/*.ko*")
	if len(mods) > 0 {
		os.MkdirAll(n.path("private/101/tmp"), 0o1777)
		data, _ := os.ReadFile(mods[0])
		os.WriteFile(n.path("private/101/tmp/m.ko"), data, 0o644)
		n.fails(1, "vzctl", "exec2", "101", "insmod /tmp/m.ko 2>/dev/null && exit 0 || exit 1")
	}
	// exec'd processes run under the same syscall filter as the init.
	for _, pid := range []string{"self", "1"} {
		if r := n.ok("vzctl", "exec2", "101", "grep '^Seccomp:' /proc/"+pid+"/status"); strings.Fields(r.out)[1] != "2" {
			t.Fatalf("%s not under a seccomp filter: %q", pid, r.out)
		}
	}
	n.fails(1, "vzctl", "exec2", "101", "echo h > /proc/sysrq-trigger 2>/dev/null && exit 0 || exit 1")
	n.fails(1, "vzctl", "exec2", "101", "mount -o remount,rw /sys 2>/dev/null && exit 0 || exit 1")
	n.fails(1, "vzctl", "exec2", "101", "touch /sys/kernel/x 2>/dev/null && exit 0 || exit 1")
	// The host's root disk: make its node inside and try to read it.
	var st struct{ maj, min int }
	dev, err := os.ReadFile("/sys/class/block/" + rootDisk() + "/dev")
	if err != nil {
		t.Fatalf("host root disk: %v", err)
	}
	fmt.Sscanf(strings.TrimSpace(string(dev)), "%d:%d", &st.maj, &st.min)
	n.fails(1, "vzctl", "exec2", "101", fmt.Sprintf("mknod /tmp/disk b %d %d 2>/dev/null; dd if=/tmp/disk of=/dev/null bs=512 count=1 2>/dev/null && exit 0 || exit 1", st.maj, st.min))
}

// rootDisk names the block device holding the host's /.
func rootDisk() string {
	ms, _ := mountinfo.Read(0)
	for _, m := range ms {
		if m.MountPoint == "/" {
			return filepath.Base(m.Source)
		}
	}
	return "vda"
}
