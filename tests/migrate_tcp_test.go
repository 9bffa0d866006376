package tests

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"govz/net/nettest"
)

// migLANPeer is connectToLAN in the migration world: container id on node
// n opens a TCP connection to the LAN peer (10.78.0.1:port), served by its
// own nc exec'ing cat, and the peer's end is returned.
func (w *migWorld) migLANPeer(t *testing.T, n *node, id, port string) *lanPeer {
	t.Helper()
	var ln net.Listener
	var err error
	nettest.In(t, w.lanNS, func() { ln, err = net.Listen("tcp4", "10.78.0.1:"+port) })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	n.ok("vzctl", "exec", id, "setsid nc 10.78.0.1 "+port+" -e cat </dev/null >/dev/null 2>&1 &")
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("the container never connected to the LAN peer: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &lanPeer{t: t, conn: c, rd: bufio.NewReader(c)}
}

// TestMigrateOnlineTCP moves a running routed (venet) busybox container
// live with a TCP connection open from it to the LAN peer: the connection
// carries data both ways before the move and, on the same sockets, after
// the container runs on the destination (which announced its address; the
// source no longer routes it).
func TestMigrateOnlineTCP(t *testing.T) {
	needCRIU(t)
	w := newMigWorld(t)
	src, dst := w.src, w.dst
	const addr = "10.78.0.51"
	src.ok("vzctl", "create", "101", "--ostemplate", "busybox-"+arch(), "--ipadd", addr)
	src.ok("vzctl", "start", "101")
	src.ok("vzctl", "exec2", "101", "echo before > /root/f")
	w.runningWith(t, src, "101", "before", addr)
	peer := w.migLANPeer(t, src, "101", "7020")
	peer.echo("before the move")

	r := src.result(w.vzmigrate("--online", "--json", "root@10.78.0.3", "101"))
	if r.code != 0 {
		t.Fatalf("vzmigrate --online with a TCP connection:\n%s", r)
	}
	res := checkMigrateJSON(t, r.out, 0)
	t.Logf("online migration with a TCP connection: %.3f s, downtime %.3f s", res["seconds"], res["downtime_seconds"])
	fr, ok := res["freeze"].(map[string]any)
	if !ok || fr["dump_seconds"] == nil || fr["restore_seconds"] == nil {
		t.Errorf("--json result: no freeze times: %v", res)
	}
	t.Logf("the freeze: %v", fr)
	nothingOn(t, src, "101")
	onlineLeftovers(t, w, "101")
	if st := dst.status("101"); st != "CTID 101 exist mounted running" {
		t.Fatalf("on the destination: %q", st)
	}
	peer.echo("after the move")
	peer.echo(strings.Repeat("x", 3000))
	w.runningWith(t, dst, "101", "before", addr)
	noRestoreMountsLeft(t, src, dst)
}
