package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"govz/internal/mountinfo"
)

// ctCgroupFile finds file in container id's OUTER group: in the v1
// hierarchy that has it, or in the cgroup2 group.
func (n *node) ctCgroupFile(id, file string) string {
	n.t.Helper()
	cands, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", n.cgroupParent(), id, file))
	cands = append(cands, filepath.Join("/sys/fs/cgroup", n.cgroupParent(), id, file))
	for _, c := range cands {
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	n.t.Fatalf("no %s for container %s", file, id)
	return ""
}

func (n *node) cgroupRead(id, file string) string {
	n.t.Helper()
	b, err := os.ReadFile(n.ctCgroupFile(id, file))
	if err != nil {
		n.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// memLimit is the container's RAM limit in bytes, on either layout.
func (n *node) memLimit(id string) string {
	n.t.Helper()
	for _, f := range []string{"memory.limit_in_bytes", "memory.max"} {
		if p, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", n.cgroupParent(), id, f)); len(p) > 0 {
			return n.cgroupRead(id, f)
		}
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", n.cgroupParent(), id, f)); err == nil {
			return n.cgroupRead(id, f)
		}
	}
	n.t.Fatal("no memory limit file")
	return ""
}

// cpuQuota is the container's CFS quota in microseconds per period, on
// either layout (v1 cpu.cfs_quota_us, v2 the first field of cpu.max).
func (n *node) cpuQuota(id string) string {
	n.t.Helper()
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", n.cgroupParent(), id, "cpu.max")); err == nil {
		return strings.Fields(n.cgroupRead(id, "cpu.max"))[0]
	}
	return n.cgroupRead(id, "cpu.cfs_quota_us")
}

// ubcReport is `vzctl ubc -j`'s shape, the parts the tests read.
type ubcReport struct {
	ID   int `json:"ctid"`
	Rows []struct {
		Resource    string `json:"resource"`
		Held        *int64 `json:"held"`
		MaxHeld     *int64 `json:"maxheld"`
		Barrier     int64  `json:"barrier"`
		Limit       int64  `json:"limit"`
		FailCnt     *int64 `json:"failcnt"`
		Enforcement string `json:"enforcement"`
	} `json:"beancounters"`
	CPU struct {
		UsageNS   *int64 `json:"usage_ns"`
		Throttled *int64 `json:"nr_throttled"`
	} `json:"cpu"`
	OOMKills *int64 `json:"oom_kills"`
}

func (n *node) ubc(id string) ubcReport {
	n.t.Helper()
	r := n.ok("vzctl", "ubc", "-j", id)
	var reps []ubcReport
	if err := json.Unmarshal([]byte(r.out), &reps); err != nil || len(reps) != 1 {
		n.t.Fatalf("vzctl ubc -j: %v\n%s", err, r.out)
	}
	return reps[0]
}

// row returns one beancounter's held, maxheld, limit and failcnt (-1 for
// unknown).
func (u ubcReport) row(name string) (held, maxheld, limit, fail int64) {
	v := func(p *int64) int64 {
		if p == nil {
			return -1
		}
		return *p
	}
	for _, r := range u.Rows {
		if r.Resource == name {
			return v(r.Held), v(r.MaxHeld), r.Limit, v(r.FailCnt)
		}
	}
	return -1, -1, -1, -1
}

// vzlistField reads one vzlist field of one container.
func (n *node) vzlistField(id, field string) string {
	n.t.Helper()
	return strings.TrimSpace(n.ok("vzlist", "-H", "-o", field, id).out)
}

// A memory hog in a --ram 64M container is OOM-killed inside it: the
// container, a sibling and the host carry on, and the counters show it.
func TestResMemoryHog(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "create", "102")
	n.ok("vzctl", "set", "101", "--ram", "64M", "--swap", "0", "--save")
	n.ok("vzctl", "start", "101")
	n.ok("vzctl", "start", "102")
	if got := n.memLimit("101"); got != strconv.Itoa(64<<20) {
		t.Fatalf("RAM limit %s", got)
	}
	host := exec.Command("sleep", "60")
	host.Start()
	defer func() { host.Process.Kill(); host.Wait() }()
	n.ok("vzctl", "exec", "102", "sleep 60 >/dev/null 2>&1 &")

	// 32M fits; 200M does not and dies by SIGKILL (137).
	n.ok("vzctl", "exec2", "101", "dd if=/dev/zero of=/dev/null bs=32M count=1 2>/dev/null")
	n.fails(137, "vzctl", "exec2", "101", "dd if=/dev/zero of=/dev/null bs=200M count=1 2>/dev/null")

	u := n.ubc("101")
	_, maxheld, limit, fail := u.row("physpages")
	if limit != 16384 || fail <= 0 || maxheld > 16384 || maxheld < 8192 {
		t.Fatalf("physpages maxheld %d limit %d failcnt %d", maxheld, limit, fail)
	}
	if u.OOMKills == nil || *u.OOMKills < 1 {
		t.Fatalf("oom kills %v", u.OOMKills)
	}
	if f := n.vzlistField("101", "physpages.f"); f == "0" || f == "-" {
		t.Fatalf("vzlist physpages.f %q", f)
	}
	// The container lives on; the sibling and the host saw nothing.
	n.ok("vzctl", "exec", "101", "true")
	if s := n.status("101"); s != "CTID 101 exist mounted running" {
		t.Fatalf("101 after OOM: %q", s)
	}
	if r := n.ok("vzctl", "exec2", "102", "pidof sleep"); strings.TrimSpace(r.out) == "" {
		t.Fatal("the sibling's process is gone")
	}
	if u2 := n.ubc("102"); u2.OOMKills == nil || *u2.OOMKills != 0 {
		t.Fatalf("sibling oom kills %v", u2.OOMKills)
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", host.Process.Pid)); err != nil || strings.Contains(string(st), ") Z ") {
		t.Fatal("the host's process is gone")
	}
	n.ok("vzctl", "stop", "101")
	n.ok("vzctl", "stop", "102")
	n.noLeftovers()
}

// A fork bomb in a --numproc 64 container stays at 64 tasks, the refused
// forks are counted, and the container still answers exec.
func TestResForkBomb(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "set", "101", "--numproc", "64", "--save")
	n.ok("vzctl", "start", "101")
	if got := n.cgroupRead("101", "pids.max"); got != "64" {
		t.Fatalf("pids.max %s", got)
	}
	// The bomb runs until /tmp/stop appears.
	n.ok("vzctl", "exec", "101", "(f(){ f|f& }; while [ ! -e /tmp/stop ]; do f; done) >/dev/null 2>&1 &")
	time.Sleep(500 * time.Millisecond)
	answered := 0
	for i := 0; i < 100 && answered < 3; i++ {
		if c, _ := strconv.Atoi(n.cgroupRead("101", "pids.current")); c > 64+2 {
			t.Fatalf("pids.current %d above the limit", c)
		}
		if r := n.run("vzctl", "exec2", "101", "echo alive"); r.code == 0 && r.out == "alive\n" {
			answered++
		}
		time.Sleep(20 * time.Millisecond)
	}
	if answered < 3 {
		t.Fatal("the container does not answer exec under the fork bomb")
	}
	// Stop it: the file, then whatever is left.
	end := time.Now().Add(15 * time.Second)
	for n.run("vzctl", "exec2", "101", "touch /tmp/stop").code != 0 {
		if time.Now().After(end) {
			t.Fatal("cannot stop the bomb")
		}
		time.Sleep(20 * time.Millisecond)
	}
	u := n.ubc("101")
	_, maxheld, limit, fail := u.row("numproc")
	// pids.max stops forks only: a process joining from outside (each
	// vzctl exec) may push the count past it, as in OpenVZ.
	if limit != 64 || maxheld > 64+2 || maxheld < 32 || fail <= 0 {
		t.Fatalf("numproc maxheld %d limit %d failcnt %d", maxheld, limit, fail)
	}
	if f := n.vzlistField("101", "numproc.f"); f == "0" || f == "-" {
		t.Fatalf("vzlist numproc.f %q", f)
	}
	n.ok("vzctl", "stop", "101")
	n.noLeftovers()
}

// --cpulimit 25 holds two busy loops near 25% of one CPU.
func TestResCPULimit(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "set", "101", "--cpulimit", "25", "--save")
	n.ok("vzctl", "start", "101")
	if got := n.cpuQuota("101"); got != "25000" {
		t.Fatalf("cfs quota %s", got)
	}
	n.ok("vzctl", "exec", "101", "for i in 1 2; do timeout 4 sh -c 'while :; do :; done' >/dev/null 2>&1 & done")
	time.Sleep(500 * time.Millisecond) // past the start-up burst
	u0, t0 := *n.ubc("101").CPU.UsageNS, time.Now()
	time.Sleep(2500 * time.Millisecond)
	u := n.ubc("101")
	ratio := float64(*u.CPU.UsageNS-u0) / float64(time.Since(t0).Nanoseconds())
	t.Logf("cpu use under --cpulimit 25: %.1f%% of one CPU", ratio*100)
	if ratio < 0.15 || ratio > 0.35 {
		t.Fatalf("cpu use %.2f of one CPU under --cpulimit 25", ratio)
	}
	if u.CPU.Throttled == nil || *u.CPU.Throttled == 0 {
		t.Fatal("no throttled periods counted")
	}
	n.ok("vzctl", "stop", "--fast", "101")
	n.noLeftovers()
}

// A change to a running container applies at once; without --save it
// warns and is gone after a restart; --save keeps it; --reset_ub and
// --applyconfig; keys without a knob are stored with a warning.
func TestResLiveSetAndSave(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101") // vswap-256m
	n.ok("vzctl", "start", "101")
	if got := n.memLimit("101"); got != strconv.Itoa(256<<20) {
		t.Fatalf("sample RAM limit %s", got)
	}
	conf0, _ := os.ReadFile(n.path("conf/101.toml"))
	r := n.ok("vzctl", "set", "101", "--ram", "32M")
	if !strings.Contains(r.err+r.out, "will be lost after CT restart") {
		t.Fatalf("no warning without --save:\n%s", r)
	}
	if got := n.memLimit("101"); got != strconv.Itoa(32<<20) {
		t.Fatalf("live RAM limit %s", got)
	}
	if conf1, _ := os.ReadFile(n.path("conf/101.toml")); string(conf1) != string(conf0) {
		t.Fatal("set without --save changed the config")
	}
	n.fails(137, "vzctl", "exec2", "101", "dd if=/dev/zero of=/dev/null bs=48M count=1 2>/dev/null")
	n.ok("vzctl", "set", "101", "--ram", "128M")
	n.ok("vzctl", "exec2", "101", "dd if=/dev/zero of=/dev/null bs=48M count=1 2>/dev/null")
	if _, _, limit, _ := n.ubc("101").row("physpages"); limit != 32768 {
		t.Fatalf("ubc shows limit %d, not the live 128M", limit)
	}
	// --reset_ub brings the stored value back.
	n.ok("vzctl", "set", "101", "--reset_ub")
	if got := n.memLimit("101"); got != strconv.Itoa(256<<20) {
		t.Fatalf("after --reset_ub %s", got)
	}
	n.fails(20, "vzctl", "set", "101", "--reset_ub", "--ram", "1G")
	// Per-process knobs and devpts reach the running container.
	n.ok("vzctl", "set", "101", "--numfile", "900:1000", "--numpty", "4", "--save")
	if r := n.ok("vzctl", "exec2", "101", "grep 'open files' /proc/1/limits"); !strings.Contains(r.out, "900") || !strings.Contains(r.out, "1000") {
		t.Fatalf("init's limits: %q", r.out)
	}
	if r := n.ok("vzctl", "exec2", "101", "grep ' /dev/pts ' /proc/self/mountinfo"); !strings.Contains(r.out, "max=4") {
		t.Fatalf("devpts: %q", r.out)
	}
	// A restart drops what was not saved.
	n.ok("vzctl", "set", "101", "--ram", "96M", "--cpus", "1")
	n.ok("vzctl", "restart", "101")
	if got := n.memLimit("101"); got != strconv.Itoa(256<<20) {
		t.Fatalf("after restart %s", got)
	}
	// --save keeps it, live and across a restart.
	n.ok("vzctl", "set", "101", "--ram", "96M", "--save")
	if got := n.memLimit("101"); got != strconv.Itoa(96<<20) {
		t.Fatalf("saved RAM limit %s", got)
	}
	n.ok("vzctl", "restart", "101")
	if got := n.memLimit("101"); got != strconv.Itoa(96<<20) {
		t.Fatalf("saved RAM limit after restart %s", got)
	}
	// Options an OpenVZ script passes but no knob exists for.
	r = n.ok("vzctl", "set", "101", "--numtcpsock", "100", "--privvmpages", "1G", "--save")
	if !strings.Contains(r.err+r.out, "numtcpsock is not enforced on this kernel") {
		t.Fatalf("no not-enforced warning:\n%s", r)
	}
	if c, _ := os.ReadFile(n.path("conf/101.toml")); !strings.Contains(string(c), `numtcpsock = "100:100"`) {
		t.Fatalf("numtcpsock not stored:\n%s", c)
	}
	// A sample's keys, applied live.
	n.ok("vzctl", "set", "101", "--applyconfig", "vswap-512m", "--save")
	if got := n.memLimit("101"); got != strconv.Itoa(512<<20) {
		t.Fatalf("after --applyconfig vswap-512m %s", got)
	}
	// A key only a start applies: a warning, or --setmode restart (off:
	// on needs the host's device node, which the cgroup v2 VM lacks).
	r = n.ok("vzctl", "set", "101", "--features", "tun:off", "--save")
	if !strings.Contains(r.err+r.out, "Unable to apply features to a running container") {
		t.Fatalf("no restart warning:\n%s", r)
	}
	boot1, _ := n.runState("101")
	n.ok("vzctl", "set", "101", "--features", "fuse:off", "--save", "--setmode", "restart")
	if boot2, _ := n.runState("101"); boot2 == "" || boot2 == boot1 {
		t.Fatalf("--setmode restart did not restart: %q -> %q", boot1, boot2)
	}
	if got := n.memLimit("101"); got != strconv.Itoa(512<<20) {
		t.Fatalf("after --setmode restart %s", got)
	}
	// Bad values are refused before anything is saved.
	n.fails(21, "vzctl", "set", "101", "--iolimit", "3G", "--save")
	n.fails(20, "vzctl", "set", "101", "--setmode", "restart", "--ram", "1G")
	n.ok("vzctl", "stop", "101")
	n.noLeftovers()
}

// --iolimit throttles direct reads from the private area's disk.
func TestResIOLimit(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	data := make([]byte, 8<<20)
	if err := os.WriteFile(n.path("private/101/data"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	n.ok("vzctl", "start", "101")
	read := func() time.Duration {
		start := time.Now()
		n.ok("vzctl", "exec2", "101", "dd if=/data of=/dev/null bs=1M iflag=direct 2>/dev/null")
		return time.Since(start)
	}
	free := read()
	n.ok("vzctl", "set", "101", "--iolimit", "4M")
	limited := read()
	t.Logf("8M direct read: %v unlimited, %v at --iolimit 4M", free, limited)
	if limited < 1500*time.Millisecond || limited < 3*free {
		t.Fatalf("8M at 4M/s took %v (unlimited %v)", limited, free)
	}
	if s := n.ok("vzctl", "ubc", "101").out; !strings.Contains(s, "io read") {
		t.Fatalf("no io counters:\n%s", s)
	}
	n.ok("vzctl", "stop", "--fast", "101")
	n.noLeftovers()
}

// With LXCFS running, free and /proc/cpuinfo inside show the container's
// limits; without it, start says so.
func TestResLXCFS(t *testing.T) {
	if _, err := exec.LookPath("lxcfs"); err != nil {
		t.Fatal("lxcfs is not installed: run make deps")
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "lxcfs")
	os.Mkdir(mnt, 0o755)
	lx := exec.Command("lxcfs", "-f", "-p", filepath.Join(dir, "lxcfs.pid"), mnt)
	if err := lx.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		lx.Process.Signal(os.Interrupt)
		lx.Wait()
		exec.Command("umount", "-l", mnt).Run()
	})
	end := time.Now().Add(10 * time.Second)
	for {
		if ms, _ := mountinfo.Read(0); mountinfo.IsMountPoint(ms, mnt) {
			break
		}
		if time.Now().After(end) {
			t.Fatal("lxcfs did not mount")
		}
		time.Sleep(20 * time.Millisecond)
	}
	n := newNode(t)
	n.writeFile("conf/vz.toml", n.baseVZConf()+fmt.Sprintf("lxcfs = %q\n", mnt))
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "set", "101", "--ram", "64M", "--cpumask", "0", "--save")
	if r := n.ok("vzctl", "start", "101"); strings.Contains(r.out+r.err, "LXCFS is not available") {
		t.Fatalf("start says LXCFS is missing:\n%s", r)
	}
	r := n.ok("vzctl", "exec2", "101", "grep MemTotal /proc/meminfo")
	if f := strings.Fields(r.out); len(f) < 2 || f[1] != "65536" {
		t.Fatalf("MemTotal inside: %q", r.out)
	}
	if r := n.ok("vzctl", "exec2", "101", "grep -c ^processor /proc/cpuinfo"); strings.TrimSpace(r.out) != "1" {
		t.Fatalf("cpus inside: %q", r.out)
	}
	// top reads /proc/meminfo (busybox's free asks sysinfo(2), which LXCFS
	// cannot reach); uptime is the container's.
	if r := n.ok("vzctl", "exec2", "101", "top -bn1 | grep '^Mem:'"); !strings.Contains(r.out, "Mem:") {
		t.Fatalf("top inside: %q", r.out)
	} else if f := strings.Fields(r.out); len(f) < 4 || kb(f[1])+kb(f[3]) != 65536 {
		t.Fatalf("top's used+free inside is not 64M: %q", r.out)
	}
	if r := n.ok("vzctl", "exec2", "101", "cut -d. -f1 /proc/uptime"); kb(r.out) > 60 {
		t.Fatalf("uptime inside: %q", r.out)
	}
	n.ok("vzctl", "stop", "101")
	n.noLeftovers()

	// Without LXCFS the admin is told.
	n.writeFile("conf/vz.toml", n.baseVZConf()+fmt.Sprintf("lxcfs = %q\n", filepath.Join(dir, "none")))
	if r := n.ok("vzctl", "start", "101"); !strings.Contains(r.out+r.err, "LXCFS is not available") {
		t.Fatalf("start does not say LXCFS is missing:\n%s", r)
	}
	if r := n.ok("vzctl", "exec2", "101", "grep MemTotal /proc/meminfo"); strings.Contains(r.out, " 65536 ") {
		t.Fatalf("MemTotal without LXCFS: %q", r.out)
	}
	n.ok("vzctl", "stop", "101")
	n.noLeftovers()
}

// kb parses "1234K" or "1234" (0 when it cannot).
func kb(s string) int {
	v, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(s), "K"))
	return v
}
