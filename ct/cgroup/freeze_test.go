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
