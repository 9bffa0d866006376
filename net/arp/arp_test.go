package arp

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"govz/internal/roottest"
	"govz/net/nettest"
)

// pair builds two namespaces joined by a veth: "a" (the prober, a0 with
// 10.78.0.2 and fd00:78::2) and "b" (the neighbour, b0 with 10.78.0.1 and
// fd00:78::1). Both go away at the end of the test.
func pair(t *testing.T) (a, b string) {
	t.Helper()
	roottest.Require(t, "network namespaces")
	suffix := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	a, b = "govz-arpa-"+suffix, "govz-arpb-"+suffix
	for _, ns := range []string{a, b} {
		nettest.NewNS(t, ns)
	}
	// Distinct ifindexes: the kernel treats a veth whose peer has its own
	// index as a plain device and delays its carrier event by up to a
	// second (linkwatch), during which IPv6 has no multicast route.
	run(t, "ip", "-n", a, "link", "add", "a0", "index", "10", "type", "veth", "peer", "name", "b0", "index", "20", "netns", b)
	for _, c := range [][]string{
		{"-n", a, "addr", "add", "10.78.0.2/24", "dev", "a0"},
		{"-n", a, "addr", "add", "fd00:78::2/64", "dev", "a0", "nodad"},
		{"-n", a, "addr", "add", "fe80::2/64", "dev", "a0", "nodad"},
		{"-n", a, "link", "set", "a0", "up"},
		{"-n", b, "addr", "add", "10.78.0.1/24", "dev", "b0"},
		{"-n", b, "addr", "add", "fd00:78::1/64", "dev", "b0", "nodad"},
		{"-n", b, "addr", "add", "fe80::1/64", "dev", "b0", "nodad"},
		{"-n", b, "link", "set", "b0", "up"},
	} {
		run(t, "ip", c...)
	}
	return a, b
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// in runs f on a thread inside namespace ns.
func in(t *testing.T, ns string, f func()) { t.Helper(); nettest.In(t, ns, f) }

func mac(t *testing.T, ns, dev string) string {
	out := run(t, "ip", "-n", ns, "-br", "link", "show", dev)
	return strings.Fields(out)[2]
}

func TestProbe(t *testing.T) {
	a, b := pair(t)
	bmac := mac(t, b, "b0")
	for _, tc := range []struct {
		addr string
		want string // "" = nobody answers
	}{
		{"10.78.0.1", bmac},
		{"10.78.0.9", ""},
		{"fd00:78::1", bmac},
		{"fd00:78::9", ""},
	} {
		in(t, a, func() {
			start := time.Now()
			// An answer may take long on a loaded machine (the peer's
			// softirq); only the silent cases are held to the short wait.
			wait := 300 * time.Millisecond
			if tc.want != "" {
				wait = 5 * time.Second
			}
			got, err := Probe("a0", netip.MustParseAddr(tc.addr), wait)
			if err != nil {
				t.Fatalf("probe %s: %v", tc.addr, err)
			}
			if (got == nil) != (tc.want == "") || (got != nil && got.String() != tc.want) {
				t.Errorf("probe %s: got %v, want %q", tc.addr, got, tc.want)
			}
			if tc.want == "" && time.Since(start) < 250*time.Millisecond {
				t.Errorf("probe %s gave up after %v, before its timeout", tc.addr, time.Since(start))
			}
		})
	}
}

func TestAnnounce(t *testing.T) {
	a, b := pair(t)
	amac := mac(t, a, "a0")
	for _, addr := range []string{"10.78.0.5", "fd00:78::5"} {
		// b believes addr is elsewhere; the announcement must move it.
		run(t, "ip", "-n", b, "neigh", "replace", addr, "lladdr", "02:00:00:00:00:01", "dev", "b0", "nud", "stale")
		in(t, a, func() {
			if err := Announce("a0", netip.MustParseAddr(addr)); err != nil {
				t.Fatal(err)
			}
		})
		var got string
		for i := 0; i < 50; i++ {
			got = run(t, "ip", "-n", b, "neigh", "show", addr, "dev", "b0")
			if strings.Contains(got, amac) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !strings.Contains(got, amac) {
			t.Errorf("after announcing %s, b's cache says %q, want lladdr %s", addr, got, amac)
		}
	}
}

func TestSolicitedNode(t *testing.T) {
	if got := solicitedNode(netip.MustParseAddr("fd00:77::1:2345:6789")); got.String() != "ff02::1:ff45:6789" {
		t.Errorf("solicited-node group %s", got)
	}
}
