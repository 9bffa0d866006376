package conf

import (
	"errors"
	"slices"
	"testing"
)

// Every list option that vzctl 4.x splits at blanks: the values as a
// driving tool passes them, and the items govz must see.
func TestListOptionsSplitAtBlanks(t *testing.T) {
	cases := []struct {
		option string
		vals   []string
		split  func([]string) []string
		want   []string
	}{
		{"ipadd", []string{"10.0.0.1 10.0.0.2"}, ips, []string{"10.0.0.1", "10.0.0.2"}},
		{"ipadd tabs and repeats", []string{"10.0.0.1\t 10.0.0.2", "fd00::1/64"}, ips, []string{"10.0.0.1", "10.0.0.2", "fd00::1/64"}},
		{"ipadd unspecified skipped", []string{"0.0.0.0 10.0.0.1 :: ::0"}, ips, []string{"10.0.0.1"}},
		{"ipdel all", []string{"all"}, ips, []string{"all"}},
		{"ipdel list", []string{" 10.0.0.1  10.0.0.2 "}, ips, []string{"10.0.0.1", "10.0.0.2"}},
		{"capability", []string{"net_admin:on sys_time:off,chown:off"}, SplitItems, []string{"net_admin:on", "sys_time:off", "chown:off"}},
		{"features", []string{"nfs:on\tsit:off", "ppp:on"}, SplitItems, []string{"nfs:on", "sit:off", "ppp:on"}},
		{"nameserver", []string{"10.0.0.53 fd00::53", "10.0.0.54"}, SplitItems, []string{"10.0.0.53", "fd00::53", "10.0.0.54"}},
		{"searchdomain", []string{"a.example b.example"}, SplitItems, []string{"a.example", "b.example"}},
		{"devnodes", []string{"net/tun:rw fuse:rw"}, SplitItems, []string{"net/tun:rw", "fuse:rw"}},
		{"devices", []string{"c:10:200:rw b:8:0:r"}, SplitItems, []string{"c:10:200:rw", "b:8:0:r"}},
		{"netif_add", []string{"eth0 eth1,,veth101.1"}, blanks, []string{"eth0", "eth1,,veth101.1"}},
	}
	for _, c := range cases {
		t.Run(c.option, func(t *testing.T) {
			if got := c.split(c.vals); !slices.Equal(got, c.want) {
				t.Fatalf("%q: got %q, want %q", c.vals, got, c.want)
			}
		})
	}
}

func ips(v []string) []string { l, _ := SplitIPs(v); return l }

func blanks(v []string) []string {
	var out []string
	for _, s := range v {
		out = append(out, SplitBlanks(s)...)
	}
	return out
}

func TestSplitIPsReportsSkipped(t *testing.T) {
	_, skipped := SplitIPs([]string{"0.0.0.0 10.0.0.1", "::"})
	if !slices.Equal(skipped, []string{"0.0.0.0", "::"}) {
		t.Fatalf("skipped %q", skipped)
	}
}

func TestValidateFeatures(t *testing.T) {
	for _, ok := range [][]string{{"nfs:on sit:off"}, {"bridge:on,nfsd:off"}, nil} {
		if err := ValidateFeatures(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range [][]string{{"bogus:on"}, {"nfs"}, {"nfs:maybe"}, {":on"}} {
		if err := ValidateFeatures(bad); !errors.Is(err, ErrBadValue) {
			t.Errorf("%q: %v, want exit 21", bad, err)
		}
	}
}

// vzctl --save of --capability/--features keeps the other saved items.
func TestMergeSwitches(t *testing.T) {
	cases := []struct{ saved, given, want []string }{
		{nil, []string{"net_admin:on"}, []string{"net_admin:on"}},
		{[]string{"net_admin:on"}, []string{"sys_time:on"}, []string{"net_admin:on", "sys_time:on"}},
		{[]string{"net_admin:on", "sys_time:on"}, []string{"SYS_TIME:off"}, []string{"net_admin:on", "SYS_TIME:off"}},
		{[]string{"nfs:on,sit:on"}, []string{"sit:off nfs:on"}, []string{"nfs:on", "sit:off"}},
	}
	for _, c := range cases {
		if got := MergeSwitches(c.saved, c.given); !slices.Equal(got, c.want) {
			t.Errorf("%q + %q = %q, want %q", c.saved, c.given, got, c.want)
		}
	}
}

func TestParseCPULimit(t *testing.T) {
	for _, c := range []struct {
		v    string
		ncpu int
		want int
	}{{"25", 4, 25}, {"250", 4, 250}, {"25%", 4, 100}, {"100%", 2, 200}, {"0%", 8, 0}} {
		if got, err := ParseCPULimit(c.v, c.ncpu); err != nil || got != c.want {
			t.Errorf("%q on %d CPUs: %d %v, want %d", c.v, c.ncpu, got, err, c.want)
		}
	}
	for _, bad := range []string{"101%", "-1", "x", "5%%", ""} {
		if _, err := ParseCPULimit(bad, 4); !errors.Is(err, ErrBadValue) {
			t.Errorf("%q: %v, want exit 21", bad, err)
		}
	}
}
