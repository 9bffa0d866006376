package ubc

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/cgroup"
	"govz/internal/mountinfo"
	"govz/internal/roottest"
)

// testGroup creates a container-shaped group under a test-private parent
// and removes it (killing what is in it) when the test ends.
func testGroup(t *testing.T) *cgroup.Group {
	t.Helper()
	roottest.Require(t, "cgroups, namespaces")
	parent := fmt.Sprintf("govz-ubc-test-%d", os.Getpid())
	g, err := cgroup.Open(parent, strings.ReplaceAll(t.Name(), "/", "_"))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.Kill(ctx); err != nil {
			t.Error(err)
		}
		if err := g.Destroy(); err != nil {
			t.Error(err)
		}
		if err := cgroup.RemoveParentIfEmpty(parent); err != nil {
			t.Error(err)
		}
	})
	return g
}

func readTrim(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// The plan's files exist and take the plan's values on this kernel, memsw
// ordering included, and a cpuset move carries INNER along.
func TestApplyRealGroup(t *testing.T) {
	g := testGroup(t)
	env := ProbeEnv(g, HostFS{}, t.TempDir())
	if env.Layout != cgroup.V1 && env.Layout != cgroup.V2 {
		t.Fatalf("layout %v", env.Layout)
	}
	s := settings(t, "physpages", "0:64M", "swappages", "0:64M", "numproc", "64", "cpuunits", "500",
		"cpulimit", "25", "cpumask", "0", "iolimit", "10", "iopslimit", "100", "ioprio", "2")
	r, err := Plan(s, env)
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(g, HostFS{}, r); err != nil {
		t.Fatal(err)
	}
	for _, w := range r.Writes {
		dir, _ := g.OuterPath(w.Controller)
		got := readTrim(t, dir+"/"+w.File)
		want := strings.TrimSpace(w.Value)
		switch {
		case strings.Contains(w.File, "throttle"):
			// The kernel lists rules, one per device: "254:0 10485760".
			if want != "" && !strings.HasSuffix(want, " 0") && !strings.Contains(got, want) {
				t.Errorf("%s: %q, want a rule %q", w.File, got, want)
			}
			continue
		case w.File == "memory.soft_limit_in_bytes" || (w.Value == "-1" && strings.HasPrefix(w.File, "memory.")):
			continue // -1 reads back as the page-rounded LONG_MAX
		case strings.HasSuffix(w.File, "weight") && strings.HasPrefix(w.File, "blkio.") || strings.HasPrefix(w.File, "io."):
			// Proportional weights read back as "default N" and per-device
			// overrides.
			got = strings.TrimPrefix(got, "default ")
		}
		if got != want {
			t.Errorf("%s: reads %q after writing %q", w.File, got, want)
		}
	}
	if env.Layout == cgroup.V1 {
		inner := filepath.Join(mustOuter(t, g, "cpuset"), "ct")
		if got := readTrim(t, inner+"/cpuset.cpus"); got != "0" {
			t.Errorf("INNER cpuset.cpus %q after narrowing OUTER to 0", got)
		}
		if env.BlockDev != "" {
			// Flat v1 throttling: INNER carries its own rule.
			inner := filepath.Join(mustOuter(t, g, "blkio"), "ct")
			if got := readTrim(t, inner+"/blkio.throttle.read_bps_device"); got != env.BlockDev+" 10485760" {
				t.Errorf("INNER read_bps_device %q", got)
			}
		}
	}
	// Raise and lower memory around each other (memsw ordering on v1).
	for _, ram := range []string{"0:256M", "0:32M", "unlimited"} {
		r, _ := Plan(settings(t, "physpages", ram, "swappages", "0:16M"), env)
		if err := Apply(g, HostFS{}, r.Filter([]string{"physpages"})); err != nil {
			t.Fatalf("ram %s: %v", ram, err)
		}
	}
	// Back to every CPU: INNER may widen again only after OUTER.
	r, _ = Plan(settings(t, "cpumask", "all"), env)
	if err := Apply(g, HostFS{}, r.Filter([]string{"cpumask"})); err != nil {
		t.Fatal(err)
	}
	if env.Layout == cgroup.V1 {
		inner := filepath.Join(mustOuter(t, g, "cpuset"), "ct")
		if got := readTrim(t, inner+"/cpuset.cpus"); got != env.ParentCPUs {
			t.Errorf("INNER cpuset.cpus %q, want the parent's %q", got, env.ParentCPUs)
		}
	}
	// A process in INNER shows in the counters.
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if err := g.AddProc(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	c := ReadCounters(g, HostFS{}, env.PageSize)
	if n := c.UBC["numproc"].Held; n == nil || *n != 1 {
		t.Errorf("numproc held %v", fmtC(c.UBC["numproc"]))
	}
	if p := c.UBC["physpages"].Held; p == nil || *p <= 0 {
		t.Errorf("physpages held %v", fmtC(c.UBC["physpages"]))
	}
	if c.CPU.UsageNS == nil {
		t.Error("no cpu usage")
	}
}

func mustOuter(t *testing.T, g *cgroup.Group, c string) string {
	t.Helper()
	d, err := g.OuterPath(c)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The per-process knobs reach a process in its own IPC and mount
// namespaces, with its own devpts instance, and nothing of the host's.
func TestKnobsReal(t *testing.T) {
	roottest.Require(t, "cgroups, namespaces")
	cmd := exec.Command("unshare", "--ipc", "--mount", "--propagation", "private", "sh", "-c",
		"mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts /dev/pts && echo ready && exec sleep 60")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if l, _ := bufio.NewReader(out).ReadString('\n'); l != "ready\n" {
		t.Fatalf("helper said %q", l)
	}
	pid := cmd.Process.Pid
	hostShm := readTrim(t, "/proc/sys/kernel/shmall")
	knobs := []ProcKnob{
		{Kind: KnobRlimit, Resource: unix.RLIMIT_NOFILE, Soft: 100, Hard: 200, Key: "numfile"},
		{Kind: KnobShmAll, Soft: 1234, Key: "shmpages"},
		{Kind: KnobPtyMax, Soft: 5, Key: "numpty"},
	}
	if err := ApplyKnobs([]int{pid}, pid, knobs); err != nil {
		t.Fatal(err)
	}
	var lim unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &lim); err != nil || lim.Cur != 100 || lim.Max != 200 {
		t.Errorf("RLIMIT_NOFILE %+v %v", lim, err)
	}
	ns, err := exec.Command("nsenter", "-t", strconv.Itoa(pid), "-i", "cat", "/proc/sys/kernel/shmall").Output()
	if err != nil || strings.TrimSpace(string(ns)) != "1234" {
		t.Errorf("shmall inside %q %v", ns, err)
	}
	if got := readTrim(t, "/proc/sys/kernel/shmall"); got != hostShm {
		t.Errorf("host shmall changed to %s", got)
	}
	// The helper's own instance is the last mount on /dev/pts.
	top := ""
	ms, err := mountinfo.Read(pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.MountPoint == "/dev/pts" && m.FSType == "devpts" {
			top = strings.Join(m.SuperOptions, ",")
		}
	}
	if !strings.Contains(top, "max=5") || !strings.Contains(top, "ptmxmode=666") || !strings.Contains(top, "gid=5") {
		t.Errorf("devpts after reconfigure: %s", top)
	}
	host, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(host), "max=5") {
		t.Error("the host's devpts changed")
	}
}
