package ippool

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParseAndAllocate(t *testing.T) {
	ps, err := Parse([]string{"10.66.0.0/30", "v6=fd00:66::/126", "lan=10.67.0.9-10.67.0.10", "lan=10.67.0.20"})
	if err != nil {
		t.Fatal(err)
	}
	def, err := ps.Lookup("")
	if err != nil || def.Name != Default {
		t.Fatalf("default pool: %v %v", def, err)
	}
	// A /30 leaves two hosts: .1 and .2 (network and broadcast out).
	used := map[netip.Addr]bool{}
	for _, want := range []string{"10.66.0.1", "10.66.0.2"} {
		a, err := def.Allocate(used)
		if err != nil || a.String() != want {
			t.Fatalf("got %v %v, want %s", a, err, want)
		}
		used[a] = true
	}
	if _, err := def.Allocate(used); !errors.Is(err, ErrExhausted) {
		t.Fatalf("full pool: %v", err)
	}
	// The lowest free one: a freed address is taken again first.
	delete(used, netip.MustParseAddr("10.66.0.1"))
	if a, _ := def.Allocate(used); a.String() != "10.66.0.1" {
		t.Fatalf("after a release: %v", a)
	}
	v6, _ := ps.Lookup("v6")
	if a, _ := v6.Allocate(nil); a.String() != "fd00:66::1" {
		t.Fatalf("v6: %v (the subnet-router anycast ::0 is not a host's)", a)
	}
	lan, _ := ps.Lookup("lan")
	used = map[netip.Addr]bool{netip.MustParseAddr("10.67.0.9"): true, netip.MustParseAddr("10.67.0.10"): true}
	if a, _ := lan.Allocate(used); a.String() != "10.67.0.20" {
		t.Fatalf("second range: %v", a)
	}
	if _, err := ps.Lookup("nosuch"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown pool: %v", err)
	}
}

func TestParseBad(t *testing.T) {
	for _, e := range []string{"", "x=", "a/b=10.0.0.1", "10.0.0.5-10.0.0.1", "10.0.0.1-fd00::1", "10.0.0.0/33", "fe80::1%eth0", "10.0.0.1-10.0.0.9\n"} {
		if _, err := Parse([]string{e}); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: %v", e, err)
		}
	}
	if _, err := Parse([]string{"10.0.0.0/24", "10.0.0.5"}); !errors.Is(err, ErrSyntax) {
		t.Errorf("overlap accepted: %v", err)
	}
	if _, err := (Pools{{Name: "a"}, {Name: "b"}}).Lookup(""); !errors.Is(err, ErrUnknown) {
		t.Errorf("ambiguous auto: %v", err)
	}
	for _, s := range []string{"auto:", "auto:../x", "auto:a b"} {
		if _, ok, err := ParseAuto(s); !ok || !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseAuto(%q): %v %v", s, ok, err)
		}
	}
	if p, ok, err := ParseAuto("auto:lan"); !ok || err != nil || p != "lan" {
		t.Errorf("auto:lan: %q %v %v", p, ok, err)
	}
	if _, ok, _ := ParseAuto("10.0.0.1"); ok {
		t.Error("an address is not auto")
	}
}
