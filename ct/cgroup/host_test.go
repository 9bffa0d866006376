package cgroup

import (
	"errors"
	"reflect"
	"testing"
)

// A Host read once opens the groups open reads the tables for at each
// call (vzlist opens every container's group from one Host): each its own,
// with the v1 co-mount symlinks, validated alike.
func TestHostOpenMatchesOpen(t *testing.T) {
	for _, sample := range []string{"mountinfo-v1-hybrid", "mountinfo-v1-comount", "mountinfo-v2"} {
		k := newFake(t, sample, v2RootAvail, v2RootOn)
		// The co-mount symlinks a v1 guest gets are part of the group.
		k.links["/sys/fs/cgroup/cpu"] = "cpu,cpuacct"
		h, err := readHost(k)
		if err != nil {
			t.Fatalf("%s: %v", sample, err)
		}
		for _, id := range []string{"101", "102"} {
			want, err := open(k, "govz", id)
			if err != nil {
				t.Fatalf("%s: %v", sample, err)
			}
			got, err := h.Open("govz", id)
			if err != nil {
				t.Fatalf("%s: %v", sample, err)
			}
			if sample == "mountinfo-v1-comount" && len(got.symlinks) == 0 {
				t.Errorf("%s: Host.Open(govz, %s) lost the co-mount symlinks", sample, id)
			}
			if got.outer() != "govz/"+id {
				t.Errorf("%s: Host.Open(govz, %s) is group %s", sample, id, got.outer())
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: Host.Open(govz, %s) = %+v; open = %+v", sample, id, got, want)
			}
		}
		if _, err := h.Open("../x", "101"); !errors.Is(err, ErrBadPath) {
			t.Errorf("%s: Host.Open(../x) = %v; want ErrBadPath", sample, err)
		}
		if _, err := h.Open("govz", ".."); !errors.Is(err, ErrBadPath) {
			t.Errorf("%s: Host.Open(govz, ..) = %v; want ErrBadPath", sample, err)
		}
		diff(t, "Host must change nothing", k.takeLog(), "")
	}
}
