package venet

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"govz/net/fw"
	"govz/net/link"
	"govz/net/sysctl"
)

// world is a node with an uplink "eth0" (default route of both families)
// and a "lan0" holding 192.0.2.0/24, and a running container 101.
type world struct {
	host, guest *link.Fake
	v4, v6      *fw.Fake
	sys         sysctl.Map
	announced   []string
	env         *Env
}

func newWorld() *world {
	w := &world{host: link.NewFake(), guest: link.NewFake(), v4: fw.NewFake(), v6: fw.NewFake(), sys: sysctl.Map{}}
	w.host.AddExisting("eth0", false)
	w.host.AddExisting("lan0", false)
	w.host.Default[false] = []string{"eth0"}
	w.host.Default[true] = []string{"eth0"}
	w.host.Neighbours = []string{"eth0", "lan0"}
	for _, a := range []string{"192.0.2.10", "192.0.2.11", "192.0.2.12"} {
		w.host.RouteTo[netip.MustParseAddr(a)] = link.RouteInfo{Dev: "lan0"}
	}
	w.host.RouteTo[netip.MustParseAddr("192.0.2.1")] = link.RouteInfo{Dev: "lo", Local: true}
	w.host.Peers["/proc/4242/ns/net"] = w.guest
	w.env = &Env{CT: 101, Host: w.host, Guest: w.guest, GuestNS: "/proc/4242/ns/net", Sysctl: w.sys,
		Filter: &fw.Tables{V4: w.v4, V6: w.v6}, IPv6: true,
		Announce: func(dev string, a netip.Addr) error {
			w.announced = append(w.announced, a.String()+" on "+dev)
			return nil
		}}
	return w
}

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		if !strings.Contains(p, "/") {
			a := netip.MustParseAddr(p)
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

// state renders the node, the container and the rules as one text.
func (w *world) state() string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(w.host.State(), "\n") {
		if l != "" {
			b.WriteString("node: " + l)
		}
	}
	for _, l := range strings.SplitAfter(w.guest.State(), "\n") {
		if l != "" {
			b.WriteString("ct: " + l)
		}
	}
	for _, l := range strings.SplitAfter(w.v4.State(), "\n") {
		if strings.Contains(l, "PREROUTING") || strings.Contains(l, "POSTROUTING") {
			continue // fw's own tests cover the rules; here: which sources pass
		}
		if strings.Contains(l, "RETURN") {
			b.WriteString("fw: " + l)
		}
	}
	for _, l := range strings.SplitAfter(w.v6.State(), "\n") {
		if strings.Contains(l, "RETURN") && !strings.Contains(l, "fe80::/10") {
			b.WriteString("fw6: " + l)
		}
	}
	return b.String()
}

const venetBase = `node: ip addr add 169.254.0.1/32 dev venet101
node: ip addr add fe80::1/64 nodad dev venet101
node: ip link add venet101 address 02:6c:a2:00:1b:5b type veth peer name venet0 netns /proc/4242/ns/net address 02:25:9a:85:96:ef
node: ip link set venet101 alias "govz:venet 101"
node: ip link set venet101 up
`

const guestBase = `ct: ip link set venet0 up
ct: ip route add default via 169.254.0.1 dev venet0 onlink
ct: ip route add default via fe80::1 dev venet0
`

func TestUp(t *testing.T) {
	for _, tc := range []struct {
		name     string
		addrs    []netip.Prefix
		nb       string
		want     string
		announce string
	}{
		{
			name:  "detect: the route's device, else the default route's",
			addrs: prefixes("192.0.2.10/24", "198.51.100.7", "2001:db8::7/64"),
			nb:    "detect",
			want: venetBase + `node: ip neigh add proxy 192.0.2.10 dev lan0
node: ip neigh add proxy 198.51.100.7 dev eth0
node: ip neigh add proxy 2001:db8::7 dev eth0
node: ip route add 192.0.2.10/32 dev venet101
node: ip route add 198.51.100.7/32 dev venet101
node: ip route add 2001:db8::7/128 dev venet101
ct: ip addr add 192.0.2.10/24 noprefixroute dev venet0
ct: ip addr add 198.51.100.7/32 noprefixroute dev venet0
ct: ip addr add 2001:db8::7/64 noprefixroute nodad dev venet0
` + guestBase + `fw: -t mangle -A govz-101-src -s 192.0.2.10/32 -j RETURN
fw: -t mangle -A govz-101-src -s 198.51.100.7/32 -j RETURN
fw6: -t mangle -A govz-101-src -s 2001:db8::7/128 -j RETURN
`,
			announce: "192.0.2.10 on lan0, 198.51.100.7 on eth0, 2001:db8::7 on eth0",
		},
		{
			name:  "all",
			addrs: prefixes("192.0.2.11"),
			nb:    "all",
			want: venetBase + `node: ip neigh add proxy 192.0.2.11 dev eth0
node: ip neigh add proxy 192.0.2.11 dev lan0
node: ip route add 192.0.2.11/32 dev venet101
ct: ip addr add 192.0.2.11/32 noprefixroute dev venet0
` + guestBase + `fw: -t mangle -A govz-101-src -s 192.0.2.11/32 -j RETURN
`,
			announce: "192.0.2.11 on eth0, 192.0.2.11 on lan0",
		},
		{
			name:  "list",
			addrs: prefixes("192.0.2.12"),
			nb:    "list:lan0",
			want: venetBase + `node: ip neigh add proxy 192.0.2.12 dev lan0
node: ip route add 192.0.2.12/32 dev venet101
ct: ip addr add 192.0.2.12/32 noprefixroute dev venet0
` + guestBase + `fw: -t mangle -A govz-101-src -s 192.0.2.12/32 -j RETURN
`,
			announce: "192.0.2.12 on lan0",
		},
		{
			name: "no addresses: the pair and gateways only",
			nb:   "detect",
			want: venetBase + guestBase,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			nb, err := ParseNeighbours(tc.nb)
			if err != nil {
				t.Fatal(err)
			}
			st, err := Up(w.env, tc.addrs, nb)
			if err != nil {
				t.Fatal(err)
			}
			if got := w.state(); got != tc.want {
				t.Errorf("state:\n%s\nwant:\n%s", got, tc.want)
			}
			if got := strings.Join(w.announced, ", "); got != tc.announce {
				t.Errorf("announced %q, want %q", got, tc.announce)
			}
			if w.sys["net/ipv4/conf/venet101/rp_filter"] != "1" || w.sys["net/ipv6/conf/venet101/accept_ra"] != "0" {
				t.Errorf("host end sysctls: %v", w.sys)
			}
			// Down leaves the node as it was.
			if err := Down(w.env, st); err != nil {
				t.Fatal(err)
			}
			if got := w.host.State() + w.v4.State() + w.v6.State(); got != "" {
				t.Errorf("after Down:\n%s", got)
			}
			if len(st.Addrs) != 0 {
				t.Errorf("state still records %v", st.Addrs)
			}
		})
	}
}

func TestLiveAddDel(t *testing.T) {
	w := newWorld()
	nb := Neighbours{Mode: "detect"}
	st, err := Up(w.env, prefixes("192.0.2.10"), nb)
	if err != nil {
		t.Fatal(err)
	}
	if err := Add(w.env, st, prefixes("2001:db8::7")[0], nb); err != nil {
		t.Fatal(err)
	}
	if err := Add(w.env, st, prefixes("2001:db8::7")[0], nb); err != nil { // again: nothing new
		t.Fatal(err)
	}
	if err := Del(w.env, st, netip.MustParseAddr("192.0.2.10")); err != nil {
		t.Fatal(err)
	}
	want := venetBase + `node: ip neigh add proxy 2001:db8::7 dev eth0
node: ip route add 2001:db8::7/128 dev venet101
ct: ip addr add 2001:db8::7/128 noprefixroute nodad dev venet0
` + guestBase + `fw6: -t mangle -A govz-101-src -s 2001:db8::7/128 -j RETURN
`
	if got := w.state(); got != want {
		t.Errorf("state:\n%s\nwant:\n%s", got, want)
	}
	if got := strings.Join(w.announced, ", "); got != "192.0.2.10 on lan0, 2001:db8::7 on eth0" {
		t.Errorf("announced %s", got)
	}
	if len(st.Addrs) != 1 || st.Addrs[0].Prefix.String() != "2001:db8::7/128" || st.Addrs[0].Neigh[0] != "eth0" {
		t.Errorf("state records %+v", st.Addrs)
	}
}

func TestUndo(t *testing.T) {
	// Each step of Up fails once in turn; every failure must leave the
	// node as it was.
	steps := []string{"ip link add", "ip addr add 169.254.0.1", "ip addr add fe80::1", "ip link set venet101 up",
		"ip neigh add proxy 192.0.2.10", "ip route add 2001:db8::7/128", "ip neigh add proxy 2001:db8::7"}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			w := newWorld()
			w.host.FailOn = step
			if _, err := Up(w.env, prefixes("192.0.2.10", "2001:db8::7"), Neighbours{Mode: "detect"}); err == nil {
				t.Fatal("Up succeeded despite the failure")
			}
			if w.host.FailOn != "" {
				t.Fatalf("step %q never ran", step)
			}
			if got := w.host.State() + w.v4.State() + w.v6.State(); got != "" {
				t.Errorf("left behind:\n%s", got)
			}
		})
	}
	for _, step := range []string{"ip addr add 2001:db8::7", "ip route replace default via fe80::1"} {
		t.Run("ct "+step, func(t *testing.T) {
			w := newWorld()
			w.guest.FailOn = step
			if _, err := Up(w.env, prefixes("192.0.2.10", "2001:db8::7"), Neighbours{Mode: "detect"}); err == nil {
				t.Fatal("Up succeeded despite the failure")
			}
			if got := w.host.State() + w.v4.State() + w.v6.State(); got != "" {
				t.Errorf("left behind:\n%s", got)
			}
		})
	}
	t.Run("live add", func(t *testing.T) {
		w := newWorld()
		st, err := Up(w.env, prefixes("192.0.2.10"), Neighbours{Mode: "detect"})
		if err != nil {
			t.Fatal(err)
		}
		before := w.state()
		w.guest.FailOn = "ip addr add 192.0.2.11"
		if err := Add(w.env, st, prefixes("192.0.2.11")[0], Neighbours{Mode: "detect"}); err == nil {
			t.Fatal("Add succeeded despite the failure")
		}
		if got := w.state(); got != before {
			t.Errorf("after a failed add:\n%s\nwant:\n%s", got, before)
		}
		if len(st.Addrs) != 1 {
			t.Errorf("state records %+v", st.Addrs)
		}
	})
}

func TestLocalAddressRefused(t *testing.T) {
	w := newWorld()
	_, err := Up(w.env, prefixes("192.0.2.1"), Neighbours{Mode: "detect"})
	if !errors.Is(err, ErrLocal) {
		t.Fatalf("got %v, want ErrLocal", err)
	}
	if got := w.host.State() + w.v4.State(); got != "" {
		t.Errorf("left behind:\n%s", got)
	}
}

func TestIPv6Disabled(t *testing.T) {
	w := newWorld()
	w.env.IPv6 = false
	st, err := Up(w.env, prefixes("192.0.2.10"), Neighbours{Mode: "detect"})
	if err != nil {
		t.Fatal(err)
	}
	if s := w.state(); strings.Contains(s, "fe80::1") {
		t.Errorf("IPv6 gateway with IPv6 disabled:\n%s", s)
	}
	if err := Add(w.env, st, prefixes("2001:db8::7")[0], Neighbours{Mode: "detect"}); err == nil {
		t.Error("IPv6 address accepted with IPv6 disabled")
	}
}

func TestDownAfterCrash(t *testing.T) {
	// The container died and its namespace took the pair along; Down
	// still removes the proxy entries and rules, and is repeatable.
	w := newWorld()
	st, err := Up(w.env, prefixes("192.0.2.10", "2001:db8::7"), Neighbours{Mode: "detect"})
	if err != nil {
		t.Fatal(err)
	}
	saved := *st
	saved.Addrs = append([]Addr(nil), st.Addrs...)
	w.host.DelLink("venet101")
	w.env.Guest = nil
	for i := 0; i < 2; i++ {
		cp := saved
		cp.Addrs = append([]Addr(nil), saved.Addrs...)
		if err := Down(w.env, &cp); err != nil {
			t.Fatalf("Down #%d: %v", i+1, err)
		}
	}
	if got := w.host.State() + w.v4.State() + w.v6.State(); got != "" {
		t.Errorf("left behind:\n%s", got)
	}
}

func TestParseNeighbours(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{"", "detect []", false},
		{"detect", "detect []", false},
		{"all", "all []", false},
		{"list:eth0 eth1", "list [eth0 eth1]", false},
		{"list:eth0,br0", "list [eth0 br0]", false},
		{"list:", "", true},
		{"list:a/b", "", true},
		{"some", "", true},
	} {
		nb, err := ParseNeighbours(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("%q: error %v", tc.in, err)
			continue
		}
		if got := fmt.Sprintf("%s %v", nb.Mode, nb.Devs); !tc.bad && got != tc.want {
			t.Errorf("%q: %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestSysctlNeeds(t *testing.T) {
	s := sysctl.Map{
		"net/ipv4/ip_forward":                 "1",
		"net/ipv4/conf/eth0/forwarding":       "1",
		"net/ipv4/neigh/eth0/proxy_delay":     "80",
		"net/ipv6/conf/all/forwarding":        "0",
		"net/ipv6/conf/eth0/forwarding":       "0",
		"net/ipv6/conf/eth0/proxy_ndp":        "0",
		"net/ipv6/neigh/eth0/proxy_delay":     "0",
		"net/ipv6/conf/eth0.100/forwarding":   "1",
		"net/ipv6/conf/eth0.100/proxy_ndp":    "1",
		"net/ipv6/neigh/eth0.100/proxy_delay": "0",
	}
	var got []string
	for _, n := range Missing(s, Needs(true, true, []string{"eth0", "eth0.100"})) {
		got = append(got, n.String())
	}
	want := "net.ipv4.neigh.eth0.proxy_delay=0 net.ipv4.conf.eth0/100.forwarding=1 net.ipv4.neigh.eth0/100.proxy_delay=0 " +
		"net.ipv6.conf.all.forwarding=1 net.ipv6.conf.eth0.forwarding=1 net.ipv6.conf.eth0.proxy_ndp=1"
	if strings.Join(got, " ") != want {
		t.Errorf("missing:\n%s\nwant:\n%s", strings.Join(got, " "), want)
	}
	// all.proxy_ndp stands in for the per-device one.
	s["net/ipv6/conf/all/proxy_ndp"] = "1"
	for _, n := range Missing(s, Needs(false, true, []string{"eth0"})) {
		if strings.HasSuffix(n.Path, "proxy_ndp") {
			t.Errorf("proxy_ndp still missing with all.proxy_ndp=1")
		}
	}
	if err := Apply(s, Missing(s, Needs(true, true, []string{"eth0"}))); err != nil {
		t.Fatal(err)
	}
	if m := Missing(s, Needs(true, true, []string{"eth0"})); len(m) != 0 {
		t.Errorf("still missing after Apply: %v", m)
	}
}

// TestPairThenRoute: a restore's two halves make what Up makes, and the
// first leaves the host routing nothing to the container (CRIU has not
// locked its network yet).
func TestPairThenRoute(t *testing.T) {
	addrs := prefixes("192.0.2.10", "2001:db8::10")
	up := newWorld()
	if _, err := Up(up.env, addrs, Neighbours{Mode: "detect"}); err != nil {
		t.Fatal(err)
	}
	w := newWorld()
	if err := Pair(w.env, addrs); err != nil {
		t.Fatal(err)
	}
	if s := w.host.State(); strings.Contains(s, "192.0.2.10") || strings.Contains(s, "2001:db8::10") || strings.Contains(s, "proxy") {
		t.Fatalf("the node routes to the container before Route:\n%s", s)
	}
	if len(w.announced) > 0 {
		t.Fatalf("announced before Route: %v", w.announced)
	}
	env := *w.env
	env.Guest = nil // as the restore's second half runs it
	if _, err := Route(&env, addrs, Neighbours{Mode: "detect"}); err != nil {
		t.Fatal(err)
	}
	if got, want := w.state(), up.state(); got != want {
		t.Fatalf("Pair + Route made\n%s\nUp makes\n%s", got, want)
	}
}

// TestRouteFailureKeepsPair: a failed Route undoes its rules and routes
// and leaves the pair to its caller.
func TestRouteFailureKeepsPair(t *testing.T) {
	addrs := prefixes("192.0.2.10", "192.0.2.11")
	w := newWorld()
	if err := Pair(w.env, addrs); err != nil {
		t.Fatal(err)
	}
	paired := w.state()
	w.host.FailOn = "192.0.2.11"
	env := *w.env
	env.Guest = nil
	if _, err := Route(&env, addrs, Neighbours{Mode: "detect"}); err == nil {
		t.Fatal("Route succeeded despite the failure")
	}
	if got := w.state(); got != paired {
		t.Fatalf("after a failed Route\n%s\nwant the pair alone\n%s", got, paired)
	}
}
