package fw

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"govz/internal/roottest"
	"govz/net/nettest"
)

// TestIPTables runs the rules against the real iptables and ip6tables in
// a namespace of the test's own (each namespace has its own tables).
func TestIPTables(t *testing.T) {
	roottest.Require(t, "network namespaces")
	ns := fmt.Sprintf("govz-fw-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	nettest.NewNS(t, ns)
	// go-iptables runs the binaries; a child inherits the namespace of
	// the thread that forks it, so the test's thread moves there.
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	save := func() string {
		var b strings.Builder
		for _, c := range []string{"iptables-save", "ip6tables-save"} {
			out, err := exec.Command(c, "-t", "mangle").CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", c, err, out)
			}
			for _, l := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(l, "-A") || strings.HasPrefix(l, ":govz") {
					b.WriteString(c[:len(c)-5] + " " + l + "\n")
				}
			}
		}
		return b.String()
	}

	tb, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	r := Routed{CT: 101, HostIf: "venet101"}
	if err := tb.TeardownRouted(r); err != nil {
		t.Fatalf("teardown of nothing: %v", err)
	}
	if err := tb.SetupRouted(r, addrs("10.77.0.10", "fd00:77::10")); err != nil {
		t.Fatal(err)
	}
	if err := tb.Allow(r, addrs("10.77.0.11")[0]); err != nil {
		t.Fatal(err)
	}
	if err := tb.Disallow(r, addrs("10.77.0.10")[0]); err != nil {
		t.Fatal(err)
	}
	want := `iptables :govz-101-src - [0:0]
iptables -A PREROUTING -i venet101 -m comment --comment "govz 101 src" -j govz-101-src
iptables -A PREROUTING -i venet101 -m comment --comment "govz 101 out"
iptables -A POSTROUTING -o venet101 -m comment --comment "govz 101 in"
iptables -A govz-101-src -s 10.77.0.11/32 -j RETURN
iptables -A govz-101-src -j DROP
ip6tables :govz-101-src - [0:0]
ip6tables -A PREROUTING -i venet101 -m comment --comment "govz 101 src" -j govz-101-src
ip6tables -A PREROUTING -i venet101 -m comment --comment "govz 101 out"
ip6tables -A POSTROUTING -o venet101 -m comment --comment "govz 101 in"
ip6tables -A govz-101-src -s fe80::/10 -j RETURN
ip6tables -A govz-101-src -s fd00:77::10/128 -j RETURN
ip6tables -A govz-101-src -j DROP
`
	if got := save(); got != want {
		t.Errorf("rules:\n%s\nwant:\n%s", got, want)
	}
	c, err := tb.ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c[101]; !ok || len(c) != 1 {
		t.Errorf("counters %v: want an entry for 101 only", c)
	}
	if err := tb.TeardownRouted(r); err != nil {
		t.Fatal(err)
	}
	if got := save(); got != "" {
		t.Errorf("left after teardown:\n%s", got)
	}
}
