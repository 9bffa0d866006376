package cgroup

import (
	"context"
	"testing"
	"time"
)

// TestFreeze: a snapshot's freeze uses cgroup.freeze on cgroup2 and the
// v1 freezer otherwise, on the container's OUTER group (the whole
// subtree), waits for the kernel to report it frozen, and thaw undoes it
// once however often it is called.
func TestFreeze(t *testing.T) {
	for _, c := range []struct {
		sample, avail, on string
		want              string
	}{
		{"mountinfo-v2", v2RootAvail, v2RootOn, lines(
			"write govz/101/cgroup.freeze 1",
			"write govz/101/cgroup.freeze 0")},
		{"mountinfo-v1-hybrid", "hugetlb\n", "", lines(
			"write freezer/govz/101/freezer.state FROZEN",
			"write freezer/govz/101/freezer.state THAWED")},
	} {
		k, g := killSetup(t, c.sample, c.avail, c.on)
		thaw, err := g.Freeze(context.Background(), time.Second)
		if err != nil {
			t.Fatalf("%s: %v", c.sample, err)
		}
		if err := thaw(); err != nil {
			t.Fatal(err)
		}
		if err := thaw(); err != nil {
			t.Fatal(err)
		}
		diff(t, c.sample, k.takeLog(), c.want)
	}
}

// TestFreezerState: the state is read from the kernel, a freeze asked for
// and not complete (a crash in between) included, and Thaw ends either.
func TestFreezerState(t *testing.T) {
	for _, c := range []struct {
		sample, avail, on string
		file, freezing    string
		thaw              string
	}{
		{"mountinfo-v2", v2RootAvail, v2RootOn, "/sys/fs/cgroup/govz/101/cgroup.freeze", "1",
			"write govz/101/cgroup.freeze 0"},
		{"mountinfo-v1-hybrid", "hugetlb\n", "", "/sys/fs/cgroup/freezer/govz/101/freezer.state", "FREEZING\n",
			"write freezer/govz/101/freezer.state THAWED"},
	} {
		k, g := killSetup(t, c.sample, c.avail, c.on)
		state := func() FreezerState {
			t.Helper()
			s, err := g.FreezerState()
			if err != nil {
				t.Fatalf("%s: %v", c.sample, err)
			}
			return s
		}
		if s := state(); s != Thawed {
			t.Errorf("%s: new group %v", c.sample, s)
		}
		if _, err := g.Freeze(context.Background(), time.Second); err != nil {
			t.Fatal(err)
		}
		if s := state(); s != Frozen {
			t.Errorf("%s: after Freeze %v", c.sample, s)
		}
		k.takeLog()
		if err := g.Thaw(); err != nil {
			t.Fatal(err)
		}
		diff(t, c.sample, k.takeLog(), c.thaw)
		if s := state(); s != Thawed {
			t.Errorf("%s: after Thaw %v", c.sample, s)
		}
		// Asked, not (yet) done: the kernel's state without the
		// events' "frozen 1" (v2) or with FREEZING (v1).
		k.files[c.file] = c.freezing
		if s := state(); s != Freezing {
			t.Errorf("%s: %q reads %v", c.sample, c.freezing, s)
		}
	}
}

// TestFreezerDir: CRIU is given the group Freeze froze, the container's
// OUTER one, not its inner group.
func TestFreezerDir(t *testing.T) {
	for sample, want := range map[string]string{
		"mountinfo-v2":        "/sys/fs/cgroup/govz/101",
		"mountinfo-v1-hybrid": "/sys/fs/cgroup/freezer/govz/101",
	} {
		avail, on := "hugetlb\n", ""
		if sample == "mountinfo-v2" {
			avail, on = v2RootAvail, v2RootOn
		}
		_, g := killSetup(t, sample, avail, on)
		if d, err := g.FreezerDir(); err != nil || d != want {
			t.Errorf("%s: FreezerDir = %q, %v; want %q", sample, d, err, want)
		}
	}
}

// TestFreezeFrozen: a group frozen before (vzctl chkpnt --suspend) is
// neither frozen again nor thawed by the thaw of a snapshot's freeze.
func TestFreezeFrozen(t *testing.T) {
	k, g := killSetup(t, "mountinfo-v1-hybrid", "hugetlb\n", "")
	k.files["/sys/fs/cgroup/freezer/govz/101/freezer.state"] = "FROZEN"
	thaw, err := g.Freeze(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := thaw(); err != nil {
		t.Fatal(err)
	}
	diff(t, "Freeze of a frozen group", k.takeLog(), "")
	if s, err := g.FreezerState(); err != nil || s != Frozen {
		t.Fatalf("after the thaw: %v, %v; want frozen", s, err)
	}
}
