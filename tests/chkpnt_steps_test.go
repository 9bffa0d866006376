package tests

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// vzctl chkpnt's separate phases as vzmigrate runs them (issue #15):
// --suspend freezes, --dump saves the frozen container and leaves it
// frozen, --kill kills it (the dump then makes it suspended), --resume
// thaws it and removes the dump.

// counterStill fails the test when container id's counter moves from v
// within 700 ms (three and a half of its periods).
func counterStill(n *node, id string, v int, when string) {
	n.t.Helper()
	time.Sleep(700 * time.Millisecond)
	if got := n.counter(id); got != v {
		n.t.Fatalf("%s: counter moved from %d to %d (not frozen)", when, v, got)
	}
}

// TestChkpntStepsSuspendDumpResume: refusals on a running container; a
// suspended one is frozen and still running for status; the dump leaves
// it frozen; the resume thaws it and removes the dump.
func TestChkpntStepsSuspendDumpResume(t *testing.T) {
	needCRIU(t)
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	startCounter(n, "101")
	running := "CTID 101 exist mounted running"
	dump := n.path("dump/Dump.101")

	for _, step := range []string{"--dump", "--kill", "--resume"} {
		r := n.fails(16, "vzctl", "chkpnt", "101", step)
		if !strings.Contains(r.err, "not suspended") {
			t.Errorf("chkpnt %s on a running container: %q", step, r.err)
		}
	}
	if r := n.fails(21, "vzctl", "chkpnt", "101", "--kill", "--resume"); !strings.Contains(r.err, "exclude") {
		t.Errorf("chkpnt --kill --resume: %q", r.err)
	}
	if s := n.status("101"); s != running {
		t.Fatalf("status after the refusals: %q", s)
	}
	v := n.counter("101")
	n.waitCounter("101", v+2, 10*time.Second)

	n.ok("vzctl", "chkpnt", "101", "--suspend")
	if s := n.status("101"); s != running {
		t.Fatalf("status of a suspended container: %q", s)
	}
	frozen := n.counter("101")
	counterStill(n, "101", frozen, "after --suspend")
	if r := n.fails(16, "vzctl", "chkpnt", "101", "--suspend"); !strings.Contains(r.err, "suspended already") {
		t.Errorf("second --suspend: %q", r.err)
	}
	// A command joining the frozen container would stop with it: refused.
	if r := n.fails(16, "vzctl", "exec", "101", "echo", "hi"); !strings.Contains(r.err, "is suspended") {
		t.Errorf("exec on a suspended container: %q", r.err)
	}

	t0 := time.Now()
	n.ok("vzctl", "chkpnt", "101", "--dump")
	t.Logf("chkpnt --dump: %d ms", time.Since(t0).Milliseconds())
	if _, err := os.Stat(filepath.Join(dump, "pstree.img")); err != nil {
		t.Fatalf("no dump: %v", err)
	}
	if _, err := os.Stat(dump + ".part"); !os.IsNotExist(err) {
		t.Fatalf("unfinished dump left: %v", err)
	}
	if s := n.status("101"); s != running {
		t.Fatalf("status after --dump: %q", s)
	}
	counterStill(n, "101", frozen, "after --dump")
	if r := n.fails(16, "vzctl", "chkpnt", "101", "--dump"); !strings.Contains(r.err, "exists already") {
		t.Errorf("second --dump: %q", r.err)
	}

	n.ok("vzctl", "chkpnt", "101", "--resume")
	n.waitCounter("101", frozen+3, 10*time.Second)
	if _, err := os.Stat(dump); !os.IsNotExist(err) {
		t.Fatalf("dump left after --resume: %v", err)
	}
	if s := n.status("101"); s != running {
		t.Fatalf("status after --resume: %q", s)
	}
	if r := n.fails(16, "vzctl", "chkpnt", "101", "--resume"); !strings.Contains(r.err, "not suspended") {
		t.Errorf("second --resume: %q", r.err)
	}

	// The whole chkpnt of a suspended container: CRIU freezes through
	// the group --suspend froze, not the group below it.
	n.ok("vzctl", "chkpnt", "101", "--suspend")
	frozen = n.counter("101")
	n.ok("vzctl", "chkpnt", "101")
	if s := n.status("101"); !strings.HasSuffix(s, " down suspended") {
		t.Fatalf("status after chkpnt of a suspended container: %q", s)
	}
	n.ok("vzctl", "restore", "101")
	n.waitCounter("101", frozen+3, 10*time.Second)
	// A graceful stop of a suspended container thaws it and stops it.
	n.ok("vzctl", "chkpnt", "101", "--suspend")
	if r := n.ok("vzctl", "stop", "101"); !strings.Contains(r.out, "resuming it to stop it") {
		t.Errorf("stop of a suspended container said %q", r.out)
	}
	if s := n.status("101"); !strings.HasSuffix(s, " down") {
		t.Fatalf("status after stopping a suspended container: %q", s)
	}
}

// TestChkpntStepsKillRestore: suspend and dump in one command, kill in
// another: the container is suspended as after a whole chkpnt, its tasks
// did not run after the dump, and restore brings back the same processes,
// whose counter goes on.
func TestChkpntStepsKillRestore(t *testing.T) {
	needCRIU(t)
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	startCounter(n, "101")
	before := guestProcs(n, "101")

	n.ok("vzctl", "chkpnt", "101", "--dump", "--suspend")
	frozen := n.counter("101")
	n.ok("vzctl", "chkpnt", "101", "--kill")
	if s := n.status("101"); !strings.HasSuffix(s, " down suspended") {
		t.Fatalf("status after --kill: %q", s)
	}
	// Unmounted now: the counter as the private area has it.
	b, err := os.ReadFile(n.path("private/101/root/counter"))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(frozen) {
		t.Fatalf("counter after --kill: %q, %v; want %d (no task ran after the dump)", b, err, frozen)
	}
	for _, step := range []string{"--kill", "--resume", "--dump"} {
		r := n.fails(31, "vzctl", "chkpnt", "101", step)
		if !strings.Contains(r.err, "not running") {
			t.Errorf("chkpnt %s on a killed container: %q", step, r.err)
		}
	}

	n.ok("vzctl", "restore", "101")
	if s := n.status("101"); s != "CTID 101 exist mounted running" {
		t.Fatalf("status after restore: %q", s)
	}
	// The same PIDs (start times change: CRIU forks each task anew, see
	// TestChkpntRestoreBusybox), not frozen: the counter goes on from
	// where the suspend stopped it.
	after := guestProcs(n, "101")
	if pids(after) != pids(before) {
		t.Fatalf("processes changed across suspend/dump/kill/restore:\nbefore %q\nafter  %q", before, after)
	}
	t.Logf("PID start-time before %q, after %q", before, after)
	n.waitCounter("101", frozen+3, 10*time.Second)
	if _, err := os.Stat(n.path("dump/Dump.101")); !os.IsNotExist(err) {
		t.Fatalf("dump left after the restore: %v", err)
	}
	noRestoreMounts(t)
	n.ok("vzctl", "stop", "101")
}

// TestChkpntStepsVenetTCP: a container with a venet address and a TCP
// connection to the LAN peer. --dump leaves the host side of its network
// as it was (it still runs on this node) and the connection carries data
// after --resume; --kill takes the host side down as a whole chkpnt does,
// and the connection survives the restore.
func TestChkpntStepsVenetTCP(t *testing.T) {
	needCRIU(t)
	w := newNetWorld(t, false)
	pristine := w.state()
	w.ok("vzctl", "create", "101", "--ipadd", "10.77.0.10")
	startCounter(w.node, "101")
	started := w.settled()
	peer := connectToLAN(w, "101", "7011")
	peer.echo("before")

	w.ok("vzctl", "chkpnt", "101", "--suspend")
	w.ok("vzctl", "chkpnt", "101", "--dump")
	w.sameNetState(started, "after --dump (want the host side kept)")
	w.ok("vzctl", "chkpnt", "101", "--resume")
	peer.echo("after resume")
	if !w.lanPings("10.77.0.10") {
		t.Fatal("the resumed container does not answer the LAN peer")
	}

	before := netGuestProcs(w.node, "101")
	w.ok("vzctl", "chkpnt", "101", "--suspend", "--dump")
	w.ok("vzctl", "chkpnt", "101", "--kill")
	w.sameNetState(pristine, "after --kill (want no host side left)")
	w.ok("vzctl", "restore", "101")
	if after := netGuestProcs(w.node, "101"); pids(after) != pids(before) {
		t.Fatalf("processes changed across suspend/dump/kill/restore:\nbefore %q\nafter  %q", before, after)
	}
	peer.echo("after restore")
	w.sameNetState(started, "after restore (want a started container's host side)")
	w.ok("vzctl", "stop", "101")
	w.sameNetState(pristine, "after stopping the restored container")
}
