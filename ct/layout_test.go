package ct

import (
	"testing"

	"govz/ct/caps"
	"govz/ct/storage"
)

// The layout's drops go before the container's own CAPABILITY items, so
// that the default loses sys_resource and an admin's sys_resource:on still
// gives it back (and is reported).
func TestLayoutCapItems(t *testing.T) {
	sysResource, _ := caps.Lookup("sys_resource")
	drops := []storage.CapDrop{{Name: "sys_resource", Why: "project quota"}}
	bounding := func(items []string, own []string) caps.Set {
		t.Helper()
		ch, err := caps.ParseChanges(append(items, own...))
		if err != nil {
			t.Fatal(err)
		}
		s, err := caps.Bounding(40, ch)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, c := range []struct {
		own      []string
		wantCap  bool
		wantKept bool
	}{
		{nil, false, false},
		{[]string{"net_admin:off"}, false, false},
		{[]string{"sys_resource:on"}, true, true},
		{[]string{"sys_resource:on", "sys_resource:off"}, false, false},
	} {
		own, err := caps.ParseChanges(c.own)
		if err != nil {
			t.Fatal(err)
		}
		items, kept := capItems(drops, own)
		if len(items) != 1 || items[0] != "sys_resource:off" {
			t.Fatalf("own %v: items %v", c.own, items)
		}
		if got := bounding(items, c.own).Has(sysResource); got != c.wantCap {
			t.Errorf("own %v: bounding set has sys_resource = %v, want %v", c.own, got, c.wantCap)
		}
		if (len(kept) == 1) != c.wantKept {
			t.Errorf("own %v: kept %v", c.own, kept)
		}
	}
	// Layouts whose limits need nothing leave the default alone.
	if items, kept := capItems(nil, nil); items != nil || kept != nil {
		t.Errorf("no drops: %v %v", items, kept)
	}
	if !caps.Default(40).Has(sysResource) {
		t.Error("the default set itself lost sys_resource: containers on btrfs and image layouts would too")
	}
}

func TestWithin(t *testing.T) {
	for _, c := range []struct {
		p    string
		want bool
	}{
		{"/vz/private", true}, {"/vz/a/b", true}, {"/vz", false}, {"/", false},
		{"/vzz/private", false}, {"/srv/private", false}, {"/vz/../etc", false},
	} {
		if got := within(c.p, "/vz"); got != c.want {
			t.Errorf("within(%q, /vz) = %v", c.p, got)
		}
	}
}
