package link

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"govz/internal/roottest"
	"govz/net/nettest"
)

// testNS makes a named network namespace that goes away with the test.
func testNS(t *testing.T, role string) string {
	t.Helper()
	name := fmt.Sprintf("govz-link%s-%d-%d", role, os.Getpid(), time.Now().UnixNano()%1e6)
	nettest.NewNS(t, name)
	return name
}

func ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// in runs f on a thread inside namespace ns.
func in(t *testing.T, ns string, f func()) { t.Helper(); nettest.In(t, ns, f) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestNetlink(t *testing.T) {
	roottest.Require(t, "network namespaces")
	host, guest := testNS(t, "h"), testNS(t, "g")
	var h Ops
	in(t, host, func() {
		var err error
		h, err = Open()
		must(t, err)
	})
	defer h.Close()
	g, err := OpenAt("/run/netns/" + guest)
	must(t, err)
	defer g.Close()
	ip(t, "-n", host, "link", "add", "up0", "type", "veth", "peer", "name", "up0p")
	ip(t, "-n", host, "link", "set", "up0p", "up")
	ip(t, "-n", host, "addr", "add", "10.9.0.2/24", "dev", "up0")
	ip(t, "-n", host, "link", "set", "up0", "up")
	ip(t, "-n", host, "route", "add", "default", "via", "10.9.0.1")

	mac, peerMAC := StableMAC("1", "h"), StableMAC("1", "g")
	v := Veth{Name: "h0", PeerName: "venet0", PeerNS: "/run/netns/" + guest, MAC: mac, PeerMAC: peerMAC, Alias: AliasPrefix + "test"}
	must(t, h.AddVeth(v))
	if err := h.AddVeth(v); !errors.Is(err, ErrExist) {
		t.Errorf("second AddVeth: %v, want ErrExist", err)
	}
	if out := ip(t, "-n", host, "-d", "link", "show", "h0"); !strings.Contains(out, mac.String()) || !strings.Contains(out, "alias govz:test") {
		t.Errorf("host end:\n%s", out)
	}
	if out := ip(t, "-n", guest, "link", "show", "venet0"); !strings.Contains(out, peerMAC.String()) {
		t.Errorf("container end:\n%s", out)
	}
	if ok, err := g.LinkExists("venet0"); !ok || err != nil {
		t.Errorf("LinkExists(venet0) in the guest = %v, %v", ok, err)
	}
	if ok, err := h.LinkExists("venet0"); ok || err != nil {
		t.Errorf("LinkExists(venet0) on the host = %v, %v", ok, err)
	}
	must(t, h.SetUp("h0"))
	must(t, g.SetUp("venet0"))
	must(t, g.SetUp("lo"))

	// Addresses: no broadcast, no subnet route, no DAD.
	must(t, g.AddAddr("venet0", Addr{Prefix: netip.MustParsePrefix("10.9.0.5/24"), NoPrefixRoute: true}))
	must(t, g.AddAddr("venet0", Addr{Prefix: netip.MustParsePrefix("fd00:9::5/64"), NoPrefixRoute: true, NoDAD: true}))
	if err := g.AddAddr("venet0", Addr{Prefix: netip.MustParsePrefix("10.9.0.5/24")}); !errors.Is(err, ErrExist) {
		t.Errorf("second AddAddr: %v, want ErrExist", err)
	}
	out := ip(t, "-n", guest, "addr", "show", "venet0")
	v6line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "fd00:9::5/64") {
			v6line = l
		}
	}
	if !strings.Contains(out, "inet 10.9.0.5/24 scope global noprefixroute") || strings.Contains(out, "brd 10.9.0.255") ||
		!strings.Contains(v6line, "noprefixroute") || strings.Contains(v6line, "tentative") {
		t.Errorf("container addresses:\n%s", out)
	}
	if out := ip(t, "-n", guest, "route"); strings.Contains(out, "10.9.0.0/24") {
		t.Errorf("a subnet route despite noprefixroute:\n%s", out)
	}
	must(t, h.AddAddr("h0", Addr{Prefix: netip.MustParsePrefix("169.254.0.1/32")}))
	must(t, g.ReplaceRoute(Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Dev: "venet0", Gw: netip.MustParseAddr("169.254.0.1"), OnLink: true}))
	if out := ip(t, "-n", guest, "route"); !strings.Contains(out, "default via 169.254.0.1 dev venet0 onlink") {
		t.Errorf("default route:\n%s", out)
	}

	// Host route, route lookups.
	hr := Route{Dst: netip.MustParsePrefix("10.9.0.5/32"), Dev: "h0"}
	must(t, h.AddRoute(hr))
	if err := h.AddRoute(hr); !errors.Is(err, ErrExist) {
		t.Errorf("second AddRoute: %v, want ErrExist", err)
	}
	if out := ip(t, "-n", host, "route"); !strings.Contains(out, "10.9.0.5 dev h0 scope link") {
		t.Errorf("host route:\n%s", out)
	}
	for a, want := range map[string]RouteInfo{"10.9.0.5": {Dev: "h0"}, "10.9.0.7": {Dev: "up0"}, "192.0.2.1": {Dev: "up0"}, "10.9.0.2": {Dev: "lo", Local: true}} {
		ri, err := h.RouteGet(netip.MustParseAddr(a))
		if err != nil || ri != want {
			t.Errorf("RouteGet(%s) = %+v, %v; want %+v", a, ri, err, want)
		}
	}
	if d, err := h.DefaultDevs(false); err != nil || fmt.Sprint(d) != "[up0]" {
		t.Errorf("DefaultDevs = %v, %v", d, err)
	}
	// Neighbour devices: up, addressed, not ours.
	ip(t, "-n", host, "addr", "add", "10.9.1.1/24", "dev", "h0")
	if d, err := h.NeighbourDevs(false, AliasPrefix); err != nil || fmt.Sprint(d) != "[up0]" {
		t.Errorf("NeighbourDevs = %v, %v", d, err)
	}

	// Proxy entries.
	a := netip.MustParseAddr("10.9.0.5")
	must(t, h.AddProxy("up0", a))
	must(t, h.AddProxy("up0", a)) // the kernel takes a proxy entry twice
	if d, err := h.ProxyDevs(a); err != nil || fmt.Sprint(d) != "[up0]" {
		t.Errorf("ProxyDevs = %v, %v", d, err)
	}
	a6 := netip.MustParseAddr("fd00:9::5")
	must(t, h.AddProxy("up0", a6))
	if out := ip(t, "-n", host, "neigh", "show", "proxy"); !strings.Contains(out, "10.9.0.5 dev up0 proxy") || !strings.Contains(out, "fd00:9::5 dev up0 proxy") {
		t.Errorf("proxy entries:\n%s", out)
	}
	must(t, h.DelProxy("up0", a))
	must(t, h.DelProxy("up0", a6))
	if err := h.DelProxy("up0", a); !errors.Is(err, ErrNotExist) {
		t.Errorf("second DelProxy: %v, want ErrNotExist", err)
	}

	// Traffic shows in the stats.
	if out, err := exec.Command("ip", "netns", "exec", guest, "busybox", "ping", "-c", "1", "-W", "1", "169.254.0.1").CombinedOutput(); err != nil {
		t.Fatalf("ping over the pair: %v\n%s", err, out)
	}
	if s, err := h.LinkStats("h0"); err != nil || s.RxPackets == 0 || s.TxPackets == 0 {
		t.Errorf("LinkStats = %+v, %v", s, err)
	}

	must(t, h.DelRoute(hr))
	if err := h.DelRoute(hr); !errors.Is(err, ErrNotExist) {
		t.Errorf("second DelRoute: %v, want ErrNotExist", err)
	}
	must(t, g.DelAddr("venet0", netip.MustParsePrefix("10.9.0.5/24")))
	if err := g.DelAddr("venet0", netip.MustParsePrefix("10.9.0.5/24")); !errors.Is(err, ErrNotExist) {
		t.Errorf("second DelAddr: %v, want ErrNotExist", err)
	}
	must(t, h.DelLink("h0"))
	if err := h.DelLink("h0"); !errors.Is(err, ErrNotExist) {
		t.Errorf("second DelLink: %v, want ErrNotExist", err)
	}
	if out := ip(t, "-n", guest, "link"); strings.Contains(out, "venet0") {
		t.Errorf("the container end outlived the host end:\n%s", out)
	}
}

func TestLockPort(t *testing.T) {
	roottest.Require(t, "network namespaces")
	host, guest := testNS(t, "h"), testNS(t, "g")
	ip(t, "-n", host, "link", "add", "br0", "type", "bridge")
	ip(t, "-n", host, "link", "add", "notbr0", "type", "veth", "peer", "name", "notbr1")
	in(t, host, func() {
		h, err := Open()
		must(t, err)
		defer h.Close()
		mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 7}
		must(t, h.AddVeth(Veth{Name: "v0", PeerName: "eth0", PeerNS: "/run/netns/" + guest, PeerMAC: mac}))
		if err := h.SetMaster("v0", "notbr0"); err == nil {
			t.Error("SetMaster accepted a veth as a bridge")
		}
		must(t, h.SetMaster("v0", "br0"))
		must(t, h.LockPort("v0", mac))
	})
	out := ip(t, "-n", host, "-d", "link", "show", "v0")
	if !strings.Contains(out, "master br0") || !strings.Contains(out, "learning off") || !strings.Contains(out, "locked on") {
		t.Errorf("port:\n%s", out)
	}
	fdb, err := exec.Command("bridge", "-n", host, "fdb", "show", "dev", "v0").CombinedOutput()
	if err != nil || !strings.Contains(string(fdb), "02:00:00:00:00:07 master br0 static") {
		t.Errorf("fdb: %v\n%s", err, fdb)
	}
	g, err := OpenAt("/run/netns/" + guest)
	must(t, err)
	defer g.Close()
	if err := g.LockPort("eth0", nil); err == nil {
		t.Error("LockPort through a handle of another namespace")
	}
}
