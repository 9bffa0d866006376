package tests

import (
	"bufio"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/net/nettest"
)

// Checkpoint and restore of containers with networking (issue #15): the
// host side of their pairs is torn down with the dump and rebuilt around
// the pairs CRIU recreates, and a TCP connection to the LAN peer lives
// through it.

// lanPeer is a TCP connection the LAN peer accepted from a container: the
// container's end echoes every line (busybox nc -e cat).
type lanPeer struct {
	t    *testing.T
	conn net.Conn
	rd   *bufio.Reader
}

// connectToLAN makes container id open a TCP connection to the LAN peer
// (10.77.0.1:port) served by its own process (nc, exec'ing cat) and
// returns the peer's end.
func connectToLAN(w *netWorld, id, port string) *lanPeer {
	w.t.Helper()
	var ln net.Listener
	var err error
	// The listening socket belongs to the LAN namespace for good, whichever
	// thread later accepts on it.
	nettest.In(w.t, w.lanNS, func() { ln, err = net.Listen("tcp4", "10.77.0.1:"+port) })
	if err != nil {
		w.t.Fatal(err)
	}
	defer ln.Close()
	w.ok("vzctl", "exec", id, "setsid nc 10.77.0.1 "+port+" -e cat </dev/null >/dev/null 2>&1 &")
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		w.t.Fatalf("the container never connected to the LAN peer: %v", err)
	}
	w.t.Cleanup(func() { c.Close() })
	return &lanPeer{t: w.t, conn: c, rd: bufio.NewReader(c)}
}

// echo sends a line to the container and wants it back: data went both
// ways on the same connection.
func (p *lanPeer) echo(line string) {
	p.t.Helper()
	p.conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := p.conn.Write([]byte(line + "\n")); err != nil {
		p.t.Fatalf("sending %q to the container: %v", line, err)
	}
	got, err := p.rd.ReadString('\n')
	if err != nil || strings.TrimSpace(got) != line {
		p.t.Fatalf("echo of %q: got %q, %v", line, got, err)
	}
}

// netGuestProcs lists init, the counter loop and the connection's process
// (cat, which nc became) as the guest sees them: "PID comm".
func netGuestProcs(n *node, id string) string {
	n.t.Helper()
	r := n.ok("vzctl", "exec", id, `for p in /proc/[0-9]*; do c=$(cat $p/comm 2>/dev/null); if [ "${p#/proc/}" = 1 ] || [ "$c" = cat ] || grep -q 'loo[p].sh' $p/cmdline 2>/dev/null; then echo ${p#/proc/} $c; fi; done`)
	out := strings.TrimSpace(r.out)
	if strings.Count(out, "\n") != 2 {
		n.t.Fatalf("want init, the loop and the connection's cat, got %q", out)
	}
	return out
}

var (
	ifIndex  = regexp.MustCompile(`(?m)^\d+: `)
	peerIdx  = regexp.MustCompile(`@if\d+`)
	netnsIdx = regexp.MustCompile(`link-netnsid \d+`)
)

// settled is the node's network state once no address is tentative any
// more (duplicate address detection on a new host end).
func (w *netWorld) settled() string {
	w.t.Helper()
	// No tentative address, and the same twice in a row: the kernel adds
	// a new host end's link-local address and, a moment after its duplicate
	// address detection, the address's local route.
	prev := ""
	for i := 0; i < 50; i++ {
		s := w.state()
		if !strings.Contains(s, "tentative") && s == prev {
			return s
		}
		prev = s
		time.Sleep(200 * time.Millisecond)
	}
	w.t.Fatal("the node's network state did not settle")
	return ""
}

// sameNetState fails when the node's network state differs from want
// other than by interface and namespace numbers, which a pair recreated
// by CRIU does not keep.
func (w *netWorld) sameNetState(want, what string) {
	w.t.Helper()
	norm := func(s string) string {
		return netnsIdx.ReplaceAllString(peerIdx.ReplaceAllString(ifIndex.ReplaceAllString(s, "N: "), "@ifN"), "link-netnsid N")
	}
	// The kernel's duplicate address detection on a new host end (its
	// link-local address) takes a moment: the state settles.
	got := w.state()
	for end := time.Now().Add(5 * time.Second); norm(got) != norm(want) && time.Now().Before(end); got = w.state() {
		time.Sleep(100 * time.Millisecond)
	}
	if norm(got) == norm(want) {
		return
	}
	wl, gl := strings.Split(norm(want), "\n"), strings.Split(norm(got), "\n")
	var diff []string
	for _, l := range gl {
		if !contains(wl, l) {
			diff = append(diff, "+ "+l)
		}
	}
	for _, l := range wl {
		if !contains(gl, l) {
			diff = append(diff, "- "+l)
		}
	}
	w.t.Fatalf("%s: the node's network state differs:\n%s", what, strings.Join(diff, "\n"))
}

// TestChkpntRestoreVenet: a routed container with a counter is
// checkpointed (its host side goes as on a stop) and restored (its host
// side is what a start makes): same PIDs, the counter went on, the LAN
// reaches it and it reaches the LAN.
func TestChkpntRestoreVenet(t *testing.T) {
	chkpntRestoreNet(t, false)
}

// TestChkpntRestoreVenetTCP: the same with a TCP connection from the
// container to the LAN peer, which carries data both ways after the
// restore.
func TestChkpntRestoreVenetTCP(t *testing.T) {
	chkpntRestoreNet(t, true)
}

func chkpntRestoreNet(t *testing.T, tcp bool) {
	needCRIU(t)
	w := newNetWorld(t, false)
	pristine := w.state()
	w.ok("vzctl", "create", "101", "--ipadd", "10.77.0.10")
	startCounter(w.node, "101")
	// A route of the guest's own: the restore puts it back from the dump.
	w.ok("vzctl", "exec", "101", "ip route add 10.98.0.0/24 via 169.254.0.1 dev venet0 onlink")
	routes := w.ok("vzctl", "exec", "101", "ip route; ip -6 route").out
	started := w.settled()
	var peer *lanPeer
	procs := func() string { return guestProcs(w.node, "101") }
	if tcp {
		peer = connectToLAN(w, "101", "7010")
		peer.echo("before")
		procs = func() string { return netGuestProcs(w.node, "101") }
	}
	before := procs()

	w.ok("vzctl", "chkpnt", "101")
	if s := w.status("101"); !strings.HasSuffix(s, " down suspended") {
		t.Fatalf("status after chkpnt: %q", s)
	}
	w.sameNetState(pristine, "after chkpnt (want no host side left)")
	frozen := w.counter("101")

	if r := w.run("vzctl", "restore", "101"); r.code != 0 {
		// CRIU's errors, before the test's directory goes.
		b, _ := os.ReadFile(w.path("dump/Dump.101/restore.log"))
		var errs []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "Error") {
				errs = append(errs, l)
			}
		}
		t.Fatalf("vzctl restore: exit %d: %s\n%s", r.code, r.err, strings.Join(errs, "\n"))
	}
	if s := w.status("101"); s != "CTID 101 exist mounted running" {
		t.Fatalf("status after restore: %q", s)
	}
	if after := procs(); pids(after) != pids(before) {
		t.Fatalf("processes changed across checkpoint/restore:\nbefore %q\nafter  %q", before, after)
	}
	w.waitCounter("101", frozen+3, 10*time.Second)
	if got := w.ok("vzctl", "exec", "101", "ip route; ip -6 route").out; got != routes {
		t.Fatalf("the guest's routes changed:\nbefore %s\nafter  %s", routes, got)
	}
	if tcp {
		peer.echo("after restore")
	}
	w.sameNetState(started, "after restore (want a started container's host side)")
	if !w.lanPings("10.77.0.10") {
		t.Fatal("the restored container does not answer the LAN peer")
	}
	if !w.ctPings("101", "10.77.0.1") {
		t.Fatal("the restored container does not reach the LAN peer")
	}

	// The restored container's networking goes with it on stop.
	w.ok("vzctl", "stop", "101")
	w.sameNetState(pristine, "after stopping the restored container")
}

// TestChkpntRestoreBridged: a container with a bridged veth (NETIF) and a
// routed address on the same node bridge: the guest's own addresses and
// routes on its bridged interface come back from the dump, the host end
// is again a locked, filtered port of the bridge, and the LAN reaches
// both addresses.
func TestChkpntRestoreBridged(t *testing.T) {
	needCRIU(t)
	w := newNetWorld(t, true)
	pristine := w.state()
	w.ok("vzctl", "create", "103", "--ipadd", "10.77.0.40")
	w.ok("vzctl", "set", "103", "--netif_add", "eth0,,,,br0", "--save")
	startCounter(w.node, "103")
	w.ok("vzctl", "exec", "103", "ip link set eth0 up && ip addr add 10.77.0.30/24 dev eth0 && ip route add 10.99.0.0/24 via 10.77.0.1 dev eth0")
	if !w.lanPings("10.77.0.30") || !w.lanPings("10.77.0.40") {
		t.Fatal("the container does not answer on the LAN before the checkpoint")
	}
	started := w.settled()
	routes := w.ok("vzctl", "exec", "103", "ip route").out
	before := guestProcs(w.node, "103")

	w.ok("vzctl", "chkpnt", "103")
	w.sameNetState(pristine, "after chkpnt (want no host side left)")
	frozen := w.counter("103")
	w.ok("vzctl", "restore", "103")
	if after := guestProcs(w.node, "103"); pids(after) != pids(before) {
		t.Fatalf("processes changed across checkpoint/restore:\nbefore %q\nafter  %q", before, after)
	}
	w.waitCounter("103", frozen+3, 10*time.Second)
	if got := w.ok("vzctl", "exec", "103", "ip route").out; got != routes {
		t.Fatalf("the guest's routes changed:\nbefore %s\nafter  %s", routes, got)
	}
	w.sameNetState(started, "after restore (want a started container's host side)")
	if !w.lanPings("10.77.0.30") || !w.lanPings("10.77.0.40") {
		t.Fatal("the restored container does not answer on the LAN")
	}
	if !w.ctPings("103", "10.77.0.1", "10.77.0.30") {
		t.Fatal("the restored container does not reach the LAN from its bridged address")
	}
	w.ok("vzctl", "stop", "103")
	w.sameNetState(pristine, "after stopping the restored container")
}

// TestChkpntNetworkDumpFailureKeepsRunning: a dump that fails late (its
// directory fills up while CRIU writes the memory, after it locked the
// network and froze the tasks) leaves the container running with its
// networking as it was.
func TestChkpntNetworkDumpFailureKeepsRunning(t *testing.T) {
	needCRIU(t)
	w := newNetWorld(t, false)
	w.ok("vzctl", "create", "101", "--ipadd", "10.77.0.10")
	startCounter(w.node, "101")
	started := w.settled()
	dumpDir := w.path("dump")
	if err := os.MkdirAll(dumpDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dumpDir, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dumpDir, unix.MNT_DETACH) })

	r := w.fails(16, "vzctl", "chkpnt", "101")
	if !strings.Contains(r.err, "checkpoint failed") {
		t.Fatalf("want CRIU's failure named, got %q", r.err)
	}
	if s := w.status("101"); s != "CTID 101 exist mounted running" {
		t.Fatalf("status after a failed chkpnt: %q", s)
	}
	v := w.counter("101")
	w.waitCounter("101", v+3, 10*time.Second)
	w.sameNetState(started, "after a failed chkpnt")
	if !w.lanPings("10.77.0.10") {
		t.Fatal("the container stopped answering after a failed chkpnt")
	}
	if _, err := os.Stat(w.path("dump/Dump.101")); !os.IsNotExist(err) {
		t.Fatalf("a failed dump left Dump.101: %v", err)
	}
}

// TestRestoreNetworkFailureKeepsDump: a restore that fails while the host
// side is being rebuilt (after the pairs, the bridged port and its filter
// were made) (the node routes the container's address
// elsewhere meanwhile) leaves no host side and the dump; once the route
// is gone, the dump restores.
func TestRestoreNetworkFailureKeepsDump(t *testing.T) {
	needCRIU(t)
	w := newNetWorld(t, true)
	w.ok("vzctl", "create", "101", "--ipadd", "10.77.0.10")
	// A bridged veth too: its port and filter, made before the failure,
	// must go as well.
	w.ok("vzctl", "set", "101", "--netif_add", "eth0,,,,br0", "--save")
	startCounter(w.node, "101")
	w.ok("vzctl", "chkpnt", "101")
	w.sh("ip", "-n", w.nodeNS, "route", "add", "10.77.0.10/32", "dev", w.uplink)
	blocked := w.state()

	r := w.fails(17, "vzctl", "restore", "101")
	if !strings.Contains(r.err, "restore failed") || !strings.Contains(r.err, "10.77.0.10") {
		t.Fatalf("want the host side's failure named, got %q", r.err)
	}
	t.Logf("failed restore: %s", strings.TrimSpace(r.err))
	restoreFailedCleanly(t, w.node)
	w.sameNetState(blocked, "after a failed restore (want no host side left)")

	w.sh("ip", "-n", w.nodeNS, "route", "del", "10.77.0.10/32", "dev", w.uplink)
	w.ok("vzctl", "restore", "101")
	if !w.lanPings("10.77.0.10") {
		t.Fatal("the container restored after a failed attempt does not answer the LAN peer")
	}
}
