package supervisor

import (
	"errors"
	"testing"

	"govz/ct/vzerror"
)

func TestSpecUserNSMappings(t *testing.T) {
	spec := func(u, g []IDMap) *Spec {
		return &Spec{ID: "101", Rootfs: "/vz/root/101", RunDir: "/vz/run/101", UIDMappings: u, GIDMappings: g}
	}
	s := spec([]IDMap{{0, 200000, 65536}}, []IDMap{{0, 300000, 65536}})
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if !s.UserNS() {
		t.Error("UserNS false with mappings")
	}
	if u, g := s.hostRoot(); u != 200000 || g != 300000 {
		t.Errorf("hostRoot = %d:%d", u, g)
	}
	if p := spec(nil, nil); p.UserNS() || func() bool { u, g := p.hostRoot(); return u != 0 || g != 0 }() {
		t.Error("a spec without mappings has a user namespace")
	}
	if m := sysMappings(s.UIDMappings); len(m) != 1 || m[0].ContainerID != 0 || m[0].HostID != 200000 || m[0].Size != 65536 {
		t.Errorf("sysMappings = %+v", m)
	}
	for name, m := range map[string][2][]IDMap{
		"gid only":          {nil, {{0, 200000, 65536}}},
		"two ranges":        {{{0, 200000, 1000}, {1000, 300000, 1000}}, {{0, 200000, 65536}}},
		"not from 0":        {{{1, 200000, 65536}}, {{0, 200000, 65536}}},
		"host root":         {{{0, 0, 65536}}, {{0, 200000, 65536}}},
		"wraps":             {{{0, 0xffff0000, 65536}}, {{0, 200000, 65536}}},
		"no tty group left": {{{0, 200000, 65536}}, {{0, 200000, 5}}},
	} {
		err := spec(m[0], m[1]).Validate()
		if !errors.Is(err, vzerror.ErrInvalidValue) {
			t.Errorf("%s: %v, want ErrInvalidValue", name, err)
		}
	}
}

func TestSpecIdentityMapping(t *testing.T) {
	s := &Spec{ID: "101", Rootfs: "/vz/root/101", RunDir: "/vz/run/101"}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if !s.UserNS() || !s.Identity() {
		t.Fatalf("a privileged spec after Validate: UserNS %v, Identity %v, mappings %v %v", s.UserNS(), s.Identity(), s.UIDMappings, s.GIDMappings)
	}
	if m := sysMappings(s.UIDMappings); len(m) != 1 || m[0].ContainerID != 0 || m[0].HostID != 0 || m[0].Size != 4294967295 {
		t.Errorf("identity uid_map = %+v, want 0 0 4294967295", m)
	}
	if u, g := s.hostRoot(); u != 0 || g != 0 {
		t.Errorf("hostRoot = %d:%d", u, g)
	}
	// Validate again (a reboot reloads and revalidates): still identity.
	if err := s.Validate(); err != nil || !s.Identity() {
		t.Errorf("second Validate: %v, identity %v", err, s.Identity())
	}
	lu := &Spec{ID: "101", Rootfs: "/vz/root/101", RunDir: "/vz/run/101",
		UIDMappings: []IDMap{{0, 200000, 65536}}, GIDMappings: []IDMap{{0, 200000, 65536}}}
	if err := lu.Validate(); err != nil || lu.Identity() {
		t.Errorf("LOCAL_UID spec: %v, identity %v", err, lu.Identity())
	}
	un := &Spec{ID: "101", Rootfs: "/vz/root/101", RunDir: "/vz/run/101", UnlockedMounts: true}
	if err := un.Validate(); err != nil || un.UserNS() {
		t.Errorf("unlocked spec: %v, userns %v", err, un.UserNS())
	}
	full := IDMap{0, 0, 4294967295}
	for name, m := range map[string][2][]IDMap{
		"identity uid only":     {{full}, {{0, 200000, 65536}}},
		"identity gid only":     {{{0, 200000, 65536}}, {full}},
		"partial identity":      {{{0, 0, 65536}}, {{0, 0, 65536}}},
		"identity plus a range": {{full, {0, 200000, 1}}, {full}},
		"shifted identity":      {{{1, 1, 4294967294}}, {full}},
	} {
		err := (&Spec{ID: "101", Rootfs: "/vz/root/101", RunDir: "/vz/run/101", UIDMappings: m[0], GIDMappings: m[1]}).Validate()
		if !errors.Is(err, vzerror.ErrInvalidValue) {
			t.Errorf("%s: %v, want ErrInvalidValue", name, err)
		}
	}
	bad := &Spec{ID: "101", Rootfs: "/vz/root/101", RunDir: "/vz/run/101", UnlockedMounts: true,
		UIDMappings: []IDMap{{0, 200000, 65536}}, GIDMappings: []IDMap{{0, 200000, 65536}}}
	if err := bad.Validate(); !errors.Is(err, vzerror.ErrInvalidValue) {
		t.Errorf("unlocked LOCAL_UID spec: %v, want ErrInvalidValue", err)
	}
}
