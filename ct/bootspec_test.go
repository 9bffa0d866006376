package ct

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"

	"govz/conf"
	"govz/ct/ctnet"
	"govz/ct/resource"
	"govz/ct/storage"
	"govz/ct/vzlog"
)

// TestBootSpecPure derives a boot from a Container built in memory: no
// config file, no private area, no host probing. The paths do not exist,
// so any I/O BootSpec did would show as an error or a difference.
func TestBootSpecPure(t *testing.T) {
	n := &Node{Paths: conf.Paths{Root: "/nonexistent/vz"}, Global: conf.Defaults(), Log: &vzlog.Logger{}}
	uid := conf.IDBase(200000)
	layer := &conf.Config{
		Hostname:     ptr("web"),
		IPAddress:    []string{"10.1.2.3", "fd00::3"},
		Nameserver:   []string{"inherit", "10.0.0.53"},
		SearchDomain: []string{"inherit"},
		PhysPages:    ptr("0:1024"),
		Capability:   []string{"sys_resource:on"},
		LocalUID:     &uid,
		LocalGID:     &uid,
		StopTimeout:  ptr(30),
		CgroupParent: ptr("govz-test"),
	}
	c := n.container(101, layer)
	c.Host = &HostFacts{
		PageSize: 4096,
		IPv6:     false,
		CapDrops: []storage.CapDrop{{Name: "sys_resource", Why: "test"}},
		ResolvNS: []string{"192.0.2.53"}, ResolvSearch: []string{"example.test"},
	}
	b, err := BootSpec(c)
	if err != nil {
		t.Fatal(err)
	}
	s := b.Spec
	if s.ID != "101" || s.Rootfs != "/nonexistent/vz/root/101" || s.RunDir != "/nonexistent/vz/run/101" {
		t.Errorf("identity and paths: id %q root %q run %q", s.ID, s.Rootfs, s.RunDir)
	}
	if s.Hostname != "web" || s.CgroupParent != "govz-test" || s.StopTimeout.Seconds() != 30 {
		t.Errorf("hostname %q, cgroup parent %q, stop timeout %v", s.Hostname, s.CgroupParent, s.StopTimeout)
	}
	if want := []string{"sys_resource:off", "sys_resource:on"}; !reflect.DeepEqual(s.Capabilities, want) {
		t.Errorf("capabilities %q, want %q (layout drop first, the admin's item wins)", s.Capabilities, want)
	}
	if len(b.Warnings) != 2 {
		t.Errorf("warnings %q: want the kept capability and the IPv6 address dropped", b.Warnings)
	}
	if len(s.UIDMappings) != 1 || s.UIDMappings[0].HostID != 200000 || s.UIDMappings[0].Size != UserNSRange {
		t.Errorf("uid mappings %+v", s.UIDMappings)
	}
	if s.ShmSize == "" {
		t.Errorf("ram 4 MiB: /dev/shm size unset")
	}
	var pre, post []string
	for _, st := range s.Prestart {
		pre = append(pre, st.Name)
	}
	for _, st := range s.Poststop {
		post = append(post, st.Name)
	}
	if !reflect.DeepEqual(pre, []string{stepResources, stepNetwork}) || !reflect.DeepEqual(post, []string{stepNetwork, stepStopped}) {
		t.Errorf("hook plan: prestart %q, poststop %q", pre, post)
	}
	var ns ctnet.Step
	if err := json.Unmarshal(s.Prestart[1].Data, &ns); err != nil {
		t.Fatal(err)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.1.2.3/32")}; !reflect.DeepEqual(ns.Addrs, want) || ns.IPv6 {
		t.Errorf("network plan: addrs %v ipv6 %v, want %v without IPv6 (host has it off)", ns.Addrs, ns.IPv6, want)
	}
	if !reflect.DeepEqual(ns.Guest.Nameservers, []string{"192.0.2.53", "10.0.0.53"}) || !reflect.DeepEqual(ns.Guest.Search, []string{"example.test"}) {
		t.Errorf("guest resolver: %q %q", ns.Guest.Nameservers, ns.Guest.Search)
	}
	if ns.RunDir != s.RunDir || ns.LockDir != "/nonexistent/vz/lock" || ns.Root != s.Rootfs {
		t.Errorf("network step dirs: %+v", ns)
	}
	var rs resource.Step
	if err := json.Unmarshal(s.Prestart[0].Data, &rs); err != nil {
		t.Fatal(err)
	}
	if rs.ID != 101 || rs.CgroupParent != "govz-test" || rs.Settings == nil || rs.Settings.UBC["physpages"].Limit != 1024 {
		t.Errorf("resource step: %+v", rs)
	}
	var st stoppedStep
	if err := json.Unmarshal(s.Poststop[1].Data, &st); err != nil {
		t.Fatal(err)
	}
	if st.BootMark != "/nonexistent/vz/boot/101" || st.Scripts.ConfFile != "/nonexistent/vz/conf/101.toml" || st.Scripts.VZRoot != "/nonexistent/vz" {
		t.Errorf("stopped step: %+v", st)
	}
	// A pure function: the same Container gives the same boot.
	again, err := BootSpec(c)
	if err != nil || !reflect.DeepEqual(again, b) {
		t.Errorf("second derivation differs: %v", err)
	}
}

// TestBootSpecNeedsHost: a Container nobody probed gives no boot.
func TestBootSpecNeedsHost(t *testing.T) {
	n := &Node{Paths: conf.Paths{Root: "/nonexistent/vz"}, Global: conf.Defaults(), Log: &vzlog.Logger{}}
	if _, err := BootSpec(n.container(7, &conf.Config{})); err == nil {
		t.Fatal("BootSpec without host facts: no error")
	}
}
