package tests

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Bridged world: attacker 101 (10.77.0.31, fd00:77::31) and victim 102
// (10.77.0.32, fd00:77::32) on the node's bridge br0, which also carries
// the uplink to the LAN peer (10.77.0.1, fd00:77::1).

var bridgedAddrs = map[string][2]string{"101": {"10.77.0.31", "fd00:77::31"}, "102": {"10.77.0.32", "fd00:77::32"}}

func (e *escEnv) bridgedWorld(t *testing.T) *netWorld {
	w := newNetWorld(t, true)
	for _, id := range []string{"101", "102"} {
		a := bridgedAddrs[id]
		w.ok("vzctl", "create", id)
		w.ok("vzctl", "set", id, "--netif_add", "eth0,,,,br0", "--save")
		declareBridged(w, id, a)
		e.setMode(w, id)
		w.ok("vzctl", "start", id)
		e.install(w, id)
		if r := e.sh(w, id, fmt.Sprintf("ip link set eth0 up && ip addr replace %s/24 dev eth0 && ip -6 addr replace %s/64 dev eth0", a[0], a[1])); r.code != 0 {
			t.Fatalf("configuring eth0 in %s:\n%s", id, r)
		}
	}
	for _, id := range []string{"101", "102"} {
		for i := 0; ; i++ {
			r := e.sh(w, id, "ip -6 addr show dev eth0")
			if !strings.Contains(r.out, "tentative") && strings.Contains(r.out, "fe80") {
				break
			}
			if i == 100 {
				t.Fatalf("IPv6 on %s's eth0 never settled:\n%s", id, r.out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return w
}

// declareBridged gives the bridged interface its addresses the way an
// admin closes source spoofing (--ifname IF --ipadd ADDR: the port may
// send only from them). A build that cannot (it takes --ipadd as a
// routed address) is left with an undeclared port, as is, and logged.
func declareBridged(w *netWorld, id string, a [2]string) {
	r := w.run("vzctl", "set", id, "--ifname", "eth0", "--ipadd", a[0], "--ipadd", a[1], "--save")
	cfg, _ := os.ReadFile(w.path("conf/" + id + ".toml"))
	for _, l := range strings.Split(string(cfg), "\n") {
		if r.code == 0 && strings.Contains(l, "ifname=eth0") && strings.Contains(l, "ip=") && strings.Contains(l, a[0]) {
			return
		}
	}
	w.t.Logf("bridged %s: this build cannot give eth0 its addresses (%d %s): the port has none declared", id, r.code, strings.TrimSpace(r.err))
	if r.code == 0 {
		w.ok("vzctl", "set", id, "--ipdel", "all", "--save")
	}
}

// sniffer captures, in the LAN peer's namespace, every frame arriving
// on lan0 (run by the test, in its own namespace).
type sniffer struct{ b *background }

func (e *escEnv) sniff(t *testing.T, w *netWorld, secs int) *sniffer {
	b := startBackground(t, exec.Command("nsenter", "--net=/run/netns/"+w.lanNS, "--", e.probe, "sniff", "lan0", fmt.Sprint(secs)))
	if !b.waitLine("READY", 5*time.Second) {
		t.Fatalf("sniffer: %v", b.stop())
	}
	return &sniffer{b}
}

// packets waits for the capture to end and returns its frames.
func (s *sniffer) packets() []string {
	var out []string
	for _, l := range s.b.stop() {
		if p, ok := strings.CutPrefix(l, "pkt="); ok {
			out = append(out, p)
		}
	}
	return out
}

// matching lists the frames containing every one of the words.
func matching(pkts []string, words ...string) []string {
	var out []string
	for _, p := range pkts {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(p, w)
		}
		if ok {
			out = append(out, p)
		}
	}
	return out
}

// bridgedAttack is what attacker 101 sent on the bridge, captured once and
// judged by the four bridged techniques.
type bridgedAttack struct {
	mac       string   // the attacker's MAC
	pkts      []string // frames the LAN peer received meanwhile
	out       string   // the attacker's probe output
	lanNeigh  string   // the LAN peer's neighbour table afterwards
	victimNbr string   // the victim's neighbour table afterwards
	victimRt  string   // the victim's IPv6 routes afterwards
}

func (e *escEnv) bridgedRun(t *testing.T) *bridgedAttack {
	e.bridgedOnce.Do(func() {
		w := e.b
		a := &bridgedAttack{}
		a.mac = strings.TrimSpace(e.sh(w, "101", "cat /sys/class/net/eth0/address").out)
		// The LAN peer and the victim know each other first (the entries
		// the attacker would poison), and ARP's locktime (1 s) passes.
		for _, addr := range []string{"10.77.0.32", "fd00:77::32", "10.77.0.31", "fd00:77::31"} {
			w.lanPings(addr)
		}
		time.Sleep(1100 * time.Millisecond)
		s := e.sniff(t, w, 3)
		v4, v6 := bridgedAddrs["102"][0], bridgedAddrs["102"][1]
		script := strings.Join([]string{
			// Controls: the attacker's own addresses reach the LAN.
			"/escprobe udpsend 10.77.0.31 10.77.0.1 9 ctl4-" + e.tag,
			"/escprobe udpsend fd00:77::31 fd00:77::1 9 ctl6-" + e.tag,
			// The victim's addresses, and an unused one.
			"/escprobe udpsend " + v4 + " 10.77.0.1 9 spoof4-" + e.tag,
			"/escprobe udpsend 10.77.0.99 10.77.0.1 9 spoof4-" + e.tag,
			"/escprobe udpsend " + v6 + " fd00:77::1 9 spoof6-" + e.tag,
			// ARP: claim the victim's address to the LAN, the LAN peer's
			// to the victim.
			"/escprobe arp eth0 " + v4 + " " + v4,
			"/escprobe arp eth0 10.77.0.1 " + v4,
			// NDP: the same for IPv6, then a router advertisement.
			"/escprobe ndp eth0 na " + v6,
			"/escprobe ndp eth0 na fd00:77::1",
			"/escprobe ndp eth0 ra",
		}, "; ")
		r := e.sh(w, "101", script)
		a.out = strings.Join(strings.Fields(r.out+" "+r.err), " ")
		a.pkts = s.packets()
		a.lanNeigh, _ = w.in(w.lanNS, "ip", "neigh", "show", "dev", "lan0")
		a.victimNbr = e.sh(w, "102", "ip neigh show dev eth0").out
		a.victimRt = e.sh(w, "102", "ip -6 route show").out
		e.bridged = a
	})
	if e.bridged == nil {
		t.Fatal("the bridged attack did not run")
	}
	return e.bridged
}

// controlSeen: the capture works (the attacker's own traffic got there).
func (a *bridgedAttack) controlSeen(tag string) error {
	if len(matching(a.pkts, "ctl4-"+tag)) == 0 || len(matching(a.pkts, "ctl6-"+tag)) == 0 {
		return fmt.Errorf("control: the attacker's own datagrams never reached the LAN capture (%d frames; probe: %s)", len(a.pkts), a.out)
	}
	return nil
}

func tryBridgedIPSpoof(t *testing.T, e *escEnv) outcome {
	a := e.bridgedRun(t)
	if err := a.controlSeen(e.tag); err != nil {
		return escaped("%v", err)
	}
	if s := matching(a.pkts, "spoof"); len(s) > 0 {
		return escaped("spoofed sources reached the LAN: %s", strings.Join(s, " | "))
	}
	return blocked("no datagram from %s, 10.77.0.99 or %s reached the LAN (own ones did)", bridgedAddrs["102"][0], bridgedAddrs["102"][1])
}

func tryBridgedARP(t *testing.T, e *escEnv) outcome {
	a := e.bridgedRun(t)
	var bad []string
	for _, ip := range []string{bridgedAddrs["102"][0], "10.77.0.1"} {
		bad = append(bad, matching(a.pkts, "arp ", "sha="+a.mac, "spa="+ip+" ")...)
	}
	for _, l := range strings.Split(a.lanNeigh, "\n") {
		if strings.HasPrefix(l, bridgedAddrs["102"][0]+" ") && strings.Contains(l, a.mac) {
			bad = append(bad, "LAN peer: "+l)
		}
	}
	for _, l := range strings.Split(a.victimNbr, "\n") {
		if strings.HasPrefix(l, "10.77.0.1 ") && strings.Contains(l, a.mac) {
			bad = append(bad, "victim: "+l)
		}
	}
	if len(bad) > 0 {
		return escaped("ARP claims from %s got out: %s", a.mac, strings.Join(bad, " | "))
	}
	if err := a.controlSeen(e.tag); err != nil {
		return escaped("%v", err)
	}
	return blocked("no ARP with sender %s claiming %s or 10.77.0.1 on the LAN; LAN and victim caches unpoisoned", a.mac, bridgedAddrs["102"][0])
}

func tryBridgedNDP(t *testing.T, e *escEnv) outcome {
	a := e.bridgedRun(t)
	var bad []string
	for _, ip := range []string{bridgedAddrs["102"][1], "fd00:77::1"} {
		bad = append(bad, matching(a.pkts, "smac="+a.mac, "icmp6=136", "target="+ip)...)
	}
	for _, l := range strings.Split(a.lanNeigh, "\n") {
		if strings.HasPrefix(l, bridgedAddrs["102"][1]+" ") && strings.Contains(l, a.mac) {
			bad = append(bad, "LAN peer: "+l)
		}
	}
	for _, l := range strings.Split(a.victimNbr, "\n") {
		if strings.HasPrefix(l, "fd00:77::1 ") && strings.Contains(l, a.mac) {
			bad = append(bad, "victim: "+l)
		}
	}
	if len(bad) > 0 {
		return escaped("neighbour advertisements from %s got out: %s", a.mac, strings.Join(bad, " | "))
	}
	if err := a.controlSeen(e.tag); err != nil {
		return escaped("%v", err)
	}
	return blocked("no NA claiming %s or fd00:77::1 on the LAN; caches unpoisoned", bridgedAddrs["102"][1])
}

func tryBridgedRA(t *testing.T, e *escEnv) outcome {
	a := e.bridgedRun(t)
	bad := matching(a.pkts, "smac="+a.mac, "icmp6=134")
	if strings.Contains(a.victimRt, "fd00:66::") || strings.Contains(a.victimRt, "default via fe80") {
		bad = append(bad, "victim routes: "+strings.Join(strings.Fields(a.victimRt), " "))
	}
	if len(bad) > 0 {
		return escaped("router advertisement from %s got out: %s", a.mac, strings.Join(bad, " | "))
	}
	if err := a.controlSeen(e.tag); err != nil {
		return escaped("%v", err)
	}
	return blocked("no RA on the LAN; victim's IPv6 routes: %s", strings.Join(strings.Fields(a.victimRt), " "))
}

// tryRoutedIPSpoof: in the routed world the attacker gives its venet0 the
// neighbour's addresses and an unused one and sends from them; nothing
// from them reaches the LAN (its own addresses do).
func tryRoutedIPSpoof(t *testing.T, e *escEnv) outcome {
	w := e.r
	r := e.sh(w, "101", "ip addr add 10.77.0.99/32 dev venet0; ip addr add 10.77.0.20/32 dev venet0; ip -6 addr add fd00:77::99/128 dev venet0 nodad; ip -6 addr add fd00:77::20/128 dev venet0 nodad; true")
	defer e.sh(w, "101", "ip addr del 10.77.0.99/32 dev venet0; ip addr del 10.77.0.20/32 dev venet0; ip -6 addr del fd00:77::99/128 dev venet0; ip -6 addr del fd00:77::20/128 dev venet0")
	time.Sleep(200 * time.Millisecond)
	s := e.sniff(t, w, 2)
	out := e.sh(w, "101", strings.Join([]string{
		"/escprobe udpsend 10.77.0.10 10.77.0.1 9 ctl4-" + e.tag,
		"/escprobe udpsend fd00:77::10 fd00:77::1 9 ctl6-" + e.tag,
		"/escprobe udpsend 10.77.0.99 10.77.0.1 9 spoof4-" + e.tag,
		"/escprobe udpsend 10.77.0.20 10.77.0.1 9 spoof4-" + e.tag,
		"/escprobe udpsend fd00:77::99 fd00:77::1 9 spoof6-" + e.tag,
		"/escprobe udpsend fd00:77::20 fd00:77::1 9 spoof6-" + e.tag,
	}, "; "))
	pkts := s.packets()
	if sp := matching(pkts, "spoof"); len(sp) > 0 {
		return escaped("spoofed sources reached the LAN: %s", strings.Join(sp, " | "))
	}
	if len(matching(pkts, "ctl4-"+e.tag)) == 0 || len(matching(pkts, "ctl6-"+e.tag)) == 0 {
		return escaped("control: the attacker's own datagrams never reached the LAN (%d frames; %s; %s)", len(pkts), r, out)
	}
	return blocked("own datagrams arrived, none from 10.77.0.99, 10.77.0.20, fd00:77::99, fd00:77::20")
}

// tryRoutedL2: ARP, NDP and a router advertisement on venet0 must change
// nothing of the node (routes, addresses, proxy entries, rules) and no
// frame of the container's MAC may reach the LAN.
func tryRoutedL2(t *testing.T, e *escEnv) outcome {
	w := e.r
	before := w.state()
	nodeNeigh := func() string {
		out, _ := w.in(w.nodeNS, "ip", "neigh", "show")
		var l []string
		for _, x := range strings.Split(out, "\n") {
			if strings.HasPrefix(x, "10.77.0.20 ") || strings.HasPrefix(x, "fd00:77::20 ") || strings.HasPrefix(x, "10.77.0.1 ") || strings.HasPrefix(x, "fd00:77::1 ") {
				l = append(l, strings.Join(strings.Fields(x)[:min(5, len(strings.Fields(x)))], " "))
			}
		}
		return strings.Join(l, "; ")
	}
	mac := strings.TrimSpace(e.sh(w, "101", "cat /sys/class/net/venet0/address").out)
	s := e.sniff(t, w, 2)
	r := e.sh(w, "101", "/escprobe arp venet0 10.77.0.20 10.77.0.20; /escprobe arp venet0 10.77.0.1 10.77.0.1; /escprobe ndp venet0 na fd00:77::20; /escprobe ndp venet0 na fd00:77::1; /escprobe ndp venet0 ra")
	pkts := s.packets()
	after := w.state()
	neigh := nodeNeigh()
	var bad []string
	if after != before {
		bad = append(bad, "the node's network state changed")
	}
	if m := matching(pkts, "smac="+mac); mac != "" && len(m) > 0 {
		bad = append(bad, "frames from the container's MAC on the LAN: "+strings.Join(m, " | "))
	}
	if mac != "" && strings.Contains(neigh, mac) {
		bad = append(bad, "node neighbour entries point at the container: "+neigh)
	}
	if len(bad) > 0 {
		return escaped("%s; probe: %s", strings.Join(bad, "; "), strings.Join(strings.Fields(r.out+r.err), " "))
	}
	return blocked("node state unchanged, no frame from %s on the LAN, node neighbours [%s]; probe: %s", mac, neigh, strings.Join(strings.Fields(r.out+r.err), " "))
}
