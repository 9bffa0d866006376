package cgroup

import (
	"errors"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// v2Root is a Debian 12 host's root: every controller, and systemd has
// enabled some of them.
const (
	v2RootAvail = "cpuset cpu io memory hugetlb pids rdma misc\n"
	v2RootOn    = "cpu memory pids\n"
)

func openFake(t *testing.T, k *fakeKernel, parent, id string) *Group {
	t.Helper()
	g, err := open(k, parent, id)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "Open must change nothing", k.takeLog(), "")
	return g
}

func TestOpenValidates(t *testing.T) {
	k := newFake(t, "mountinfo-v1-hybrid", "hugetlb\n", "")
	for _, p := range []struct{ parent, id string }{
		{"", "101"}, {"/govz", "101"}, {"govz/", "101"}, {"govz//x", "101"}, {"govz/../x", "101"},
		{"..", "101"}, {".", "101"}, {"govz/.", "101"}, {"a\nb", "101"},
		{"govz", ""}, {"govz", ".."}, {"govz", "."}, {"govz", "1/2"}, {"govz", "a\x00"},
	} {
		if _, err := open(k, p.parent, p.id); !errors.Is(err, ErrBadPath) {
			t.Errorf("open(%q, %q) = %v; want ErrInvalidValue", p.parent, p.id, err)
		}
	}
	if err := removeParentIfEmpty(k, "../x"); !errors.Is(err, ErrBadPath) {
		t.Errorf("removeParentIfEmpty(../x) = %v", err)
	}
	if _, err := open(k, "govz-test-1/nested", "ct-7"); err != nil {
		t.Errorf("nested parent refused: %v", err)
	}
	diff(t, "operations", k.takeLog(), "")
}

// threeLevels is the mkdir of PARENT, OUTER and INNER in one v1 hierarchy
// that needs no setup.
func threeLevels(h string) []string {
	return []string{"mkdir " + h + "/govz", "mkdir " + h + "/govz/101", "mkdir " + h + "/govz/101/ct"}
}

func TestCreateV1Hybrid(t *testing.T) {
	k := newFake(t, "mountinfo-v1-hybrid", "hugetlb\n", "")
	g := openFake(t, k, "govz", "101")
	if g.Layout() != V1 {
		t.Fatalf("layout %v", g.Layout())
	}
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	var want []string
	want = append(want, threeLevels("cpu")...)
	want = append(want, threeLevels("cpuacct")...)
	want = append(want,
		"mkdir cpuset/govz",
		"write cpuset/govz/cpuset.cpus 0-3",
		"write cpuset/govz/cpuset.mems 0",
		"mkdir cpuset/govz/101",
		"write cpuset/govz/101/cpuset.cpus 0-3",
		"write cpuset/govz/101/cpuset.mems 0",
		"mkdir cpuset/govz/101/ct",
		"write cpuset/govz/101/ct/cpuset.cpus 0-3",
		"write cpuset/govz/101/ct/cpuset.mems 0",
		"write cpuset/govz/101/ct/cgroup.clone_children 1",
		"mkdir memory/govz",
		"write memory/govz/memory.use_hierarchy 1",
		"mkdir memory/govz/101",
		"write memory/govz/101/memory.use_hierarchy 1",
		"mkdir memory/govz/101/ct",
		"write memory/govz/101/ct/memory.use_hierarchy 1",
	)
	for _, h := range []string{"devices", "freezer", "blkio", "pids", "systemd", "unified"} {
		// The cgroup2 root offers only hugetlb here: nothing to enable.
		want = append(want, threeLevels(h)...)
	}
	diff(t, "Create", k.takeLog(), lines(want...))
	if !g.Exists() {
		t.Error("Exists() = false after Create")
	}

	// A second container reuses PARENT and copies nothing into it again.
	g2 := openFake(t, k, "govz", "102")
	if err := g2.Create(); err != nil {
		t.Fatal(err)
	}
	log := k.takeLog()
	if strings.Contains(log, "mkdir cpu/govz\n") || strings.Contains(log, "write cpuset/govz/cpuset") {
		t.Errorf("second Create touched PARENT:\n%s", log)
	}
	if !strings.Contains(log, "write cpuset/govz/102/cpuset.cpus 0-3") {
		t.Errorf("second Create did not fill its cpuset:\n%s", log)
	}
}

func TestCreateV1Comount(t *testing.T) {
	k := newFake(t, "mountinfo-v1-comount", "\n", "")
	g := openFake(t, k, "govz", "101")
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, h := range []string{"unified", "systemd", "cpu,cpuacct", "net_cls,net_prio"} {
		want = append(want, threeLevels(h)...)
	}
	want = append(want,
		"mkdir memory/govz",
		"write memory/govz/memory.use_hierarchy 1",
		"mkdir memory/govz/101",
		"write memory/govz/101/memory.use_hierarchy 1",
		"mkdir memory/govz/101/ct",
		"write memory/govz/101/ct/memory.use_hierarchy 1",
		// clone_children on the host's cpuset root already filled them.
		"mkdir cpuset/govz",
		"mkdir cpuset/govz/101",
		"mkdir cpuset/govz/101/ct",
		"write cpuset/govz/101/ct/cgroup.clone_children 1",
	)
	for _, h := range []string{"freezer", "pids", "blkio", "devices", "perf_event", "hugetlb", "rdma"} {
		want = append(want, threeLevels(h)...)
	}
	diff(t, "Create", k.takeLog(), lines(want...))
}

func TestCreateV2(t *testing.T) {
	k := newFake(t, "mountinfo-v2", v2RootAvail, v2RootOn)
	g := openFake(t, k, "govz", "101")
	if g.Layout() != V2 {
		t.Fatalf("layout %v", g.Layout())
	}
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	enable := func(dir string) []string {
		var out []string
		for _, c := range []string{"cpuset", "cpu", "io", "memory", "pids"} {
			out = append(out, "write "+dir+"cgroup.subtree_control +"+c)
		}
		return out
	}
	want := []string{
		// The root lacks cpuset and io; hugetlb, rdma, misc are not wanted.
		"write cgroup.subtree_control +cpuset",
		"write cgroup.subtree_control +io",
		"mkdir govz",
	}
	want = append(want, enable("govz/")...)
	want = append(want, "mkdir govz/101")
	want = append(want, enable("govz/101/")...)
	// INNER enables nothing: the guest's systemd does, once it has moved
	// itself out of INNER into init.scope (no internal processes).
	want = append(want, "mkdir govz/101/ct")
	diff(t, "Create", k.takeLog(), lines(want...))
	if got := k.files["/sys/fs/cgroup/govz/101/ct/cgroup.controllers"]; got != "cpuset cpu io memory pids" {
		t.Errorf("INNER's controllers = %q", got)
	}

	// A v2 host whose root offers fewer controllers: only those.
	k = newFake(t, "mountinfo-v2", "cpu memory pids\n", "")
	g = openFake(t, k, "govz-t/a", "9")
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	var want2 []string
	for _, d := range []string{"", "govz-t/", "govz-t/a/", "govz-t/a/9/"} {
		if d != "" {
			want2 = append(want2, "mkdir "+strings.TrimSuffix(d, "/"))
		}
		for _, c := range []string{"cpu", "memory", "pids"} {
			want2 = append(want2, "write "+d+"cgroup.subtree_control +"+c)
		}
	}
	want2 = append(want2, "mkdir govz-t/a/9/ct")
	diff(t, "Create, nested parent, fewer controllers", k.takeLog(), lines(want2...))
}

func TestCreateUndo(t *testing.T) {
	k := newFake(t, "mountinfo-v1-hybrid", "hugetlb\n", "")
	k.fail["mkdir freezer/govz/101/ct"] = syscall.ENOSPC
	g := openFake(t, k, "govz", "101")
	err := g.Create()
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "freezer/govz/101/ct") {
		t.Fatalf("Create = %v; want ENOSPC naming the group", err)
	}
	log := k.takeLog()
	undo := log[strings.Index(log, "mkdir freezer/govz/101\n"):]
	diff(t, "undo", undo, lines(
		"mkdir freezer/govz/101",
		"rmdir freezer/govz/101",
		"rmdir devices/govz/101/ct",
		"rmdir devices/govz/101",
		"rmdir memory/govz/101/ct",
		"rmdir memory/govz/101",
		"rmdir cpuset/govz/101/ct",
		"rmdir cpuset/govz/101",
		"rmdir cpuacct/govz/101/ct",
		"rmdir cpuacct/govz/101",
		"rmdir cpu/govz/101/ct",
		"rmdir cpu/govz/101",
	))
	if g.Exists() {
		t.Error("Exists() after failed Create")
	}
	// PARENT is shared and stays; a retry then succeeds.
	if !k.dirs["/sys/fs/cgroup/cpu/govz"] {
		t.Error("undo removed PARENT")
	}
	delete(k.fail, "mkdir freezer/govz/101/ct")
	if err := g.Create(); err != nil {
		t.Fatalf("retry: %v", err)
	}
}

// A group left over from a crash is reported, and Create's undo must not
// remove what it did not make.
func TestCreateExisting(t *testing.T) {
	k := newFake(t, "mountinfo-v2", v2RootAvail, v2RootOn)
	g := openFake(t, k, "govz", "101")
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	k.takeLog()
	err := g.Create()
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "destroy it first") {
		t.Fatalf("second Create = %v; want ErrExist", err)
	}
	if log := k.takeLog(); strings.Contains(log, "rmdir") {
		t.Errorf("second Create removed groups:\n%s", log)
	}
	if !k.dirs["/sys/fs/cgroup/govz/101/ct"] {
		t.Error("INNER gone")
	}
}

func TestAddProcAndPaths(t *testing.T) {
	k := newFake(t, "mountinfo-v1-comount", "\n", "")
	g := openFake(t, k, "govz", "101")
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	k.takeLog()
	k.spawn(4242, "/sys/fs/cgroup/memory") // anywhere; it moves
	if err := g.AddProc(4242); err != nil {
		t.Fatal(err)
	}
	names := []string{"unified", "systemd", "cpu,cpuacct", "net_cls,net_prio", "memory", "cpuset",
		"freezer", "pids", "blkio", "devices", "perf_event", "hugetlb", "rdma"}
	var want []string
	for _, n := range names {
		want = append(want, "write "+n+"/govz/101/ct/cgroup.procs 4242")
	}
	diff(t, "AddProc", k.takeLog(), lines(want...))

	got := g.InnerPaths()
	keys := slices.Sorted(maps.Keys(got))
	diff(t, "InnerPaths keys", strings.Join(keys, " "),
		"blkio cpu,cpuacct cpuset devices freezer hugetlb memory name=systemd net_cls,net_prio perf_event pids rdma unified")
	for k, v := range map[string]string{
		"cpu,cpuacct":  "/sys/fs/cgroup/cpu,cpuacct/govz/101/ct",
		"name=systemd": "/sys/fs/cgroup/systemd/govz/101/ct",
		UnifiedName:    "/sys/fs/cgroup/unified/govz/101/ct",
	} {
		if got[k] != v {
			t.Errorf("InnerPaths[%q] = %q; want %q", k, got[k], v)
		}
	}

	// As /proc/PID/cgroup names them: the same path in every hierarchy.
	for k, v := range g.InnerCgroupPaths() {
		if v != "/govz/101/ct" {
			t.Errorf("InnerCgroupPaths[%q] = %q; want /govz/101/ct", k, v)
		}
	}

	for c, want := range map[string]string{
		"cpu":          "/sys/fs/cgroup/cpu,cpuacct/govz/101",
		"cpuacct":      "/sys/fs/cgroup/cpu,cpuacct/govz/101",
		"cpu,cpuacct":  "/sys/fs/cgroup/cpu,cpuacct/govz/101",
		"memory":       "/sys/fs/cgroup/memory/govz/101",
		"blkio":        "/sys/fs/cgroup/blkio/govz/101",
		"name=systemd": "/sys/fs/cgroup/systemd/govz/101",
		UnifiedName:    "/sys/fs/cgroup/unified/govz/101",
	} {
		if p, err := g.OuterPath(c); err != nil || p != want {
			t.Errorf("OuterPath(%q) = %q, %v; want %q", c, p, err, want)
		}
	}
	// io is the v2 name; this hybrid host's cgroup2 holds no controller.
	if p, err := g.OuterPath("io"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("OuterPath(io) = %q, %v; want ErrBadKernel", p, err)
	}

	// AddProc into a failing hierarchy names it.
	k.fail["write pids/govz/101/ct/cgroup.procs"] = syscall.EAGAIN
	if err := g.AddProc(4242); err == nil || !strings.Contains(err.Error(), "pids/govz/101/ct") {
		t.Errorf("AddProc = %v", err)
	}
}

func TestOuterPathV2(t *testing.T) {
	k := newFake(t, "mountinfo-v2", "cpu memory pids rdma\n", "")
	g := openFake(t, k, "govz", "101")
	if _, err := g.OuterPath("memory"); err == nil {
		t.Error("OuterPath before Create succeeded")
	}
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"memory", "pids", "cpu", UnifiedName} {
		if p, err := g.OuterPath(c); err != nil || p != "/sys/fs/cgroup/govz/101" {
			t.Errorf("OuterPath(%q) = %q, %v", c, p, err)
		}
	}
	for _, c := range []string{"io", "rdma", "blkio"} { // missing, not enabled, v1 name
		if _, err := g.OuterPath(c); !errors.Is(err, ErrUnsupported) {
			t.Errorf("OuterPath(%q) = %v; want ErrBadKernel", c, err)
		}
	}
	diff(t, "InnerPaths", strings.Join(slices.Collect(maps.Values(g.InnerPaths())), " "), "/sys/fs/cgroup/govz/101/ct")
	diff(t, "InnerCgroupPaths", strings.Join(slices.Collect(maps.Values(g.InnerCgroupPaths())), " "), "/govz/101/ct")
}

// A guest's systemd nests groups below INNER and moves processes into
// them; Procs sees them all, Destroy refuses while any live and then
// removes everything depth-first.
func TestProcsDestroyV1(t *testing.T) {
	k := newFake(t, "mountinfo-v1-hybrid", "hugetlb\n", "")
	g := openFake(t, k, "govz", "101")
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	base := "/sys/fs/cgroup/"
	for _, d := range []string{"systemd/govz/101/ct/init.scope", "systemd/govz/101/ct/system.slice",
		"systemd/govz/101/ct/system.slice/cron.service", "memory/govz/101/ct/system.slice"} {
		k.guestMkdir(base + d)
	}
	k.spawn(10, base+"systemd/govz/101/ct/init.scope", base+"memory/govz/101/ct", base+"freezer/govz/101/ct")
	k.spawn(11, base+"systemd/govz/101/ct/system.slice/cron.service", base+"memory/govz/101/ct/system.slice")
	k.spawn(12, base+"cpu/govz/101") // joined only one hierarchy, at OUTER
	k.spawn(99, base+"systemd/govz") // another container's business
	k.takeLog()

	pids, err := g.Procs()
	if err != nil || !slices.Equal(pids, []int{10, 11, 12}) {
		t.Fatalf("Procs = %v, %v; want [10 11 12]", pids, err)
	}
	err = g.Destroy()
	if !errors.Is(err, ErrPopulated) || !strings.Contains(err.Error(), "3 processes remain") {
		t.Fatalf("Destroy with live processes = %v; want ErrRunning", err)
	}
	diff(t, "refused Destroy", k.takeLog(), "")

	for _, p := range []int{10, 11, 12} {
		k.drop(p)
	}
	if err := g.Destroy(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, h := range []string{"cpu", "cpuacct", "cpuset"} {
		want = append(want, "rmdir "+h+"/govz/101/ct", "rmdir "+h+"/govz/101")
	}
	want = append(want, "rmdir memory/govz/101/ct/system.slice", "rmdir memory/govz/101/ct", "rmdir memory/govz/101")
	for _, h := range []string{"devices", "freezer", "blkio", "pids"} {
		want = append(want, "rmdir "+h+"/govz/101/ct", "rmdir "+h+"/govz/101")
	}
	want = append(want,
		"rmdir systemd/govz/101/ct/init.scope",
		"rmdir systemd/govz/101/ct/system.slice/cron.service",
		"rmdir systemd/govz/101/ct/system.slice",
		"rmdir systemd/govz/101/ct",
		"rmdir systemd/govz/101",
		"rmdir unified/govz/101/ct",
		"rmdir unified/govz/101",
	)
	diff(t, "Destroy", k.takeLog(), lines(want...))
	if g.Exists() {
		t.Error("Exists() after Destroy")
	}
	// Again: everything is gone already, which is fine.
	if err := g.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	diff(t, "second Destroy", k.takeLog(), "")

	// PARENT goes only where it is empty; 99 still holds systemd/govz.
	if err := removeParentIfEmpty(k, "govz"); err != nil {
		t.Fatal(err)
	}
	log := k.takeLog()
	if strings.Contains(log, "rmdir systemd/govz") || !strings.Contains(log, "rmdir unified/govz") || strings.Count(log, "\n") != 8 {
		t.Errorf("removeParentIfEmpty:\n%s", log)
	}
}

func TestDestroyReportsFailure(t *testing.T) {
	k := newFake(t, "mountinfo-v2", v2RootAvail, v2RootOn)
	g := openFake(t, k, "govz", "101")
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	k.fail["rmdir govz/101/ct"] = syscall.EPERM
	err := g.Destroy()
	if !errors.Is(err, syscall.EPERM) || !strings.Contains(err.Error(), "govz/101/ct") {
		t.Errorf("Destroy = %v; want EPERM naming INNER", err)
	}
}

func TestRemoveParentNested(t *testing.T) {
	k := newFake(t, "mountinfo-v2", v2RootAvail, v2RootOn)
	g := openFake(t, k, "govz-t/a", "1")
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	k.takeLog()
	if err := removeParentIfEmpty(k, "govz-t/a"); err != nil {
		t.Fatal(err)
	}
	diff(t, "busy parent", k.takeLog(), "")
	if err := g.Destroy(); err != nil {
		t.Fatal(err)
	}
	k.takeLog()
	if err := removeParentIfEmpty(k, "govz-t/a"); err != nil {
		t.Fatal(err)
	}
	diff(t, "empty parent", k.takeLog(), lines("rmdir govz-t/a", "rmdir govz-t"))
}

// Once the guest's systemd has enabled controllers in INNER, cgroup2
// refuses new members there; Join uses a leaf below it.
func TestJoinV2(t *testing.T) {
	k := newFake(t, "mountinfo-v2", v2RootAvail, v2RootOn)
	g := openFake(t, k, "govz", "101")
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	inner := "/sys/fs/cgroup/govz/101/ct"
	k.spawn(10, inner)
	k.guestMkdir(inner + "/init.scope")
	k.drop(10)
	k.spawn(10, inner+"/init.scope")
	k.files[inner+"/cgroup.subtree_control"] = "memory pids"
	k.takeLog()

	k.alive[20], k.alive[21] = true, true
	if err := k.WriteFile(inner+"/cgroup.procs", "20"); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("fake let a process into a domain with controllers: %v", err)
	}
	k.takeLog()
	for _, pid := range []int{20, 21} {
		if err := join(k, g.InnerPaths(), pid); err != nil {
			t.Fatal(err)
		}
	}
	diff(t, "Join", k.takeLog(), lines(
		"mkdir govz/101/ct/.govz",
		"write govz/101/ct/.govz/cgroup.procs 20",
		"write govz/101/ct/.govz/cgroup.procs 21",
	))
	if pids, _ := g.Procs(); !slices.Equal(pids, []int{10, 20, 21}) {
		t.Errorf("Procs = %v; want [10 20 21]", pids)
	}
}

func TestJoinV1Hybrid(t *testing.T) {
	k := newFake(t, "mountinfo-v1-comount", "\n", "")
	g := openFake(t, k, "govz", "101")
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	k.takeLog()
	k.alive[30] = true
	if err := join(k, g.InnerPaths(), 30); err != nil {
		t.Fatal(err)
	}
	want := []string{"mkdir unified/govz/101/ct/.govz"}
	for _, n := range []string{"blkio", "cpu,cpuacct", "cpuset", "devices", "freezer", "hugetlb", "memory",
		"systemd", "net_cls,net_prio", "perf_event", "pids", "rdma"} {
		want = append(want, "write "+n+"/govz/101/ct/cgroup.procs 30")
	}
	want = append(want, "write unified/govz/101/ct/.govz/cgroup.procs 30")
	diff(t, "Join", k.takeLog(), lines(want...))

	dirs, err := joinPaths(k, g.InnerPaths())
	if err != nil {
		t.Fatal(err)
	}
	inner := g.InnerPaths()
	inner[UnifiedName] += "/.govz"
	if !maps.Equal(dirs, inner) {
		t.Errorf("JoinPaths = %v; want %v", dirs, inner)
	}
	diff(t, "JoinPaths with the leaf made", k.takeLog(), "")

	k.fail["write memory/govz/101/ct/cgroup.procs"] = syscall.ESRCH
	if err := join(k, g.InnerPaths(), 30); !errors.Is(err, syscall.ESRCH) || !strings.Contains(err.Error(), "memory/govz/101/ct") {
		t.Errorf("Join = %v; want ESRCH naming the group", err)
	}
}
