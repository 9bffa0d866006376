package tests

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"govz/net/nettest"
)

// netWorld is a test's own network, never the host's: a "node" network
// namespace where vzctl runs (and with it the supervisors, so every
// route, proxy entry and rule lands there), joined by a veth uplink to a
// "lan" namespace holding the LAN peer, 10.77.0.1 and fd00:77::1. The node
// is 10.77.0.2 and fd00:77::2, on the uplink itself or, when bridged, on
// a bridge br0 the uplink is a port of. Containers are 10.77.0.x behind
// the node. vzctl runs under `nsenter --net=`, which (unlike `ip netns
// exec`) leaves the mount namespace alone, so the containers' mounts stay
// visible to the test.
type netWorld struct {
	*node
	nodeNS, lanNS string
	uplink        string // the node's device facing the LAN: up0 or br0
}

func newNetWorld(t *testing.T, bridged bool) *netWorld {
	t.Helper()
	n := newNode(t)
	tag := strconv.FormatInt(time.Now().UnixNano()%1e9, 36) + strconv.Itoa(os.Getpid()%1000)
	w := &netWorld{node: n, nodeNS: "gvzn-" + tag, lanNS: "gvzl-" + tag, uplink: "up0"}
	for _, ns := range []string{w.nodeNS, w.lanNS} {
		nettest.NewNS(t, ns)
	}
	n.netns = w.nodeNS
	t.Cleanup(w.cleanup)
	// Distinct ifindexes on the two ends of every veth: the kernel treats
	// a veth whose peer has its own index as a plain link and delays its
	// carrier by up to a second, and IPv6 with it. The LAN end gets a high
	// one; in the node the uplink and bridge take the low ones, so the
	// host ends of containers' pairs (next in the node) never share the
	// index of their container ends (first in a fresh namespace).
	w.sh("ip", "-n", w.lanNS, "link", "add", "lan0", "index", "20", "type", "veth", "peer", "name", "up0", "netns", w.nodeNS)
	// No duplicate address detection on the test's own links: their
	// link-local addresses are final at once, so the node's state does not
	// change under the test.
	w.sh("ip", "netns", "exec", w.lanNS, "sysctl", "-q", "-w", "net.ipv6.conf.lan0.accept_dad=0")
	lan := [][]string{
		{"addr", "add", "10.77.0.1/24", "dev", "lan0"},
		{"addr", "add", "fd00:77::1/64", "dev", "lan0", "nodad"},
		{"link", "set", "lan0", "up"},
		{"link", "set", "lo", "up"},
	}
	for _, c := range lan {
		w.sh("ip", append([]string{"-n", w.lanNS}, c...)...)
	}
	if bridged {
		w.uplink = "br0"
		w.sh("ip", "-n", w.nodeNS, "link", "add", "br0", "type", "bridge")
	}
	// The node is set up for routing as an admin would (setup_sysctls is
	// tested on its own), so its state before and after containers
	// compares.
	w.sh("ip", "netns", "exec", w.nodeNS, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
		"net.ipv6.conf.up0.accept_dad=0", "net.ipv6.conf."+w.uplink+".accept_dad=0",
		"net.ipv6.conf."+w.uplink+".proxy_ndp=1", "net.ipv4.neigh."+w.uplink+".proxy_delay=0",
		"net.ipv6.neigh."+w.uplink+".proxy_delay=0")
	nodeCmds := [][]string{{"link", "set", "lo", "up"}}
	if bridged {
		nodeCmds = append(nodeCmds, []string{"link", "set", "up0", "master", "br0"}, []string{"link", "set", "up0", "up"})
	}
	nodeCmds = append(nodeCmds,
		[]string{"addr", "add", "10.77.0.2/24", "dev", w.uplink},
		[]string{"addr", "add", "fd00:77::2/64", "dev", w.uplink, "nodad"},
		[]string{"link", "set", w.uplink, "up"},
		[]string{"route", "add", "default", "via", "10.77.0.1"},
		[]string{"-6", "route", "add", "default", "via", "fd00:77::1"})
	for _, c := range nodeCmds {
		w.sh("ip", append([]string{"-n", w.nodeNS}, c...)...)
	}
	old, err := os.ReadFile(n.path("conf/vz.toml"))
	if err != nil {
		t.Fatal(err)
	}
	n.writeFile("conf/vz.toml", string(old)+"setup_sysctls = true\n")
	w.waitIPv6()
	return w
}

// waitIPv6 waits until both ends can do IPv6 (multicast routes in place).
func (w *netWorld) waitIPv6() {
	w.t.Helper()
	for i := 0; i < 100; i++ {
		a := w.sh("ip", "-n", w.nodeNS, "-6", "route", "show", "table", "local")
		b := w.sh("ip", "-n", w.lanNS, "-6", "route", "show", "table", "local")
		addrs := w.sh("ip", "-n", w.nodeNS, "-6", "addr") + w.sh("ip", "-n", w.lanNS, "-6", "addr")
		if strings.Contains(a, "ff00::/8 dev "+w.uplink) && strings.Contains(b, "ff00::/8 dev lan0") &&
			strings.Contains(a, "anycast fe80:: dev "+w.uplink) && !strings.Contains(addrs, "tentative") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.t.Fatal("IPv6 never came up in the test network")
}

// cleanup stops the containers (their supervisors tear down inside the
// node namespace) and removes both namespaces, with them every interface,
// route and rule the test made.
func (w *netWorld) cleanup() {
	ents, _ := os.ReadDir(w.path("conf"))
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".toml"); ok && id != "vz" {
			w.cmd("vzctl", "stop", "--fast", id).Run()
		}
	}
}

// sh runs a command that must succeed and returns its output.
func (w *netWorld) sh(name string, args ...string) string {
	w.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		w.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// in runs a command in namespace ns; it reports whether it succeeded.
func (w *netWorld) in(ns string, args ...string) (string, bool) {
	out, err := exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns, "--"}, args...)...).CombinedOutput()
	return string(out), err == nil
}

// lanPings reports whether the LAN peer gets an echo reply from addr
// (one try, one second).
func (w *netWorld) lanPings(addr string) bool {
	ping := "ping"
	if strings.Contains(addr, ":") {
		ping = "ping6"
	}
	_, ok := w.in(w.lanNS, "busybox", ping, "-c", "1", "-W", "1", addr)
	return ok
}

// ctPings reports whether container id gets an echo reply from addr,
// optionally from a given source address.
func (w *netWorld) ctPings(id, addr string, from ...string) bool {
	args := []string{"exec", id, "ping", "-c", "1", "-W", "1"}
	if strings.Contains(addr, ":") {
		args[2] = "ping6"
	}
	if len(from) > 0 {
		args = append(args, "-I", from[0])
	}
	return w.run("vzctl", append(args, addr)...).code == 0
}

var (
	generatedLine = regexp.MustCompile(`(?m)^#.*\n`)
	ruleLine      = regexp.MustCompile(`(?m)^(-A .*|:\S+ - .*)$`)
)

// state is the node's network state a container may touch, as text:
// links, routes of every table, proxy neighbour entries, the netfilter
// rules of both families and the bridge family's (port filters).
func (w *netWorld) state() string {
	var b strings.Builder
	for _, c := range [][]string{
		{"ip", "-o", "link", "show"},
		{"ip", "-4", "route", "show", "table", "all"},
		{"ip", "-6", "route", "show", "table", "all"},
		{"ip", "-4", "addr", "show"},
		{"ip", "-6", "addr", "show"},
		{"ip", "neigh", "show", "proxy"},
		{"iptables-save"},
		{"ip6tables-save"},
		{"nft", "list", "ruleset", "bridge"},
	} {
		out, ok := w.in(w.nodeNS, c...)
		if !ok {
			w.t.Fatalf("%v: %s", c, out)
		}
		if strings.HasSuffix(c[0], "tables-save") {
			// Rules and user chains only: iptables-nft leaves a table it
			// once used behind, empty, which is no rule.
			out = strings.Join(ruleLine.FindAllString(out, -1), "\n")
		}
		fmt.Fprintf(&b, "== %s\n%s\n", strings.Join(c, " "), generatedLine.ReplaceAllString(out, ""))
	}
	// Link statistics and address lifetimes change with traffic and time.
	return regexp.MustCompile(`valid_lft.*|preferred_lft.*`).ReplaceAllString(b.String(), "")
}

// sameState fails the test when the node's state differs from before.
func (w *netWorld) sameState(before string) {
	w.t.Helper()
	after := w.state()
	if after == before {
		return
	}
	bl, al := strings.Split(before, "\n"), strings.Split(after, "\n")
	var diff []string
	for _, l := range al {
		if !contains(bl, l) {
			diff = append(diff, "+ "+l)
		}
	}
	for _, l := range bl {
		if !contains(al, l) {
			diff = append(diff, "- "+l)
		}
	}
	w.t.Fatalf("the node's network state changed:\n%s", strings.Join(diff, "\n"))
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
