package ubc

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"govz/conf"
	"govz/ct/cgroup"
	"govz/ct/vzerror"
)

// settings builds Settings the way a container's file would hold them.
func settings(t *testing.T, kv ...string) *Settings {
	t.Helper()
	c := &conf.Config{}
	for i := 0; i < len(kv); i += 2 {
		if err := c.SetString(kv[i], kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := FromConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func allControllers(l cgroup.Layout) map[string]bool {
	m := map[string]bool{}
	for _, c := range controllersOf(l) {
		m[c] = true
	}
	return m
}

func v1Env() Env {
	return Env{Layout: cgroup.V1, PageSize: 4096, Controllers: allControllers(cgroup.V1), Swap: true, KmemTCP: true,
		BlockDev: "254:0", IOWeightFile: "blkio.bfq.weight", ParentCPUs: "0-3", ParentMems: "0",
		NodeCPUs: map[int]string{0: "0-1", 1: "2-3"}, NrOpen: 1048576}
}

func v2Env() Env {
	return Env{Layout: cgroup.V2, PageSize: 4096, Controllers: allControllers(cgroup.V2), Swap: true,
		BlockDev: "254:0", IOWeightFile: "io.weight", NodeCPUs: map[int]string{0: "0-1", 1: "2-3"}, NrOpen: 1048576}
}

// full is a configuration that sets every mapped key.
func full(t *testing.T) *Settings {
	return settings(t,
		"physpages", "0:64M", "swappages", "0:128M", "numproc", "64", "vmguarpages", "32M",
		"oomguarpages", "16M:unlimited", "tcpsndbuf", "1M", "tcprcvbuf", "2M",
		"cpuunits", "2000", "cpulimit", "25", "cpus", "2", "cpumask", "2,0-1", "nodemask", "0",
		"ioprio", "6", "iolimit", "10", "iopslimit", "100",
		"numfile", "1024:2048", "lockedpages", "256", "numsiginfo", "512", "shmpages", "8192", "numpty", "16",
		"privvmpages", "unlimited", "kmemsize", "10M")
}

func render(ws []Write) []string {
	var out []string
	for _, w := range ws {
		s := w.Controller + " " + w.File + "=" + w.Value
		if w.Subtree {
			s += " (subtree)"
		}
		if w.EachGroup {
			s += " (each group)"
		}
		out = append(out, s)
	}
	return out
}

func same(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestPlanV1Exact(t *testing.T) {
	r, err := Plan(full(t), v1Env())
	if err != nil {
		t.Fatal(err)
	}
	same(t, render(r.Writes), []string{
		"memory memory.limit_in_bytes=67108864",
		"memory memory.memsw.limit_in_bytes=201326592",
		"memory memory.soft_limit_in_bytes=33554432",
		"memory memory.kmem.tcp.limit_in_bytes=3145728",
		"pids pids.max=64",
		"cpu cpu.shares=2048",
		"cpu cpu.cfs_period_us=100000",
		"cpu cpu.cfs_quota_us=25000", // 25% is below --cpus 2 (200%)
		"cpuset cpuset.mems=0 (subtree)",
		"cpuset cpuset.cpus=0-2 (subtree)",
		"blkio blkio.bfq.weight=400",
		"blkio blkio.throttle.read_bps_device=254:0 10485760 (each group)",
		"blkio blkio.throttle.write_bps_device=254:0 10485760 (each group)",
		"blkio blkio.throttle.read_iops_device=254:0 100 (each group)",
		"blkio blkio.throttle.write_iops_device=254:0 100 (each group)",
	})
	want := []ProcKnob{
		{Kind: KnobRlimit, Resource: 7, Soft: 1024, Hard: 2048, Key: "numfile"},
		{Kind: KnobRlimit, Resource: 8, Soft: 256 * 4096, Hard: 256 * 4096, Key: "lockedpages"},
		{Kind: KnobRlimit, Resource: 11, Soft: 512, Hard: 512, Key: "numsiginfo"},
		{Kind: KnobShmAll, Soft: 8192, Key: "shmpages"},
		{Kind: KnobPtyMax, Soft: 16, Key: "numpty"},
	}
	if !slices.Equal(r.Knobs, want) {
		t.Fatalf("knobs %+v\nwant %+v", r.Knobs, want)
	}
}

func TestPlanV2Exact(t *testing.T) {
	r, err := Plan(full(t), v2Env())
	if err != nil {
		t.Fatal(err)
	}
	same(t, render(r.Writes), []string{
		"memory memory.max=67108864",
		"memory memory.swap.max=134217728",
		"memory memory.low=33554432",
		"memory memory.min=16777216",
		"pids pids.max=64",
		"cpu cpu.weight=200",
		"cpu cpu.max=25000 100000",
		"cpuset cpuset.cpus=0-2\n",
		"cpuset cpuset.mems=0\n",
		"io io.weight=400",
		"io io.max=254:0 rbps=10485760 wbps=10485760 riops=100 wiops=100",
	})
	if len(r.Knobs) != 5 {
		t.Fatalf("knobs %+v", r.Knobs)
	}
}

// An empty configuration plans every cgroup file at its "no limit" value,
// which is what --reset_ub writes for keys the config leaves unset.
func TestPlanDefaults(t *testing.T) {
	r, err := Plan(settings(t), v1Env())
	if err != nil {
		t.Fatal(err)
	}
	same(t, render(r.Writes), []string{
		"memory memory.limit_in_bytes=-1",
		"memory memory.memsw.limit_in_bytes=-1",
		"memory memory.soft_limit_in_bytes=-1",
		"memory memory.kmem.tcp.limit_in_bytes=-1",
		"pids pids.max=max",
		"cpu cpu.shares=1024",
		"cpu cpu.cfs_period_us=100000",
		"cpu cpu.cfs_quota_us=-1",
		"cpuset cpuset.mems=0 (subtree)",
		"cpuset cpuset.cpus=0-3 (subtree)",
		"blkio blkio.bfq.weight=100",
		"blkio blkio.throttle.read_bps_device=254:0 0 (each group)",
		"blkio blkio.throttle.write_bps_device=254:0 0 (each group)",
		"blkio blkio.throttle.read_iops_device=254:0 0 (each group)",
		"blkio blkio.throttle.write_iops_device=254:0 0 (each group)",
	})
	if len(r.Knobs) != 0 {
		t.Fatalf("knobs for unset keys: %+v", r.Knobs)
	}
	r, err = Plan(settings(t), v2Env())
	if err != nil {
		t.Fatal(err)
	}
	same(t, render(r.Writes), []string{
		"memory memory.max=max",
		"memory memory.swap.max=max",
		"memory memory.low=0",
		"memory memory.min=0",
		"pids pids.max=max",
		"cpu cpu.weight=100",
		"cpu cpu.max=max 100000",
		"cpuset cpuset.cpus=\n",
		"cpuset cpuset.mems=\n",
		"io io.weight=100",
		"io io.max=254:0 rbps=max wbps=max riops=max wiops=max",
	})
}

// A fresh group needs only what the config sets; a live change only what
// the changed keys carry (and what depends on them).
func TestPlanFilter(t *testing.T) {
	s := settings(t, "physpages", "0:256M", "swappages", "0:512M", "cpuunits", "1000")
	if got := s.SetKeys(); !slices.Equal(got, []string{"physpages", "swappages", "cpuunits"}) {
		t.Fatalf("SetKeys %v", got)
	}
	r, _ := Plan(s, v1Env())
	same(t, render(r.Filter(s.SetKeys()).Writes), []string{
		"memory memory.limit_in_bytes=268435456",
		"memory memory.memsw.limit_in_bytes=805306368",
		"cpu cpu.shares=1024",
	})
	same(t, render(r.Filter([]string{"swappages"}).Writes), []string{
		"memory memory.memsw.limit_in_bytes=805306368",
	})
	r, _ = Plan(settings(t, "cpus", "1"), v2Env())
	same(t, render(r.Filter([]string{"cpus"}).Writes), []string{"cpu cpu.max=100000 100000"})
	r, _ = Plan(settings(t, "nodemask", "1", "cpumask", "auto"), v1Env())
	same(t, render(r.Filter([]string{"nodemask"}).Writes), []string{
		"cpuset cpuset.mems=1 (subtree)", "cpuset cpuset.cpus=2-3 (subtree)"})
}

func TestPlanEdges(t *testing.T) {
	// Unlimited RAM with a swap limit: memsw cannot express it.
	r, _ := Plan(settings(t, "swappages", "0:1G"), v1Env())
	if got := render(r.Filter([]string{"swappages"}).Writes); !slices.Equal(got, []string{"memory memory.memsw.limit_in_bytes=-1"}) {
		t.Fatal(got)
	}
	// --cpus alone caps at whole CPUs; cpulimit 0 means none.
	r, _ = Plan(settings(t, "cpus", "3", "cpulimit", "0"), v1Env())
	if got := render(r.Filter([]string{"cpus"}).Writes); got[1] != "cpu cpu.cfs_quota_us=300000" {
		t.Fatal(got)
	}
	// cpuunits are clamped to what each kernel takes.
	for _, c := range []struct {
		units      string
		v1, weight string
	}{{"8", "cpu.shares=8", "cpu.weight=1"}, {"500000", "cpu.shares=262144", "cpu.weight=10000"}} {
		r1, _ := Plan(settings(t, "cpuunits", c.units), v1Env())
		r2, _ := Plan(settings(t, "cpuunits", c.units), v2Env())
		if render(r1.Filter([]string{"cpuunits"}).Writes)[0] != "cpu "+c.v1 ||
			render(r2.Filter([]string{"cpuunits"}).Writes)[0] != "cpu "+c.weight {
			t.Fatalf("cpuunits %s: %v %v", c.units, r1.Writes, r2.Writes)
		}
	}
	// Missing controllers and devices plan nothing for them.
	env := v1Env()
	delete(env.Controllers, "pids")
	env.BlockDev, env.IOWeightFile, env.Swap, env.KmemTCP = "", "", false, false
	r, _ = Plan(settings(t, "numproc", "10", "iolimit", "5", "swappages", "0:1G"), env)
	for _, w := range r.Writes {
		if w.Controller == "pids" || w.Controller == "blkio" || strings.Contains(w.File, "memsw") {
			t.Errorf("planned %v without the knob", w)
		}
	}
	// numfile is capped at fs.nr_open.
	r, _ = Plan(settings(t, "numfile", "unlimited"), v1Env())
	if k := r.Knobs[0]; k.Soft != 1048576 || k.Hard != 1048576 || !k.SoftMax || !k.HardMax {
		t.Fatalf("numfile knob %+v", k)
	}
	// cpumask auto needs known nodes.
	if _, err := Plan(settings(t, "nodemask", "5", "cpumask", "auto"), v1Env()); !errors.Is(err, vzerror.ErrInvalidValue) {
		t.Fatalf("unknown node: %v", err)
	}
}

func TestParseIOLimits(t *testing.T) {
	for in, want := range map[string]int64{"10": 10 << 20, "512K": 512 << 10, "1G": 1 << 30, "0": 0, "unlimited": 0, "100B": 100} {
		if got, err := ParseIOLimit(in); err != nil || got != want {
			t.Errorf("ParseIOLimit(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"3G", "-1", "x", ""} {
		if _, err := ParseIOLimit(bad); !errors.Is(err, vzerror.ErrInvalidValue) && !errors.Is(err, conf.ErrBadValue) {
			t.Errorf("ParseIOLimit(%q) = %v", bad, err)
		}
	}
	if v, err := ParseIOPSLimit("250"); err != nil || v != 250 {
		t.Error(v, err)
	}
	if _, err := ParseIOPSLimit("1K"); err == nil {
		t.Error("iopslimit with a suffix accepted")
	}
}

func TestIOWeight(t *testing.T) {
	want := []int{6, 13, 25, 50, 100, 200, 400, 800}
	for p, w := range want {
		if got := ioWeight(p); got != w {
			t.Errorf("ioWeight(%d) = %d, want %d", p, got, w)
		}
	}
}

func TestDescribe(t *testing.T) {
	v1, v2 := v1Env(), v2Env()
	cases := []struct {
		key    string
		env    Env
		status Status
		how    string
	}{
		{"physpages", v1, Enforced, "memory.limit_in_bytes"},
		{"physpages", v2, Enforced, "memory.max"},
		{"swappages", v2, Enforced, "memory.swap.max"},
		{"oomguarpages", v1, NotEnforced, "not enforced on this kernel: cgroup v1 has no memory.min"},
		{"kmemsize", v1, Accounted, "accounted in memory.limit_in_bytes"},
		{"tcpsndbuf", v1, Enforced, "memory.kmem.tcp.limit_in_bytes (tcpsndbuf+tcprcvbuf limits)"},
		{"tcpsndbuf", v2, Accounted, "accounted in memory.max"},
		{"numproc", v2, Enforced, "pids.max"},
		{"privvmpages", v2, NotEnforced, "not enforced on this kernel: no per-container knob"},
		{"numiptent", v1, NotEnforced, "not enforced on this kernel: no per-container knob"},
		{"iolimit", v2, Enforced, "io.max rbps wbps on 254:0"},
		{"cpulimit", v1, Enforced, "cpu.cfs_quota_us"},
	}
	for _, c := range cases {
		if got := Describe(c.key, c.env); got.Status != c.status || got.How != c.how {
			t.Errorf("Describe(%s, %s) = %+v", c.key, c.env.Layout, got)
		}
	}
	noSwap := v1
	noSwap.Swap = false
	if d := Describe("swappages", noSwap); d.Status != NotEnforced {
		t.Errorf("swap without accounting: %+v", d)
	}
	noDev := v2
	noDev.BlockDev = ""
	if d := Describe("iopslimit", noDev); d.Status != NotEnforced || !strings.Contains(d.How, "block device") {
		t.Errorf("iopslimit off a block device: %+v", d)
	}
	for _, k := range Keys {
		if d := Describe(k, v2); d.How == "not a resource key" {
			t.Errorf("%s undescribed", k)
		}
	}
}

func TestFromConfigRejects(t *testing.T) {
	for _, kv := range [][2]string{{"cpumask", "0-"}, {"nodemask", "a"}, {"iolimit", "5G"}} {
		c := &conf.Config{}
		c.SetString(kv[0], kv[1])
		if _, err := FromConfig(c); !errors.Is(err, vzerror.ErrInvalidValue) {
			t.Errorf("%s=%s: %v", kv[0], kv[1], err)
		}
	}
}
