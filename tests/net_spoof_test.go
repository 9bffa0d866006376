package tests

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Bridged anti-spoofing: container A, on the node's bridge with container
// B and the LAN peer, tries what a malicious neighbour would; the kernel
// state of the LAN peer (its ARP cache, routes, ICMP counters) and a UDP
// listener there show whether anything got through.

// buildSpoofProbe builds tests/testdata/spoofprobe, static.
func buildSpoofProbe(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "spoofprobe")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/spoofprobe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building spoofprobe: %v: %s", err, b)
	}
	return out
}

type spoofCT struct{ id, v4, v6, mac string }

// snmpCounter reads one counter of namespace ns: file snmp ("Icmp"
// InRedirects, a header line and a value line) or snmp6 (name value).
func (w *netWorld) snmpCounter(ns, file, name string) int {
	w.t.Helper()
	out, ok := w.in(ns, "cat", "/proc/net/"+file)
	if !ok {
		w.t.Fatalf("reading %s: %s", file, out)
	}
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		if file == "snmp6" && len(f) == 2 && f[0] == name {
			n, _ := strconv.Atoi(f[1])
			return n
		}
		proto, field, _ := strings.Cut(name, ":")
		if file == "snmp" && len(f) > 0 && f[0] == proto+":" && i+1 < len(lines) {
			vals := strings.Fields(lines[i+1])
			for j, k := range f {
				if k == field && j < len(vals) {
					n, _ := strconv.Atoi(vals[j])
					return n
				}
			}
		}
	}
	w.t.Fatalf("no counter %s in %s:\n%s", name, file, out)
	return 0
}

// lanListen runs spoofprobe's UDP listener in the LAN namespace while
// send runs, and returns the sources it heard.
func (w *netWorld) lanListen(probe string, send func()) string {
	w.t.Helper()
	cmd := exec.Command("nsenter", "--net=/run/netns/"+w.lanNS, "--", probe, "listen", "9999", "2")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || sc.Text() != "listening" {
		cmd.Process.Kill()
		cmd.Wait()
		w.t.Fatalf("the listener did not start: %q", sc.Text())
	}
	send()
	var heard []string
	for sc.Scan() {
		heard = append(heard, sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		w.t.Fatalf("listener: %v", err)
	}
	return strings.Join(heard, "\n")
}

func TestNetBridgedSpoofing(t *testing.T) {
	w := newNetWorld(t, true)
	probe := buildSpoofProbe(t)
	// The LAN peer takes router advertisements as a host does, so one
	// from a container would give it a default route.
	w.sh("ip", "netns", "exec", w.lanNS, "sysctl", "-q", "-w", "net.ipv6.conf.lan0.forwarding=0", "net.ipv6.conf.lan0.accept_ra=2")
	before := w.state()
	a := &spoofCT{id: "201", v4: "10.77.0.51", v6: "fd00:77::51"}
	b := &spoofCT{id: "202", v4: "10.77.0.52", v6: "fd00:77::52"}
	for _, c := range []*spoofCT{a, b} {
		w.ok("vzctl", "create", c.id)
		w.ok("vzctl", "set", c.id, "--netif_add", "eth0,,,,br0", "--save")
		w.ok("vzctl", "set", c.id, "--ifname", "eth0", "--ipadd", c.v4+"/24", "--ipadd", c.v6+"/64", "--save")
		w.ok("vzctl", "start", c.id)
		w.ok("vzctl", "exec", c.id, "ip link set eth0 up && ip addr add "+c.v4+"/24 dev eth0 && ip addr add "+c.v6+"/64 dev eth0")
		c.mac = strings.TrimSpace(w.ok("vzctl", "exec", c.id, "cat", "/sys/class/net/eth0/address").out)
	}
	for _, c := range []*spoofCT{a, b} {
		w.waitNoTentative(c.id)
	}
	copyFile(t, probe, w.path("root/201/spoofprobe"))
	os.Chmod(w.path("root/201/spoofprobe"), 0o755)
	spoof := func(args string) {
		t.Helper()
		w.ok("vzctl", "exec", a.id, "/spoofprobe "+args)
	}
	lanMAC := regexp.MustCompile(`link/ether ([0-9a-f:]{17})`).FindStringSubmatch(w.sh("ip", "-n", w.lanNS, "link", "show", "lan0"))[1]

	// (d) What the containers may send still flows, both ways and both
	// families.
	for _, c := range []*spoofCT{a, b} {
		if !w.lanPings(c.v4) || !w.lanPings(c.v6) {
			t.Fatalf("the LAN peer does not reach container %s", c.id)
		}
	}
	if !w.ctPings(a.id, b.v4) || !w.ctPings(b.id, a.v6) || !w.ctPings(a.id, "10.77.0.1") || !w.ctPings(a.id, "fd00:77::1") {
		t.Fatal("the containers do not reach each other or the LAN")
	}

	// (a) Datagrams from B's addresses, or from unassigned ones, never
	// reach the LAN; from A's own they do.
	heard := w.lanListen(probe, func() {
		for _, src := range []string{a.v4, b.v4, "10.77.0.99"} {
			spoof("udp eth0 " + lanMAC + " " + src + " 10.77.0.1 9999")
		}
		for _, src := range []string{a.v6, b.v6, "fd00:77::99"} {
			spoof("udp eth0 " + lanMAC + " " + src + " fd00:77::1 9999")
		}
		// The unspecified source is a DHCP client's, for a server's port.
		spoof("udp eth0 ff:ff:ff:ff:ff:ff 0.0.0.0 255.255.255.255 9999")
	})
	if !strings.Contains(heard, "from "+a.v4) || !strings.Contains(heard, "from "+a.v6) {
		t.Fatalf("the LAN peer did not hear A's own datagrams (the probe is broken):\n%s", heard)
	}
	for _, src := range []string{b.v4, b.v6, "10.77.0.99", "fd00:77::99", "0.0.0.0"} {
		if strings.Contains(heard, "from "+src+"\n") || strings.HasSuffix(heard, "from "+src) {
			t.Errorf("the LAN peer got a datagram A sent from %s", src)
		}
	}

	// (b) A gratuitous ARP claiming B's address leaves the LAN peer's
	// entry for B alone. The kernel ignores updates within locktime (1s)
	// of the last one, except for gratuitous ARP: waiting makes the probe
	// count either way.
	if !w.lanPings(b.v4) {
		t.Fatal("the LAN peer does not reach B")
	}
	time.Sleep(1200 * time.Millisecond)
	spoof("garp eth0 " + b.v4)
	time.Sleep(200 * time.Millisecond)
	if n := w.sh("ip", "-n", w.lanNS, "neigh", "show", b.v4, "dev", "lan0"); !strings.Contains(n, b.mac) {
		t.Errorf("the LAN peer's ARP entry for B (%s) after A's gratuitous ARP: %q", b.mac, n)
	}

	// The same in IPv6: an advertisement of B's address (at A's MAC), and
	// one of A's own address at a MAC not A's.
	if !w.lanPings(b.v6) || !w.lanPings(a.v6) {
		t.Fatal("the LAN peer does not reach A or B over IPv6")
	}
	time.Sleep(1200 * time.Millisecond)
	spoof("na eth0 " + b.v6)
	spoof("na eth0 " + a.v6 + " 02:00:00:00:00:98")
	time.Sleep(200 * time.Millisecond)
	for _, c := range []*spoofCT{a, b} {
		if n := w.sh("ip", "-n", w.lanNS, "neigh", "show", c.v6, "dev", "lan0"); !strings.Contains(n, c.mac) {
			t.Errorf("the LAN peer's neighbour entry for %s (%s) after A's advertisements: %q", c.v6, c.mac, n)
		}
	}

	// (c) A's router advertisement gives the LAN peer no default route;
	// its redirects never arrive.
	ra := w.snmpCounter(w.lanNS, "snmp6", "Icmp6InRouterAdvertisements")
	red6 := w.snmpCounter(w.lanNS, "snmp6", "Icmp6InRedirects")
	red4 := w.snmpCounter(w.lanNS, "snmp", "Icmp:InRedirects")
	spoof("ra eth0")
	spoof("redirect6 eth0 " + lanMAC + " fd00:77::1")
	spoof("redirect4 eth0 " + lanMAC + " " + a.v4 + " 10.77.0.1")
	time.Sleep(300 * time.Millisecond)
	if r := w.sh("ip", "-n", w.lanNS, "-6", "route", "show", "default"); r != "" {
		t.Errorf("the LAN peer took a default route from A's router advertisement: %s", r)
	}
	if n := w.snmpCounter(w.lanNS, "snmp6", "Icmp6InRouterAdvertisements"); n != ra {
		t.Errorf("the LAN peer received %d router advertisements", n-ra)
	}
	if n := w.snmpCounter(w.lanNS, "snmp6", "Icmp6InRedirects"); n != red6 {
		t.Errorf("the LAN peer received %d ICMPv6 redirects", n-red6)
	}
	if n := w.snmpCounter(w.lanNS, "snmp", "Icmp:InRedirects"); n != red4 {
		t.Errorf("the LAN peer received %d ICMP redirects", n-red4)
	}

	// A live --ipadd on the interface lets A send from the new address at
	// once, without re-creating its pair (its address stays).
	w.ok("vzctl", "set", a.id, "--ifname", "eth0", "--ipadd", "10.77.0.61/24")
	heard = w.lanListen(probe, func() { spoof("udp eth0 " + lanMAC + " 10.77.0.61 10.77.0.1 9999") })
	if !strings.Contains(heard, "from 10.77.0.61") {
		t.Errorf("a source added live is still refused: %q", heard)
	}
	if !w.ctPings(a.id, "10.77.0.1") {
		t.Error("A lost its interface's configuration to a live --ipadd")
	}

	// Without addresses (a guest on DHCP or SLAAC) sources are not
	// filtered, but ARP still carries only A's MAC and A is still no
	// router.
	w.ok("vzctl", "set", a.id, "--ifname", "eth0", "--ipdel", "all", "--save")
	w.sh("ip", "-n", w.lanNS, "neigh", "replace", b.v4, "lladdr", b.mac, "dev", "lan0", "nud", "stale")
	time.Sleep(1200 * time.Millisecond)
	spoof("garp eth0 " + b.v4 + " 02:00:00:00:00:99")
	spoof("ra eth0")
	time.Sleep(300 * time.Millisecond)
	if n := w.sh("ip", "-n", w.lanNS, "neigh", "show", b.v4, "dev", "lan0"); !strings.Contains(n, b.mac) {
		t.Errorf("an ARP sender MAC not A's reached the LAN peer: %q", n)
	}
	if r := w.sh("ip", "-n", w.lanNS, "-6", "route", "show", "default"); r != "" {
		t.Errorf("without addresses, A's router advertisement gave the LAN peer a route: %s", r)
	}

	// A killed supervisor (and its container with it) leaves the filter
	// until the next start cleans up; a stop leaves nothing.
	sup := regexp.MustCompile(`"supervisor_pid":\s*(\d+)`).FindStringSubmatch(string(must(os.ReadFile(w.path("run/202/state.json")))))
	pid, _ := strconv.Atoi(sup[1])
	initPID := w.initPID(b.id)
	for _, p := range []int{pid, initPID} {
		if err := syscallKill(p); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100 && !strings.Contains(w.run("vzctl", "status", b.id).out, "down"); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	w.ok("vzctl", "start", b.id)
	if r := w.sh("ip", "netns", "exec", w.nodeNS, "nft", "list", "map", "bridge", "govz", "ports"); strings.Count(r, `"veth202.0"`) != 1 {
		t.Errorf("B's port after a restart that followed a crash:\n%s", r)
	}
	w.ok("vzctl", "stop", a.id)
	w.ok("vzctl", "stop", b.id)
	w.sameState(before)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// waitNoTentative waits for duplicate address detection on container
// id's eth0.
func (w *netWorld) waitNoTentative(id string) {
	w.t.Helper()
	for i := 0; i < 100; i++ {
		if r := w.ok("vzctl", "exec", id, "ip", "-6", "addr", "show", "dev", "eth0"); !strings.Contains(r.out, "tentative") &&
			strings.Contains(r.out, "scope link") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.t.Fatalf("container %s: IPv6 addresses stay tentative", id)
}
