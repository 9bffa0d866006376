package bridge

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func filtered(t *testing.T, s string) NetIf {
	t.Helper()
	n, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return Complete(101, n)
}

func TestFilterRulesStatic(t *testing.T) {
	n := filtered(t, "ifname=eth0,mac=02:00:00:00:00:01,bridge=br0,ip=10.0.0.5/24 fd00::5/64 10.0.0.6")
	want := []string{
		"ether saddr != 02:00:00:00:00:01 drop",
		"arp saddr ether != 02:00:00:00:00:01 drop",
		"icmpv6 type nd-neighbor-solicit @nh,512,16 0x0101 @nh,528,48 != 0x020000000001 drop",
		"icmpv6 type nd-neighbor-advert @nh,512,16 0x0201 @nh,528,48 != 0x020000000001 drop",
		"ether type != { ip, arp, ip6 } drop",
		"icmp type redirect drop",
		"icmpv6 type { nd-router-advert, nd-redirect } drop",
		"udp sport { 67, 547 } drop",
		"arp saddr ip != { 0.0.0.0, 10.0.0.5, 10.0.0.6 } drop",
		"ether type ip ip saddr != { 0.0.0.0, 10.0.0.5, 10.0.0.6 } drop",
		"ip saddr 0.0.0.0 ip daddr != 255.255.255.255 drop",
		"ip saddr 0.0.0.0 meta l4proto != udp drop",
		"ip saddr 0.0.0.0 udp dport != 67 drop",
		"ether type ip6 ip6 saddr != { ::, fe80::ff:fe00:1, fd00::5 } drop",
		"ip6 saddr :: meta l4proto != ipv6-icmp drop",
		"ip6 saddr :: icmpv6 type != { nd-neighbor-solicit, mld2-listener-report, mld-listener-report } drop",
		"icmpv6 type nd-neighbor-advert @nh,384,128 != { 0xfe80000000000000000000fffe000001, 0xfd000000000000000000000000000005 } drop",
	}
	if got := FilterRules(n); !slices.Equal(got, want) {
		t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A DHCP (or SLAAC, or guest-configured) entry: no source filter, but the
// MAC checks and the router/DHCP-server drops.
func TestFilterRulesNoAddresses(t *testing.T) {
	n := filtered(t, "ifname=eth0,mac=02:00:00:00:00:01,bridge=br0")
	got := strings.Join(FilterRules(n), "\n")
	for _, must := range []string{"arp saddr ether != 02:00:00:00:00:01 drop", "nd-router-advert, nd-redirect",
		"icmp type redirect drop", "udp sport { 67, 547 } drop", "ether saddr != 02:00:00:00:00:01 drop"} {
		if !strings.Contains(got, must) {
			t.Errorf("no %q in\n%s", must, got)
		}
	}
	for _, mustNot := range []string{"ip saddr", "ip6 saddr", "arp saddr ip"} {
		if strings.Contains(got, mustNot) {
			t.Errorf("%q in the rules of an entry without addresses:\n%s", mustNot, got)
		}
	}
	// Only IPv4 given: IPv6 stays unfiltered by source.
	got = strings.Join(FilterRules(filtered(t, "ifname=eth0,bridge=br0,ip=10.0.0.5")), "\n")
	if !strings.Contains(got, "ip saddr != { 0.0.0.0, 10.0.0.5 }") || strings.Contains(got, "ip6 saddr") {
		t.Errorf("IPv4-only entry:\n%s", got)
	}
}

func TestFilterRulesSwitches(t *testing.T) {
	macOnly := FilterRules(filtered(t, "ifname=eth0,bridge=br0,ip_filter=off,ip=10.0.0.5"))
	if len(macOnly) != 4 || strings.Contains(strings.Join(macOnly, "\n"), "redirect") {
		t.Errorf("ip_filter=off:\n%s", strings.Join(macOnly, "\n"))
	}
	ipOnly := strings.Join(FilterRules(filtered(t, "ifname=eth0,bridge=br0,mac_filter=off")), "\n")
	if strings.Contains(ipOnly, "ether saddr") || !strings.Contains(ipOnly, "nd-router-advert") {
		t.Errorf("mac_filter=off:\n%s", ipOnly)
	}
	for s, want := range map[string]bool{
		"ifname=eth0,bridge=br0":                              true,
		"ifname=eth0,bridge=br0,mac_filter=off":               true,
		"ifname=eth0,bridge=br0,mac_filter=off,ip_filter=off": false,
		"ifname=eth0": false, // the bridge family never sees an unbridged host end
	} {
		if got := filtered(t, s).Filtered(); got != want {
			t.Errorf("%s: Filtered() = %v", s, got)
		}
	}
}

func TestLinkLocal(t *testing.T) {
	mac, _ := net.ParseMAC("00:18:51:ab:cd:ef")
	if got := LinkLocal(mac); got != netip.MustParseAddr("fe80::218:51ff:feab:cdef") {
		t.Errorf("LinkLocal(%s) = %s", mac, got)
	}
}

func TestFilterChain(t *testing.T) {
	for in, want := range map[string]string{"veth101.0": "port_veth101.0", "vzb0011aabb": "port_vzb0011aabb"} {
		if got := FilterChain(in); got != want {
			t.Errorf("FilterChain(%s) = %s, want %s", in, got, want)
		}
	}
	a, b := FilterChain("a-b"), FilterChain("a+b")
	if a == b || !strings.HasPrefix(a, "port_a_b_") {
		t.Errorf("FilterChain: a-b %s, a+b %s", a, b)
	}
	if _, err := Parse(`ifname=eth0,host_ifname=a"b`); err == nil {
		t.Error("a host name with a quote accepted")
	}
}

func TestFilterScripts(t *testing.T) {
	n := filtered(t, "ifname=eth0,mac=02:00:00:00:00:01,bridge=br0,ip=10.0.0.5")
	add := FilterAddScript(n)
	for _, must := range []string{
		"add table bridge govz\n",
		"add chain bridge govz prerouting { type filter hook prerouting priority filter; policy accept; }\n",
		"flush chain bridge govz prerouting\nadd rule bridge govz prerouting iifname vmap @ports\n",
		"add chain bridge govz port_veth101.0\nflush chain bridge govz port_veth101.0\n",
		"add rule bridge govz port_veth101.0 ether type ip ip saddr != { 0.0.0.0, 10.0.0.5 } drop\n",
		`add element bridge govz ports { "veth101.0" : jump port_veth101.0 }` + "\n",
	} {
		if !strings.Contains(add, must) {
			t.Errorf("no %q in\n%s", must, add)
		}
	}
	del := FilterDelScript("veth101.0")
	if !strings.HasSuffix(del, `delete element bridge govz ports { "veth101.0" }`+"\nflush chain bridge govz port_veth101.0\ndelete chain bridge govz port_veth101.0\n") {
		t.Errorf("delete script:\n%s", del)
	}
}

// fakeNF records scripts and keeps the map's keys as a real table would.
type fakeNF struct {
	table   bool
	keys    []string
	scripts []string
	locked  bool
	fail    bool
}

func (f *fakeNF) Apply(s string) error {
	if !f.locked {
		return errors.New("applied without the lock")
	}
	if f.fail {
		return errors.New("nft failed")
	}
	f.scripts = append(f.scripts, s)
	switch {
	case strings.HasPrefix(s, "delete table"):
		f.table, f.keys = false, nil
	case strings.Contains(s, "delete element"):
		f.keys = slices.DeleteFunc(f.keys, func(k string) bool { return strings.Contains(s, `{ "`+k+`" }`) })
	default:
		f.table = true
		for _, l := range strings.Split(s, "\n") {
			if k, ok := strings.CutPrefix(l, `add element bridge govz ports { "`); ok {
				k, _, _ = strings.Cut(k, `"`)
				if !slices.Contains(f.keys, k) {
					f.keys = append(f.keys, k)
				}
			}
		}
	}
	return nil
}

func (f *fakeNF) MapKeys(family, table, name string) ([]string, bool, error) {
	if family != "bridge" || table != FilterTable || name != filterMap {
		return nil, false, errors.New("wrong map")
	}
	return slices.Clone(f.keys), f.table, nil
}

func (f *fakeNF) Lock() (func(), error) {
	f.locked = true
	return func() { f.locked = false }, nil
}

func TestFilterLifecycle(t *testing.T) {
	nf := &fakeNF{}
	a := filtered(t, "ifname=eth0,bridge=br0,ip=10.0.0.5")
	b := Complete(102, NetIf{Name: "eth0", Bridge: "br0", MACFilter: true, IPFilter: true})
	if err := Unfilter(nf, a.HostName); err != nil || len(nf.scripts) != 0 {
		t.Fatalf("unfilter without a table: %v, ran %q", err, nf.scripts)
	}
	for _, n := range []NetIf{a, b} {
		if err := Filter(nf, n); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(nf.keys, []string{"veth101.0", "veth102.0"}) {
		t.Fatalf("ports %v", nf.keys)
	}
	if err := Unfilter(nf, a.HostName); err != nil || !nf.table || !slices.Equal(nf.keys, []string{"veth102.0"}) {
		t.Fatalf("after removing one of two ports: %v, table %v, ports %v", err, nf.table, nf.keys)
	}
	// The last port takes the table with it: nothing stays in the kernel.
	if err := Unfilter(nf, b.HostName); err != nil || nf.table {
		t.Fatalf("after the last port: %v, table %v", err, nf.table)
	}
	// An entry switched to unfiltered removes its chain.
	if err := Filter(nf, a); err != nil {
		t.Fatal(err)
	}
	a.MACFilter, a.IPFilter = false, false
	if err := Filter(nf, a); err != nil || nf.table {
		t.Fatalf("unfiltered entry: %v, table %v", err, nf.table)
	}
	nf.fail = true
	if err := Filter(nf, b); err == nil || !strings.Contains(err.Error(), "veth102.0") {
		t.Errorf("a failing nft: %v", err)
	}
}

func TestParseIPs(t *testing.T) {
	n, err := Parse("ifname=eth0,ip_filter=off,ip=10.0.0.5/24 fd00::5 10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	if s := n.String(); s != "ifname=eth0,mac_filter=on,ip_filter=off,ip=10.0.0.5/24 fd00::5" {
		t.Errorf("String() = %s", s)
	}
	for _, bad := range []string{"ifname=eth0,ip=10.0.0.300", "ifname=eth0,ip=fe80::1", "ifname=eth0,ip=0.0.0.0"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	m := n
	m.IPs, m.IPFilter = nil, true
	if !SameLink(n, m) {
		t.Error("a change of addresses re-creates the pair")
	}
	m.Bridge = "br1"
	if SameLink(n, m) {
		t.Error("a change of bridge keeps the pair")
	}
}
