package tests

import (
	"strings"
	"testing"
	"time"
)

// TestMigrateOnlineDebian moves a running Debian 12 systemd guest live: on
// the destination it runs with the same processes, systemd still answers
// and its counter service goes on.
func TestMigrateOnlineDebian(t *testing.T) {
	needCRIU(t)
	w := newMigWorld(t)
	src, dst := w.src, w.dst
	const addr = "10.78.0.52"
	createDebian(src, "101")
	src.ok("vzctl", "set", "101", "--ipadd", addr, "--save")
	src.writeFile("private/101/root/loop.sh", "i=0\nwhile :; do i=$((i+1)); echo $i >/root/counter; sleep 0.2; done\n")
	src.writeFile("private/101/root/f", "before\n")
	src.ok("vzctl", "start", "101", "--wait")
	state := strings.TrimSpace(src.run("vzctl", "exec2", "101", "systemctl", "is-system-running", "--wait").out)
	if state != "running" && state != "degraded" {
		t.Fatalf("is-system-running before the move: %q", state)
	}
	src.ok("vzctl", "exec2", "101", "systemd-run", "--unit=counter", "sh", "/root/loop.sh")
	src.waitCounter("101", 2, 10*time.Second)
	w.runningWith(t, src, "101", "before", addr)
	before := allGuestProcs(src, "101")

	frozen := src.counter("101")
	r := src.result(w.vzmigrate("--online", "--json", "root@10.78.0.3", "101"))
	if r.code != 0 {
		t.Fatalf("vzmigrate --online of a Debian guest:\n%s", r)
	}
	res := checkMigrateJSON(t, r.out, 0)
	t.Logf("online migration of a Debian 12 guest: %.3f s, downtime %.3f s, %v bytes, %v pre-dumps",
		res["seconds"], res["downtime_seconds"], res["bytes"], res["predumps"])
	t.Logf("the freeze: %v", res["freeze"])
	nothingOn(t, src, "101")
	onlineLeftovers(t, w, "101")
	if st := dst.status("101"); st != "CTID 101 exist mounted running" {
		t.Fatalf("on the destination: %q", st)
	}
	if got := allGuestProcs(dst, "101"); pids(got) != pids(before) {
		t.Errorf("other processes on the destination:\nbefore %q\nafter  %q", before, got)
	}
	dst.waitCounter("101", frozen+3, 10*time.Second)
	state = strings.TrimSpace(dst.run("vzctl", "exec2", "101", "systemctl", "is-system-running").out)
	if state != "running" && state != "degraded" {
		t.Errorf("is-system-running on the destination: %q", state)
	}
	w.runningWith(t, dst, "101", "before", addr)
	noRestoreMountsLeft(t, src, dst)
}
