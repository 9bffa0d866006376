package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNetRouted is venet end to end in a world of its own: two routed
// containers behind the node, reached from the LAN peer and reaching it
// over IPv4 and IPv6, each other through the node, addresses added and
// removed live, spoofing and L2 access stopped at the node, counters in
// vzlist, and the node left exactly as it was after a stop and a crash.
func TestNetRouted(t *testing.T) {
	w := newNetWorld(t, false)
	before := w.state()
	w.ok("vzctl", "create", "101", "--hostname", "ct101.example", "--ipadd", "10.77.0.10/24", "--ipadd", "fd00:77::10")
	w.ok("vzctl", "set", "101", "--nameserver", "10.77.0.53", "--searchdomain", "lan.example", "--save")
	w.ok("vzctl", "create", "102", "--ipadd", "10.77.0.20")
	w.ok("vzctl", "start", "101")
	w.ok("vzctl", "start", "102")

	// The LAN reaches the containers and they reach the LAN, both
	// families, at the first try (no proxy delay, no DAD).
	for _, a := range []string{"10.77.0.10", "fd00:77::10", "10.77.0.20"} {
		if !w.lanPings(a) {
			t.Fatalf("the LAN peer cannot ping %s", a)
		}
	}
	if !w.ctPings("101", "10.77.0.1") || !w.ctPings("101", "fd00:77::1") {
		t.Fatal("container 101 cannot ping the LAN peer")
	}
	// Two containers reach each other, through the node.
	if !w.ctPings("101", "10.77.0.20") || !w.ctPings("102", "10.77.0.10") {
		t.Fatal("the containers cannot reach each other")
	}
	// Inside: venet0 with only the container's addresses, default routes
	// through the link-local gateways.
	addrs := w.ok("vzctl", "exec", "101", "ip", "-o", "addr", "show", "dev", "venet0").out
	for _, want := range []string{"10.77.0.10/24", "fd00:77::10/128"} {
		if !strings.Contains(addrs, want) {
			t.Errorf("venet0 lacks %s:\n%s", want, addrs)
		}
	}
	if strings.Contains(addrs, "10.77.0.20") {
		t.Errorf("venet0 shows another container's address:\n%s", addrs)
	}
	routes := w.ok("vzctl", "exec", "101", "ip route; ip -6 route").out
	for _, want := range []string{"default via 169.254.0.1 dev venet0", "default via fe80::1 dev venet0"} {
		if !strings.Contains(routes, want) {
			t.Errorf("routes lack %q:\n%s", want, routes)
		}
	}

	// Guest files: host name, hosts line, DNS.
	for f, want := range map[string]string{
		"/etc/hostname":    "ct101.example\n",
		"/etc/hosts":       "10.77.0.10\tct101.example ct101",
		"/etc/resolv.conf": "search lan.example\nnameserver 10.77.0.53\n",
	} {
		if r := w.ok("vzctl", "exec", "101", "cat", f); !strings.Contains(r.out, want) {
			t.Errorf("%s:\n%s\nwant %q", f, r.out, want)
		}
	}
	if r := w.ok("vzctl", "exec", "101", "hostname"); r.out != "ct101.example\n" {
		t.Errorf("hostname %q", r.out)
	}

	// No L2 past the node: the container cannot resolve the LAN peer's
	// MAC, and the LAN sees only the node's MAC for container addresses.
	if r := w.run("vzctl", "exec", "101", "arping", "-c", "1", "-w", "1", "-I", "venet0", "10.77.0.1"); r.code == 0 {
		t.Errorf("the container resolved the LAN peer's MAC:\n%s", r)
	}
	nodeMAC := strings.Fields(w.sh("ip", "-n", w.nodeNS, "-br", "link", "show", "up0"))[2]
	neigh := w.sh("ip", "-n", w.lanNS, "neigh", "show", "dev", "lan0")
	for _, l := range strings.Split(strings.TrimSpace(neigh), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[1] == "lladdr" && f[2] != nodeMAC {
			t.Errorf("the LAN peer learned a MAC that is not the node's: %s", l)
		}
	}

	// Anti-spoofing: an address the container gives itself never reaches
	// the LAN (counted on the LAN peer's side, in its own namespace).
	w.sh("ip", "netns", "exec", w.lanNS, "iptables", "-t", "raw", "-A", "PREROUTING", "-s", "10.77.0.99")
	w.sh("ip", "netns", "exec", w.lanNS, "ip6tables", "-t", "raw", "-A", "PREROUTING", "-s", "fd00:77::99")
	w.ok("vzctl", "exec", "101", "ip", "addr", "add", "10.77.0.99/32", "dev", "venet0")
	w.ok("vzctl", "exec", "101", "ip", "addr", "add", "fd00:77::99/128", "dev", "venet0")
	for i := 0; strings.Contains(w.ok("vzctl", "exec", "101", "ip", "-6", "addr", "show", "dev", "venet0").out, "tentative"); i++ {
		if i == 100 {
			t.Fatal("fd00:77::99 stays tentative in the container")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if w.ctPings("101", "10.77.0.1", "10.77.0.99") || w.ctPings("101", "fd00:77::1", "fd00:77::99") {
		t.Error("a spoofed source got an answer from the LAN peer")
	}
	for _, ipt := range []string{"iptables", "ip6tables"} {
		out := w.sh("ip", "netns", "exec", w.lanNS, ipt, "-t", "raw", "-L", "PREROUTING", "-v", "-x", "-n")
		if f := strings.Fields(lastLine(out)); len(f) < 1 || f[0] != "0" {
			t.Errorf("%s: spoofed packets reached the LAN peer:\n%s", ipt, out)
		}
		// They were sent, and the node dropped them.
		out = w.sh("ip", "netns", "exec", w.nodeNS, ipt, "-t", "mangle", "-L", "govz-101-src", "-v", "-x", "-n")
		if f := strings.Fields(lastLine(out)); len(f) < 3 || f[2] != "DROP" || f[0] == "0" {
			t.Errorf("%s: the node dropped no spoofed packet:\n%s", ipt, out)
		}
	}
	w.ok("vzctl", "exec", "101", "ip", "addr", "del", "10.77.0.99/32", "dev", "venet0")

	// Live --ipadd: reachable at once; the config keeps it.
	start := time.Now()
	w.ok("vzctl", "set", "101", "--ipadd", "10.77.0.11", "--ipadd", "fd00:77::11", "--save")
	if !w.lanPings("10.77.0.11") || !w.lanPings("fd00:77::11") {
		t.Fatal("an address added live is not reachable")
	}
	t.Logf("--ipadd to first reply: %v", time.Since(start))
	if r := w.ok("vzctl", "exec", "101", "cat", "/etc/hosts"); !strings.Contains(r.out, "10.77.0.10\tct101") {
		t.Errorf("hosts after ipadd:\n%s", r.out)
	}
	// Refused: another container's address (78), the node's own (78), a
	// bad one (71); nothing changes.
	w.fails(78, "vzctl", "set", "101", "--ipadd", "10.77.0.20", "--save")
	w.fails(78, "vzctl", "set", "101", "--ipadd", "10.77.0.2", "--save")
	w.fails(71, "vzctl", "set", "101", "--ipadd", "10.77.0.300", "--save")
	// An address another host on the LAN answers for: a warning, or 78
	// with error_on_arpfail.
	if r := w.ok("vzctl", "set", "101", "--ipadd", "10.77.0.1"); !strings.Contains(r.err, "in use on up0") {
		t.Errorf("no warning for an address in use:\n%s", r)
	}
	w.ok("vzctl", "set", "101", "--ipdel", "10.77.0.1")

	// Live --ipdel: unreachable, and nothing of it left on the node.
	w.ok("vzctl", "set", "101", "--ipdel", "10.77.0.11", "--ipdel", "fd00:77::11", "--save")
	if w.lanPings("10.77.0.11") || w.lanPings("fd00:77::11") {
		t.Error("an address removed live still answers")
	}
	st := w.state()
	for _, a := range []string{"10.77.0.11", "fd00:77::11", "10.77.0.1 dev up0 proxy", "10.77.0.1 dev venet101", "10.77.0.1/32"} {
		if strings.Contains(st, a) {
			t.Errorf("%s is still on the node after --ipdel:\n%s", a, st)
		}
	}
	if r := w.ok("vzctl", "exec", "101", "ip", "-o", "addr", "show", "dev", "venet0"); strings.Contains(r.out, "10.77.0.11") {
		t.Errorf("the container still holds a deleted address:\n%s", r.out)
	}
	if !w.lanPings("10.77.0.10") {
		t.Error("the remaining address stopped answering")
	}

	// Counters: the pings above went both ways.
	r := w.ok("vzlist", "-H", "-o", "ctid,traffic_in,traffic_out,traffic_in.p,traffic_out.p", "101")
	f := strings.Fields(r.out)
	if len(f) != 5 {
		t.Fatalf("vzlist: %q", r.out)
	}
	for _, v := range f[1:] {
		if n, err := strconv.ParseUint(v, 10, 64); err != nil || n == 0 {
			t.Errorf("vzlist traffic counters %q", r.out)
			break
		}
	}

	// A graceful stop and a crash both leave the node as it was.
	w.ok("vzctl", "stop", "101")
	pid := w.initPID("102")
	if err := syscallKill(pid); err != nil {
		t.Fatal(err)
	}
	w.waitDown("102")
	w.sameState(before)
	if _, err := os.Stat(w.path("run/101/net.json")); !os.IsNotExist(err) {
		t.Errorf("the run record of 101's network remains: %v", err)
	}
}

// TestNetIPDelAll: removing every address takes the whole venet pair
// away; adding one to a running container without addresses brings it.
func TestNetIPDelAll(t *testing.T) {
	w := newNetWorld(t, false)
	before := w.state()
	w.ok("vzctl", "create", "101")
	w.ok("vzctl", "start", "101")
	if strings.Contains(w.state(), "venet101") {
		t.Fatal("a container without addresses got a venet pair")
	}
	w.ok("vzctl", "set", "101", "--ipadd", "10.77.0.10", "--ipadd", "fd00:77::10", "--save")
	if !w.lanPings("10.77.0.10") || !w.lanPings("fd00:77::10") {
		t.Fatal("the first address added live is not reachable")
	}
	w.ok("vzctl", "set", "101", "--ipdel", "all", "--save")
	w.sameState(before)
	if r := w.run("vzctl", "exec", "101", "ip", "link", "show", "venet0"); r.code == 0 {
		t.Errorf("venet0 remains in the container:\n%s", r.out)
	}
	// Stored on a stopped container, applied at start.
	w.ok("vzctl", "stop", "101")
	w.ok("vzctl", "set", "101", "--ipadd", "10.77.0.12", "--save")
	w.ok("vzctl", "start", "101")
	if !w.lanPings("10.77.0.12") {
		t.Fatal("an address stored while stopped is not reachable after start")
	}
	// Halt from inside: the supervisor tears the network down.
	w.run("vzctl", "exec", "101", "halt")
	w.waitDown("101")
	w.sameState(before)
}

// TestNetSysctls: without setup_sysctls vzctl names each missing sysctl
// and leaves them alone; with it, it sets them.
func TestNetSysctls(t *testing.T) {
	w := newNetWorld(t, false)
	// Back to a fresh namespace's values (ip_forward first: writing it
	// resets every device's forwarding).
	w.sh("ip", "netns", "exec", w.nodeNS, "sysctl", "-q", "-w", "net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0",
		"net.ipv6.conf.up0.proxy_ndp=0", "net.ipv4.neigh.up0.proxy_delay=80", "net.ipv6.neigh.up0.proxy_delay=80")
	old, _ := os.ReadFile(w.path("conf/vz.toml"))
	w.writeFile("conf/vz.toml", strings.ReplaceAll(string(old), "setup_sysctls = true", "setup_sysctls = false\nskip_arpdetect = true"))
	w.ok("vzctl", "create", "101", "--ipadd", "10.77.0.10", "--ipadd", "fd00:77::10")
	r := w.ok("vzctl", "start", "101")
	for _, want := range []string{"net.ipv4.ip_forward=1", "net.ipv4.conf.up0.forwarding=1", "net.ipv6.conf.all.forwarding=1",
		"net.ipv6.conf.up0.proxy_ndp=1", "net.ipv4.neigh.up0.proxy_delay=0"} {
		if !strings.Contains(r.err, want) {
			t.Errorf("start does not name %s:\n%s", want, r.err)
		}
	}
	if v := strings.TrimSpace(w.sh("ip", "netns", "exec", w.nodeNS, "sysctl", "-n", "net.ipv4.ip_forward")); v != "0" {
		t.Errorf("ip_forward changed to %s without setup_sysctls", v)
	}
	w.ok("vzctl", "stop", "--fast", "101")
	w.writeFile("conf/vz.toml", string(old))
	r = w.ok("vzctl", "start", "101")
	if strings.Contains(r.err, "sysctl") {
		t.Errorf("warnings with setup_sysctls:\n%s", r.err)
	}
	if !w.lanPings("10.77.0.10") || !w.lanPings("fd00:77::10") {
		t.Error("not reachable after vzctl set the sysctls")
	}
}

// TestNetGuestConfined: a guest that points its resolv.conf at a host
// file cannot make vzctl write there.
func TestNetGuestConfined(t *testing.T) {
	w := newNetWorld(t, false)
	target := filepath.Join(t.TempDir(), "host-file")
	if err := os.WriteFile(target, []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.ok("vzctl", "create", "101", "--ipadd", "10.77.0.10")
	w.ok("vzctl", "start", "101")
	w.ok("vzctl", "exec", "101", "rm -f /etc/resolv.conf /etc/hosts && ln -s "+target+" /etc/resolv.conf && ln -s ../../../../../../.."+target+" /etc/hosts")
	w.ok("vzctl", "set", "101", "--nameserver", "10.77.0.53", "--hostname", "evil", "--save")
	if b, _ := os.ReadFile(target); string(b) != "host\n" {
		t.Fatalf("vzctl wrote through the guest's symlink: %q", b)
	}
	if r := w.ok("vzctl", "exec", "101", "cat", "/etc/resolv.conf"); r.out != "nameserver 10.77.0.53\n" {
		t.Errorf("resolv.conf in the guest: %q", r.out)
	}
	if r := w.ok("vzctl", "exec", "101", "hostname"); r.out != "evil\n" {
		t.Errorf("live host name: %q", r.out)
	}
}

// TestNetBridged: bridged interfaces on a node bridge that also carries
// the uplink (so routed containers answer on the bridge, detected).
func TestNetBridged(t *testing.T) {
	w := newNetWorld(t, true)
	before := w.state()
	w.ok("vzctl", "create", "103", "--ipadd", "10.77.0.40")
	w.ok("vzctl", "set", "103", "--netif_add", "eth0,,,,br0", "--save")
	cfg, _ := os.ReadFile(w.path("conf/103.toml"))
	mac := regexp.MustCompile(`ifname=eth0,mac=([0-9a-f:]{17}),host_ifname=veth103\.0,host_mac=[0-9a-f:]{17},bridge=br0,mac_filter=on`).FindSubmatch(cfg)
	if mac == nil {
		t.Fatalf("stored netif:\n%s", cfg)
	}
	w.ok("vzctl", "start", "103")
	w.ok("vzctl", "exec", "103", "ip link set eth0 up && ip addr add 10.77.0.30/24 dev eth0")
	if r := w.ok("vzctl", "exec", "103", "cat", "/sys/class/net/eth0/address"); strings.TrimSpace(r.out) != string(mac[1]) {
		t.Errorf("eth0 has MAC %q, config says %s", r.out, mac[1])
	}
	if !w.lanPings("10.77.0.30") || !w.ctPings("103", "10.77.0.1") {
		t.Fatal("the bridged interface does not reach the LAN")
	}
	if !w.lanPings("10.77.0.40") {
		t.Fatal("the routed address is not answered on the bridge")
	}
	// Another MAC: the node drops everything the container sends with it.
	w.sh("ip", "-n", w.lanNS, "neigh", "flush", "dev", "lan0")
	w.ok("vzctl", "exec", "103", "ip link set eth0 down && ip link set eth0 address 02:00:00:00:00:99 && ip link set eth0 up")
	if w.ctPings("103", "10.77.0.1") {
		t.Error("the container sent with a foreign MAC")
	}
	if strings.Contains(w.sh("ip", "-n", w.lanNS, "neigh"), "02:00:00:00:00:99") {
		t.Error("the LAN peer learned the foreign MAC")
	}
	// Live --mac_filter off lets it through; --netif_del removes it.
	w.ok("vzctl", "set", "103", "--ifname", "eth0", "--mac_filter", "off", "--save")
	w.ok("vzctl", "exec", "103", "ip link set eth0 address 02:00:00:00:00:99 && ip link set eth0 up && ip addr replace 10.77.0.30/24 dev eth0")
	if !w.ctPings("103", "10.77.0.1") {
		t.Error("with mac_filter off the container cannot use its own MAC choice")
	}
	w.ok("vzctl", "set", "103", "--netif_del", "eth0", "--save")
	if r := w.run("vzctl", "exec", "103", "ip", "link", "show", "eth0"); r.code == 0 {
		t.Errorf("eth0 remains after --netif_del:\n%s", r.out)
	}
	if strings.Contains(w.state(), "veth103.0") {
		t.Error("the host end remains after --netif_del")
	}
	w.ok("vzctl", "set", "103", "--netif_add", "eth1,,,,br0", "--save")
	if !strings.Contains(w.state(), "veth103.1") {
		t.Error("no host end after a live --netif_add")
	}
	w.ok("vzctl", "stop", "103")
	w.sameState(before)
}

func syscallKill(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

func (w *netWorld) initPID(id string) int {
	w.t.Helper()
	b, err := os.ReadFile(w.path("run/" + id + "/state.json"))
	if err != nil {
		w.t.Fatal(err)
	}
	m := regexp.MustCompile(`"init_pid":\s*(\d+)`).FindSubmatch(b)
	if m == nil {
		w.t.Fatalf("no init pid in %s", b)
	}
	pid, _ := strconv.Atoi(string(m[1]))
	return pid
}

// waitDown waits until container id is down and its supervisor finished
// (the supervisor's teardown runs after init's death).
func (w *netWorld) waitDown(id string) {
	w.t.Helper()
	end := time.Now().Add(30 * time.Second)
	for time.Now().Before(end) {
		r := w.run("vzctl", "status", id)
		_, err := os.Stat(w.path("run/" + id + "/supervisor.lock"))
		if strings.Contains(r.out, "down") && os.IsNotExist(err) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.t.Fatalf("container %s did not go down", id)
}
