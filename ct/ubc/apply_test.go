package ubc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"govz/conf"
	"govz/ct/cgroup"
	"govz/ct/vzerror"
	"govz/internal/mountinfo"
)

func TestLists(t *testing.T) {
	for in, want := range map[string]string{"0-2,7": "0-2,7", "7,0,1,2": "0-2,7", "3": "3", "1-1,2-3": "1-3", "": ""} {
		set, err := ParseList(in)
		if err != nil || FormatList(set) != want {
			t.Errorf("%q -> %v %q", in, err, FormatList(set))
		}
	}
	for _, bad := range []string{"2-1", "-1", "a", "0,,1", "9000"} {
		if _, err := ParseList(bad); !errors.Is(err, vzerror.ErrInvalidValue) {
			t.Errorf("ParseList(%q) = %v", bad, err)
		}
	}
}

// subset reports whether list a is inside list b.
func subset(a, b string) bool {
	x, _ := ParseList(a)
	y, _ := ParseList(b)
	for _, v := range x {
		if !slices.Contains(y, v) {
			return false
		}
	}
	return true
}

// Every step of a cpuset move keeps each child inside its parent, the rule
// cgroup v1 enforces, and everything ends at the target.
func TestCpusetSequence(t *testing.T) {
	dirs := []string{"/o", "/o/ct", "/o/ct/init.scope"}
	for _, c := range []struct{ cur, to string }{
		{"0-3", "1"}, {"1", "0-3"}, {"0", "1"}, {"0-1", "2-3"}, {"2", "2"},
	} {
		cur := map[string]string{"/o": c.cur, "/o/ct": c.cur, "/o/ct/init.scope": c.cur}
		steps, err := CpusetSequence(dirs, cur, c.to)
		if err != nil {
			t.Fatal(err)
		}
		state := map[string]string{}
		for k, v := range cur {
			state[k] = v
		}
		for _, s := range steps {
			state[s.Dir] = s.Value
			for _, d := range dirs[1:] {
				if !subset(state[d], state[filepath.Dir(d)]) {
					t.Fatalf("%s -> %s: after %v, %s=%s escapes its parent %s", c.cur, c.to, s, d, state[d], state[filepath.Dir(d)])
				}
			}
		}
		for _, d := range dirs {
			if state[d] != c.to {
				t.Fatalf("%s -> %s: %s ends at %q (%v)", c.cur, c.to, d, state[d], steps)
			}
		}
		if c.cur == c.to && len(steps) != 0 {
			t.Fatalf("no-op move wrote %v", steps)
		}
	}
}

// v1memsw behaves like the kernel: memsw below limit_in_bytes and
// limit_in_bytes above memsw are EINVAL (mm/memcontrol-v1.c
// mem_cgroup_resize_max).
func v1memsw(f *fakeFS, p, data string) error {
	dir := filepath.Dir(p)
	val := func(s string) int64 {
		if s == "-1" {
			return 1 << 62
		}
		v, _ := strconv.ParseInt(s, 10, 64)
		return v
	}
	switch filepath.Base(p) {
	case "memory.limit_in_bytes":
		if val(data) > val(f.files[dir+"/memory.memsw.limit_in_bytes"]) {
			return &os.PathError{Op: "write", Path: p, Err: syscall.EINVAL}
		}
	case "memory.memsw.limit_in_bytes":
		if val(data) < val(f.files[dir+"/memory.limit_in_bytes"]) {
			return &os.PathError{Op: "write", Path: p, Err: syscall.EINVAL}
		}
	}
	return nil
}

func TestApplyOrdersMemsw(t *testing.T) {
	const mem = "/sys/fs/cgroup/memory/govz/101"
	g := v1Group()
	for _, c := range []struct{ fromRAM, fromSW, ram, swap, wantRAM, wantSW string }{
		{"67108864", "134217728", "0:256M", "0:256M", "268435456", "536870912"}, // raise both
		{"268435456", "536870912", "0:64M", "0:0", "67108864", "67108864"},      // lower both
	} {
		fs := newFS(map[string]string{mem + "/memory.limit_in_bytes": c.fromRAM, mem + "/memory.memsw.limit_in_bytes": c.fromSW})
		fs.refuse = v1memsw
		r, _ := Plan(settings(t, "physpages", c.ram, "swappages", c.swap), v1Env())
		if err := Apply(g, fs, r.Filter([]string{"physpages"})); err != nil {
			t.Fatal(err)
		}
		if fs.files[mem+"/memory.limit_in_bytes"] != c.wantRAM || fs.files[mem+"/memory.memsw.limit_in_bytes"] != c.wantSW {
			t.Fatalf("ended at %v", fs.files)
		}
	}
}

func TestApplyErrors(t *testing.T) {
	g := v1Group()
	fs := newFS(nil)
	fs.refuse = func(_ *fakeFS, p, _ string) error {
		if strings.HasSuffix(p, "cpu.cfs_quota_us") {
			return &os.PathError{Op: "write", Path: p, Err: syscall.EINVAL}
		}
		if strings.HasSuffix(p, "pids.max") {
			return &os.PathError{Op: "write", Path: p, Err: syscall.EACCES}
		}
		return nil
	}
	r, _ := Plan(settings(t, "cpulimit", "50"), v1Env())
	err := Apply(g, fs, r.Filter([]string{"cpulimit"}))
	if !errors.Is(err, vzerror.ErrSetCPU) || !strings.Contains(err.Error(), "cpu.cfs_quota_us") {
		t.Fatalf("cpu: %v", err)
	}
	r, _ = Plan(settings(t, "numproc", "50"), v1Env())
	if err := Apply(g, fs, r.Filter([]string{"numproc"})); !errors.Is(err, vzerror.ErrSetUBC) {
		t.Fatalf("pids: %v", err)
	}
	noIO := fakeGroup{cgroup.V1, map[string]string{}}
	r, _ = Plan(settings(t, "iolimit", "1"), v1Env())
	if err := Apply(noIO, fs, r.Filter([]string{"iolimit"})); !errors.Is(err, vzerror.ErrSetIO) {
		t.Fatalf("io: %v", err)
	}
}

func TestApplyCpusetSubtree(t *testing.T) {
	const o = "/sys/fs/cgroup/cpuset/govz/101"
	fs := newFS(map[string]string{})
	for _, d := range []string{o, o + "/ct", o + "/ct/system.slice"} {
		fs.files[d+"/cpuset.cpus"] = "0-3"
		fs.files[d+"/cpuset.mems"] = "0"
	}
	fs.refuse = func(f *fakeFS, p, data string) error {
		d := filepath.Dir(p)
		if d != o && !subset(data, f.files[filepath.Dir(d)+"/"+filepath.Base(p)]) {
			return &os.PathError{Op: "write", Path: p, Err: syscall.EINVAL}
		}
		for c, v := range f.files {
			if filepath.Dir(filepath.Dir(c)) == d && filepath.Base(c) == filepath.Base(p) && !subset(v, data) {
				return &os.PathError{Op: "write", Path: p, Err: syscall.EBUSY}
			}
		}
		return nil
	}
	r, _ := Plan(settings(t, "cpumask", "1"), v1Env())
	if err := Apply(v1Group(), fs, r.Filter([]string{"cpumask"})); err != nil {
		t.Fatal(err)
	}
	want := []string{o + "/ct/system.slice/cpuset.cpus=1", o + "/ct/cpuset.cpus=1", o + "/cpuset.cpus=1"}
	if !slices.Equal(fs.writes, want) {
		t.Fatalf("writes %v", fs.writes)
	}
}

func TestReadCountersV1(t *testing.T) {
	g := v1Group()
	d := func(c string) string { return g.dirs[c] }
	fs := newFS(map[string]string{
		d("memory") + "/memory.usage_in_bytes":                    "40960",
		d("memory") + "/memory.max_usage_in_bytes":                "81920",
		d("memory") + "/memory.failcnt":                           "17",
		d("memory") + "/memory.limit_in_bytes":                    "67108864",
		d("memory") + "/memory.memsw.limit_in_bytes":              "9223372036854771712",
		d("pids") + "/pids.max":                                   "64",
		d("memory") + "/memory.memsw.usage_in_bytes":              "49152",
		d("memory") + "/memory.memsw.failcnt":                     "2",
		d("memory") + "/memory.kmem.usage_in_bytes":               "1000",
		d("memory") + "/memory.kmem.max_usage_in_bytes":           "2000",
		d("memory") + "/memory.kmem.failcnt":                      "0",
		d("memory") + "/memory.stat":                              "shmem 0\ntotal_shmem 8192\ntotal_unevictable 4096\n",
		d("memory") + "/memory.oom_control":                       "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
		d("memory") + "/ct/memory.oom_control":                    "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
		d("pids") + "/pids.current":                               "12",
		d("pids") + "/pids.peak":                                  "64",
		d("pids") + "/pids.events":                                "max 0\n",
		d("pids") + "/ct/pids.events":                             "max 40\n",
		d("cpuacct") + "/cpuacct.usage":                           "123456789",
		d("cpu") + "/cpu.stat":                                    "nr_periods 10\nnr_throttled 4\nthrottled_time 5000\n",
		d("blkio") + "/blkio.throttle.io_service_bytes_recursive": "254:0 Read 4096\n254:0 Write 8192\n254:0 Total 12288\n8:0 Read 1\nTotal 12289\n",
		d("blkio") + "/blkio.throttle.io_serviced_recursive":      "254:0 Read 1\n254:0 Write 2\n",
	})
	c := ReadCounters(g, fs, 4096)
	check := func(name string, held, maxheld, fail *int64) {
		t.Helper()
		got := c.UBC[name]
		eq := func(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
		if !eq(got.Held, held) || !eq(got.MaxHeld, maxheld) || !eq(got.FailCnt, fail) {
			t.Errorf("%s = %s, want %s", name, fmtC(got), fmtC(Counter{Held: held, MaxHeld: maxheld, FailCnt: fail}))
		}
	}
	check("physpages", i64(10), i64(20), i64(22)) // memory + memsw failures + OOM kills
	check("swappages", i64(2), nil, i64(2))
	check("kmemsize", i64(1000), i64(2000), i64(0))
	check("shmpages", i64(2), nil, nil)
	check("numproc", i64(12), i64(64), i64(40))
	if l := c.UBC["physpages"].Limit; l == nil || *l != 16384 {
		t.Errorf("physpages limit %v", l)
	}
	if l := c.UBC["swappages"].Limit; l == nil || *l != conf.Unlimited {
		t.Errorf("swappages limit %v", l)
	}
	if l := c.UBC["numproc"].Limit; l == nil || *l != 64 {
		t.Errorf("numproc limit %v", l)
	}
	if *c.OOMKills != 3 || *c.CPU.UsageNS != 123456789 || *c.CPU.Throttled != 4 || *c.CPU.ThrottledNS != 5000 {
		t.Errorf("extras %+v %+v", *c.OOMKills, c.CPU)
	}
	if *c.IO.ReadBytes != 4097 || *c.IO.WriteBytes != 8192 || *c.IO.WriteIOs != 2 {
		t.Errorf("io %d %d %d", *c.IO.ReadBytes, *c.IO.WriteBytes, *c.IO.WriteIOs)
	}
}

func fmtC(c Counter) string {
	p := func(v *int64) string {
		if v == nil {
			return "-"
		}
		return strconv.FormatInt(*v, 10)
	}
	return fmt.Sprintf("%s/%s/%s", p(c.Held), p(c.MaxHeld), p(c.FailCnt))
}

func TestReadCountersV2(t *testing.T) {
	g := v2Group()
	o := g.dirs["memory"]
	fs := newFS(map[string]string{
		o + "/memory.current":      "409600",
		o + "/memory.peak":         "819200",
		o + "/memory.events":       "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\noom_group_kill 0\n",
		o + "/memory.swap.current": "8192",
		o + "/memory.swap.peak":    "16384",
		o + "/memory.swap.events":  "high 0\nmax 1\nfail 0\n",
		o + "/memory.stat":         "anon 1\nkernel 3000\nshmem 40960\nslab_reclaimable 500\n",
		o + "/pids.current":        "3",
		o + "/pids.max":            "max",
		o + "/memory.max":          "8192",
		o + "/pids.peak":           "64",
		o + "/pids.events":         "max 77\n",
		o + "/pids.events.local":   "max 0\n",
		o + "/cpu.stat":            "usage_usec 2000\nuser_usec 1\nsystem_usec 1\nnr_periods 5\nnr_throttled 2\nthrottled_usec 30\n",
		o + "/io.stat":             "254:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n8:0 rbytes=1 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
	})
	c := ReadCounters(g, fs, 4096)
	p, sw, np := c.UBC["physpages"], c.UBC["swappages"], c.UBC["numproc"]
	if *p.Held != 100 || *p.MaxHeld != 200 || *p.FailCnt != 9 || *c.OOMKills != 1 {
		t.Errorf("physpages %s oom %d", fmtC(p), *c.OOMKills)
	}
	if *p.Limit != 2 || *np.Limit != conf.Unlimited || sw.Limit != nil {
		t.Errorf("limits %v %v %v", *p.Limit, *np.Limit, sw.Limit)
	}
	if *sw.Held != 2 || *sw.MaxHeld != 4 || *sw.FailCnt != 1 || *np.Held != 3 || *np.MaxHeld != 64 || *np.FailCnt != 77 {
		t.Errorf("swap %s numproc %s", fmtC(sw), fmtC(np))
	}
	if *c.UBC["kmemsize"].Held != 3000 || *c.UBC["shmpages"].Held != 10 || *c.UBC["dcachesize"].Held != 500 {
		t.Errorf("memory.stat rows %v", c.UBC)
	}
	if *c.CPU.UsageNS != 2000000 || *c.CPU.ThrottledNS != 30000 || *c.IO.ReadBytes != 101 || *c.IO.WriteIOs != 2 {
		t.Errorf("cpu %+v io %+v", c.CPU, c.IO)
	}
	// Without pids.events.local (older kernels) refused forks are counted
	// where the task forked, below OUTER.
	delete(fs.files, o+"/pids.events.local")
	fs.files[o+"/ct/pids.events"] = "max 5\n"
	if f := ReadCounters(g, fs, 4096).UBC["numproc"].FailCnt; f == nil || *f != 82 {
		t.Errorf("numproc failcnt summed over the subtree: %v", f)
	}
	// A group without controllers reads as unknown, not zero.
	c = ReadCounters(fakeGroup{cgroup.V2, nil}, fs, 4096)
	if len(c.UBC) != 0 || c.CPU.UsageNS != nil || c.OOMKills != nil {
		t.Errorf("empty group: %+v", c)
	}
}

func TestReadProcCounters(t *testing.T) {
	root := t.TempDir()
	mk := func(p string) {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, p string) {
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(filepath.Join(root, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("10/fd")
	mk("11/fd")
	link("/dev/null", "10/fd/0")
	link("socket:[100]", "10/fd/3")
	link("socket:[200]", "10/fd/4")
	link("/etc/passwd", "11/fd/0")
	link("socket:[300]", "11/fd/5")
	mk("10/net")
	write("10/net/tcp", "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"+
		"   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1 0000 100 0 0 10 0\n"+
		"   1: 0100007F:0016 0100007F:9C40 06 00000000:00000000 03:00000000 00000000     0        0 0 3 0000\n")
	write("10/net/tcp6", "  sl  local_address header\n")
	mk("10/root/dev/pts")
	write("10/root/dev/pts/ptmx", "")
	write("10/root/dev/pts/0", "")
	write("locks", "1: POSIX  ADVISORY  WRITE 10 00:1f:5 0 EOF\n1: -> POSIX  ADVISORY  WRITE 11 00:1f:5 0 EOF\n2: FLOCK  ADVISORY  WRITE 99 00:1f:6 0 EOF\n3: FLOCK  ADVISORY  READ 11 00:1f:7 0 EOF\n")
	c := ReadProcCounters(root, []int{10, 11, 12}, 10)
	for name, want := range map[string]int64{"numfile": 5, "numtcpsock": 1, "numothersock": 2, "numpty": 1, "numflock": 2} {
		if got := c[name].Held; got == nil || *got != want {
			t.Errorf("%s = %v, want %d", name, fmtC(c[name]), want)
		}
	}
}

func TestDevptsOptions(t *testing.T) {
	mi := "25 24 0:22 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666,max=1024\n" +
		"26 24 0:23 / /dev/shm rw - tmpfs shm rw\n"
	ms, err := mountinfo.Parse(mi)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := mountinfo.ByID(ms, 25)
	if !ok {
		t.Fatal("not found")
	}
	if got := DevptsOptions(m.SuperOptions, 64); !slices.Equal(got, []string{"gid=5", "mode=620", "ptmxmode=666", "max=64"}) {
		t.Fatal(got)
	}
}

// v1 throttling rules go to every group of the container: blk-throttle
// limits each group alone there.
func TestApplyEachGroup(t *testing.T) {
	const o = "/sys/fs/cgroup/blkio/govz/101"
	fs := newFS(map[string]string{o + "/ct/blkio.throttle.read_bps_device": "", o + "/ct/sub/blkio.throttle.read_bps_device": ""})
	r, _ := Plan(settings(t, "iolimit", "1"), v1Env())
	r = r.Filter([]string{"iolimit"})
	if err := Apply(v1Group(), fs, &Result{Writes: r.Writes[:1]}); err != nil {
		t.Fatal(err)
	}
	want := []string{o + "/blkio.throttle.read_bps_device=254:0 1048576", o + "/ct/blkio.throttle.read_bps_device=254:0 1048576",
		o + "/ct/sub/blkio.throttle.read_bps_device=254:0 1048576"}
	if !slices.Equal(fs.writes, want) {
		t.Fatalf("writes %v", fs.writes)
	}
}

// A failed write undoes the ones before it, back to what they read.
func TestApplyUndoesOnFailure(t *testing.T) {
	g := v1Group()
	mem, pids, blk := g.dirs["memory"], g.dirs["pids"], g.dirs["blkio"]
	fs := newFS(map[string]string{
		mem + "/memory.limit_in_bytes":             "268435456\n",
		pids + "/pids.max":                         "max\n",
		blk + "/blkio.throttle.read_bps_device":    "",
		blk + "/ct/blkio.throttle.read_bps_device": "254:0 999\n8:0 5\n",
		g.dirs["cpu"] + "/cpu.cfs_quota_us":        "-1\n",
	})
	fs.refuse = func(_ *fakeFS, p, _ string) error {
		if strings.HasSuffix(p, "cpu.cfs_quota_us") {
			return &os.PathError{Op: "write", Path: p, Err: syscall.EACCES}
		}
		return nil
	}
	r, _ := Plan(settings(t, "physpages", "0:64M", "numproc", "10", "iolimit", "1", "cpulimit", "10"), v1Env())
	r = r.Filter([]string{"physpages", "numproc", "iolimit", "cpulimit"})
	var writes []Write
	for _, w := range r.Writes { // memory, pids, blkio before cpu
		if w.Controller != "cpu" {
			writes = append(writes, w)
		}
	}
	for _, w := range r.Writes {
		if w.Controller == "cpu" {
			writes = append(writes, w)
		}
	}
	err := Apply(g, fs, &Result{Writes: writes})
	if !errors.Is(err, vzerror.ErrSetCPU) {
		t.Fatalf("error %v", err)
	}
	for p, want := range map[string]string{
		mem + "/memory.limit_in_bytes":             "268435456",
		pids + "/pids.max":                         "max",
		blk + "/blkio.throttle.read_bps_device":    "254:0 0",
		blk + "/ct/blkio.throttle.read_bps_device": "254:0 999",
	} {
		if got := strings.TrimSpace(fs.files[p]); got != want {
			t.Errorf("%s = %q after undo, want %q", p, got, want)
		}
	}
}

func TestRestoreValue(t *testing.T) {
	for _, c := range []struct{ file, old, written, want string }{
		{"io.max", "", "254:0 rbps=1 wbps=1 riops=max wiops=max", "254:0 rbps=max wbps=max riops=max wiops=max"},
		{"io.max", "8:0 rbps=5 wbps=max riops=max wiops=max\n254:0 rbps=7 wbps=max riops=max wiops=max\n", "254:0 rbps=1", "254:0 rbps=7 wbps=max riops=max wiops=max"},
		{"io.weight", "default 100\n254:0 50\n", "400", "100"},
		{"blkio.bfq.weight", "default 100\n", "400", "100"},
		{"memory.max", "max\n", "1000", "max"},
		{"cpu.max", "max 100000\n", "25000 100000", "max 100000"},
	} {
		if got := restoreValue(c.file, c.old, c.written); got != c.want {
			t.Errorf("restoreValue(%s, %q) = %q, want %q", c.file, c.old, got, c.want)
		}
	}
}
