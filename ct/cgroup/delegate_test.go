package cgroup

import (
	"errors"
	"io/fs"
	"testing"
)

func TestDelegateV2(t *testing.T) {
	k := newFake(t, "mountinfo-v2", v2RootAvail, v2RootOn)
	g := openFake(t, k, "govz", "101")
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	k.takeLog()
	k.files["/sys/fs/cgroup/govz/101/ct/cgroup.threads"] = ""
	if err := g.Delegate(200000, 200001); err != nil {
		t.Fatal(err)
	}
	// INNER and the files that make and fill groups below it; nothing of
	// OUTER, which carries the limits.
	diff(t, "Delegate", k.takeLog(), lines(
		"chown govz/101/ct 200000:200001",
		"chown govz/101/ct/cgroup.procs 200000:200001",
		"chown govz/101/ct/cgroup.threads 200000:200001",
		"chown govz/101/ct/cgroup.subtree_control 200000:200001",
	))
}

func TestDelegateV1Hybrid(t *testing.T) {
	k := newFake(t, "mountinfo-v1-hybrid", "hugetlb\n", "")
	g := openFake(t, k, "govz", "101")
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	k.takeLog()
	for i := range g.hier {
		if !g.hier[i].v2 {
			k.files[g.hier[i].hostPath(g.inner())+"/tasks"] = ""
		}
	}
	if err := g.Delegate(300000, 300000); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range g.hier {
		h := &g.hier[i]
		rel := h.hostPath(g.inner())[len(fakeBase):]
		want = append(want, "chown "+rel+" 300000:300000", "chown "+rel+"/cgroup.procs 300000:300000")
		if h.v2 {
			want = append(want, "chown "+rel+"/cgroup.subtree_control 300000:300000")
		} else {
			want = append(want, "chown "+rel+"/tasks 300000:300000")
		}
	}
	diff(t, "Delegate", k.takeLog(), lines(want...))

	// A failure names the file.
	k.fail["chown "+g.hier[0].hostPath(g.inner())[len(fakeBase):]+"/cgroup.procs"] = fs.ErrPermission
	if err := g.Delegate(1, 1); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Delegate with a failing chown: %v", err)
	}
}
