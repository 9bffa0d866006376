package cgroup

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"
)

// killSetup creates govz/101 on sample and starts 10 and 11 in INNER of
// every hierarchy.
func killSetup(t *testing.T, sample, v2Avail, v2On string) (*fakeKernel, *Group) {
	t.Helper()
	k := newFake(t, sample, v2Avail, v2On)
	g := openFake(t, k, "govz", "101")
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	paths := slices.Collect(maps.Values(g.InnerPaths()))
	k.spawn(10, paths...)
	k.spawn(11, paths...)
	k.takeLog()
	return k, g
}

func killCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestKillMethodChoice(t *testing.T) {
	without := func(g *Group, name string) {
		g.hier = slices.DeleteFunc(g.hier, func(h hierarchy) bool { return h.name == name })
	}
	k, g := killSetup(t, "mountinfo-v1-hybrid", "hugetlb\n", "")
	if m := g.killMethod(); m != killCgroupKill {
		t.Errorf("hybrid: %v; want cgroup.kill", m)
	}
	delete(k.files, "/sys/fs/cgroup/unified/govz/101/cgroup.kill") // before 5.14
	if m := g.killMethod(); m != killFreezerV1 {
		t.Errorf("hybrid, old kernel: %v; want v1 freezer", m)
	}
	without(g, UnifiedName)
	without(g, "freezer")
	if m := g.killMethod(); m != killSignals {
		t.Errorf("legacy without freezer: %v; want signals", m)
	}

	k, g = killSetup(t, "mountinfo-v2", v2RootAvail, v2RootOn)
	if m := g.killMethod(); m != killCgroupKill {
		t.Errorf("v2: %v; want cgroup.kill", m)
	}
	delete(k.files, "/sys/fs/cgroup/govz/101/cgroup.kill")
	if m := g.killMethod(); m != killFreezeV2 {
		t.Errorf("v2, old kernel: %v; want cgroup.freeze", m)
	}
}

func TestKillCgroupKill(t *testing.T) {
	k, g := killSetup(t, "mountinfo-v1-hybrid", "hugetlb\n", "")
	// 12 joined only the v1 cpu group: cgroup.kill cannot reach it, so
	// the same round falls back to the v1 freezer for it.
	k.spawn(12, "/sys/fs/cgroup/cpu/govz/101/ct")
	if err := g.Kill(killCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	diff(t, "Kill", k.takeLog(), lines(
		"write unified/govz/101/cgroup.kill 1",
		"write freezer/govz/101/freezer.state FROZEN",
		"kill 12",
		"write freezer/govz/101/freezer.state THAWED",
	))
	if pids, err := g.Procs(); err != nil || len(pids) != 0 {
		t.Errorf("Procs after Kill = %v, %v", pids, err)
	}
	// Nothing left: Kill is a no-op.
	if err := g.Kill(killCtx(t, time.Second)); err != nil {
		t.Fatal(err)
	}
	diff(t, "Kill of empty group", k.takeLog(), "")
}

func TestKillFreezerV1(t *testing.T) {
	k, g := killSetup(t, "mountinfo-v1-hybrid", "hugetlb\n", "")
	g.kill = killFreezerV1
	if err := g.Kill(killCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	diff(t, "Kill", k.takeLog(), lines(
		"write freezer/govz/101/freezer.state FROZEN",
		"kill 10",
		"kill 11",
		"write freezer/govz/101/freezer.state THAWED",
	))
}

func TestKillFreezeV2(t *testing.T) {
	k, g := killSetup(t, "mountinfo-v2", v2RootAvail, v2RootOn)
	g.kill = killFreezeV2
	if err := g.Kill(killCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	diff(t, "Kill", k.takeLog(), lines(
		"write govz/101/cgroup.freeze 1",
		"kill 10",
		"kill 11",
		"write govz/101/cgroup.freeze 0",
	))
}

func TestKillV2(t *testing.T) {
	k, g := killSetup(t, "mountinfo-v2", v2RootAvail, v2RootOn)
	if err := g.Kill(killCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	diff(t, "Kill", k.takeLog(), "write govz/101/cgroup.kill 1")
}

// A process that does not die ends Kill when ctx does, thawed, with an
// error that says so.
func TestKillTimeout(t *testing.T) {
	k, g := killSetup(t, "mountinfo-v1-hybrid", "hugetlb\n", "")
	g.kill = killFreezerV1
	k.immortal[11] = true
	start := time.Now()
	err := g.Kill(killCtx(t, 100*time.Millisecond))
	if !errors.Is(err, ErrKillTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Kill = %v; want ErrStop and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Kill took %v past a 100ms deadline", d)
	}
	if got := k.files["/sys/fs/cgroup/freezer/govz/101/freezer.state"]; got != "THAWED" {
		t.Errorf("left freezer.state %q", got)
	}
	if pids, _ := g.Procs(); !slices.Equal(pids, []int{11}) {
		t.Errorf("Procs = %v; want [11]", pids)
	}
}

// A group left frozen by the v1 freezer is thawed, as frozen tasks do
// not act on SIGKILL, but only after the kill: thawed first, they would
// run again for a moment.
func TestKillThawsV1Freezer(t *testing.T) {
	k, g := killSetup(t, "mountinfo-v1-hybrid", "hugetlb\n", "")
	k.files["/sys/fs/cgroup/freezer/govz/101/freezer.state"] = "FROZEN\n"
	if err := g.Kill(killCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	diff(t, "Kill", k.takeLog(), lines(
		"write unified/govz/101/cgroup.kill 1",
		"write freezer/govz/101/freezer.state THAWED",
	))
}
