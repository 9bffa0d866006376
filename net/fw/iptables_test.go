package fw

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"govz/internal/roottest"
	"govz/net/nettest"
)

// afterSetup is `iptables -t mangle -S` then `ip6tables -t mangle -S`
// after TestIPTables' setups, as the go-iptables code (one exec per rule)
// left them, with both backends: the batches must leave the same.
const afterSetup = `-P PREROUTING ACCEPT
-P INPUT ACCEPT
-P FORWARD ACCEPT
-P OUTPUT ACCEPT
-P POSTROUTING ACCEPT
-N govz-101-src
-N govz-102-src
-A PREROUTING -i venet101 -m comment --comment "govz 101 src" -j govz-101-src
-A PREROUTING -i venet101 -m comment --comment "govz 101 out"
-A PREROUTING -i venet102 -m comment --comment "govz 102 src" -j govz-102-src
-A PREROUTING -i venet102 -m comment --comment "govz 102 out"
-A PREROUTING -i eth9 -j MARK --set-xmark 0x1/0xffffffff
-A PREROUTING -i venet101 -m comment --comment "govz 101 src" -j MARK --set-xmark 0x1/0xffffffff
-A PREROUTING -i venet1010 -m comment --comment "govz 101 out"
-A POSTROUTING -o venet101 -m comment --comment "govz 101 in"
-A POSTROUTING -o venet102 -m comment --comment "govz 102 in"
-A POSTROUTING -o venet101 -m comment --comment "govz 101 in" -j ACCEPT
-A POSTROUTING -o venet101 -m comment --comment "govz 1011 in"
-A govz-101-src -s 10.0.0.1/32 -j RETURN
-A govz-101-src -s 10.0.0.2/32 -j RETURN
-A govz-101-src -j DROP
-A govz-102-src -s 10.0.0.1/32 -j RETURN
-A govz-102-src -j DROP
-P PREROUTING ACCEPT
-P INPUT ACCEPT
-P FORWARD ACCEPT
-P OUTPUT ACCEPT
-P POSTROUTING ACCEPT
-N govz-101-src
-N govz-102-src
-A PREROUTING -i venet101 -m comment --comment "govz 101 src" -j govz-101-src
-A PREROUTING -i venet101 -m comment --comment "govz 101 out"
-A PREROUTING -i venet102 -m comment --comment "govz 102 src" -j govz-102-src
-A PREROUTING -i venet102 -m comment --comment "govz 102 out"
-A PREROUTING -i venet101 -m comment --comment "govz 101 src" -j MARK --set-xmark 0x1/0xffffffff
-A PREROUTING -i venet1010 -m comment --comment "govz 101 out"
-A POSTROUTING -o venet101 -m comment --comment "govz 101 in"
-A POSTROUTING -o venet102 -m comment --comment "govz 102 in"
-A POSTROUTING -o eth9 -j MARK --set-xmark 0x1/0xffffffff
-A POSTROUTING -o venet101 -m comment --comment "govz 101 in" -j ACCEPT
-A POSTROUTING -o venet101 -m comment --comment "govz 1011 in"
-A govz-101-src -s fe80::/10 -j RETURN
-A govz-101-src -s fd00::1/128 -j RETURN
-A govz-101-src -j DROP
-A govz-102-src -s fe80::/10 -j RETURN
-A govz-102-src -j DROP
`

// TestIPTables runs the rules against the real iptables and ip6tables of
// both backends, each in a namespace of the test's own (each namespace
// has its own tables). Open's binaries are the host's choice
// (update-alternatives: nf_tables on Debian 12), the legacy ones are named.
func TestIPTables(t *testing.T) {
	roottest.Require(t, "network namespaces")
	for _, be := range []struct{ name, suffix string }{{"Open", ""}, {"legacy", "-legacy"}} {
		t.Run(be.name, func(t *testing.T) {
			ns := fmt.Sprintf("govz-fw-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
			nettest.NewNS(t, ns)
			// The binaries run as children of the test's thread, which
			// moves to the namespace: a child inherits the namespace of
			// the thread that forks it.
			nettest.In(t, ns, func() {
				var tb *Tables
				if be.suffix == "" {
					var err error
					if tb, err = Open(); err != nil {
						t.Fatal(err)
					}
					if tb.V6 == nil {
						t.Fatal("Open found no IPv6 on a host with /proc/net/if_inet6")
					}
				} else {
					v4, err := newIPTables("iptables"+be.suffix, "iptables"+be.suffix+"-restore")
					if err != nil {
						t.Fatal(err)
					}
					v6, err := newIPTables("ip6tables"+be.suffix, "ip6tables"+be.suffix+"-restore")
					if err != nil {
						t.Fatal(err)
					}
					tb = &Tables{V4: v4, V6: v6}
				}
				testIPTables(t, tb, be.suffix)
			})
		})
	}
}

func testIPTables(t *testing.T, tb *Tables, suffix string) {
	run := func(bin string, args ...string) string {
		t.Helper()
		out, err := exec.Command(bin+suffix, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", bin+suffix, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	show := func() string {
		t.Helper()
		return run("iptables", "-t", "mangle", "-S") + run("ip6tables", "-t", "mangle", "-S")
	}
	// An admin's rules: one on another interface, and ones that look
	// like ours: our comment with a target or on another interface,
	// another container's comment on our interface.
	run("iptables", "-t", "mangle", "-A", "PREROUTING", "-i", "eth9", "-j", "MARK", "--set-mark", "1")
	run("ip6tables", "-t", "mangle", "-A", "POSTROUTING", "-o", "eth9", "-j", "MARK", "--set-mark", "1")
	for _, c := range []string{"iptables", "ip6tables"} {
		for _, rule := range [][]string{
			{"PREROUTING", "-i", "venet101", "-m", "comment", "--comment", "govz 101 src", "-j", "MARK", "--set-mark", "1"},
			{"PREROUTING", "-i", "venet1010", "-m", "comment", "--comment", "govz 101 out"},
			{"POSTROUTING", "-o", "venet101", "-m", "comment", "--comment", "govz 101 in", "-j", "ACCEPT"},
			{"POSTROUTING", "-o", "venet101", "-m", "comment", "--comment", "govz 1011 in"},
		} {
			run(c, append([]string{"-t", "mangle", "-A"}, rule...)...)
		}
	}
	foreign := show()

	r := Routed{CT: 101, HostIf: "venet101"}
	if err := tb.TeardownRouted(r); err != nil {
		t.Fatalf("teardown of nothing: %v", err)
	}
	// 101 twice: the second setup replaces the first's rules.
	for _, s := range []struct {
		r     Routed
		addrs []string
	}{{r, []string{"10.0.0.1", "fd00::1", "10.0.0.9"}}, {Routed{CT: 102, HostIf: "venet102"}, []string{"10.0.0.1"}}, {r, []string{"10.0.0.1", "fd00::1", "10.0.0.2"}}} {
		if err := tb.SetupRouted(s.r, addrs(s.addrs...)); err != nil {
			t.Fatal(err)
		}
	}
	if got := show(); got != afterSetup {
		t.Errorf("after setup:\n%s\nwant (as one exec per rule left it):\n%s", got, afterSetup)
	}

	for _, a := range []string{"10.0.0.3", "fd00::3", "10.0.0.3"} {
		if err := tb.Allow(r, addrs(a)[0]); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []string{"10.0.0.1", "fd00::1", "10.0.0.1"} {
		if err := tb.Disallow(r, addrs(a)[0]); err != nil {
			t.Fatal(err)
		}
	}
	want := "-N govz-101-src\n-A govz-101-src -s 10.0.0.3/32 -j RETURN\n-A govz-101-src -s 10.0.0.2/32 -j RETURN\n-A govz-101-src -j DROP\n" +
		"-N govz-101-src\n-A govz-101-src -s fd00::3/128 -j RETURN\n-A govz-101-src -s fe80::/10 -j RETURN\n-A govz-101-src -j DROP\n"
	if got := run("iptables", "-t", "mangle", "-S", "govz-101-src") + run("ip6tables", "-t", "mangle", "-S", "govz-101-src"); got != want {
		t.Errorf("after allow and disallow:\n%s\nwant:\n%s", got, want)
	}
	c, err := tb.ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c[101]; !ok {
		t.Errorf("counters %v: no entry for 101", c)
	}
	if _, ok := c[102]; !ok {
		t.Errorf("counters %v: no entry for 102", c)
	}

	// The setup's IPv6 batch fails: its IPv4 batch is taken back.
	v6 := tb.V6.(*iptables)
	failing := &Tables{V4: tb.V4, V6: &iptables{list: v6.list, restore: "/bin/false"}}
	before := show()
	if err := failing.SetupRouted(Routed{CT: 103, HostIf: "venet103"}, addrs("10.0.0.5", "fd00::5")); err == nil {
		t.Fatal("setup succeeded with a failing ip6tables-restore")
	}
	if got := show(); got != before {
		t.Errorf("after a failed setup:\n%s\nwant:\n%s", got, before)
	}
	// A batch is atomic: when the chain cannot go (someone else jumps to
	// it), 101's IPv4 rules stay whole.
	run("iptables", "-t", "mangle", "-A", "FORWARD", "-j", "govz-101-src")
	before = run("iptables", "-t", "mangle", "-S")
	if err := tb.TeardownRouted(r); err == nil {
		t.Fatal("teardown succeeded with the chain still referenced")
	}
	if got := run("iptables", "-t", "mangle", "-S"); got != before {
		t.Errorf("after a failed teardown:\n%s\nwant:\n%s", got, before)
	}
	run("iptables", "-t", "mangle", "-D", "FORWARD", "-j", "govz-101-src")

	for _, r := range []Routed{r, {CT: 102, HostIf: "venet102"}} {
		if err := tb.TeardownRouted(r); err != nil {
			t.Fatal(err)
		}
	}
	if got := show(); got != foreign {
		t.Errorf("after teardown:\n%s\nwant only the admin's rules:\n%s", got, foreign)
	}
}
