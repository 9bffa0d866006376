package tests

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// onlineLeftovers asserts that neither node keeps a live migration's
// images: the source's dump tree, the destination's PRIVATE.dump.
func onlineLeftovers(t *testing.T, w *migWorld, id string) {
	t.Helper()
	for _, p := range []string{"dump/Dump." + id + ".live", "dump/Dump." + id} {
		if exists(w.src, p) {
			t.Errorf("the source keeps %s", p)
		}
	}
	if exists(w.dst, "private/"+id+".dump") {
		t.Errorf("the destination keeps private/%s.dump", id)
	}
}

// noRestoreMountsLeft is noRestoreMounts for a machine where other tests
// restore containers meanwhile, in the same (host) mount namespace: it
// counts only the restores' idmapped roots of these nodes' private areas
// (a /dev tmpfs names no container), and only once they stayed 20 s.
func noRestoreMountsLeft(t *testing.T, nodes ...*node) {
	t.Helper()
	var last string
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		last = ""
		for _, l := range strings.Split(string(b), "\n") {
			for _, n := range nodes {
				if strings.Contains(l, "govz-restore-") && strings.Contains(l, n.root) {
					last = l
				}
			}
		}
		if last == "" {
			return
		}
	}
	t.Fatalf("restore left a mount: %s", last)
}

// TestMigrateOnline moves a running routed (venet) busybox container live:
// three interrupted tries first, each leaving it running on the source
// with the same processes and nothing on the destination:
//   - ssh killed during the first copy: exit 6, never stopped;
//   - the destination refuses the restore (its premount script fails): exit
//     7 after the freeze, the container restored on the source from its
//     dump, its counter going on;
//   - a container with a process in a nested PID namespace: refused up
//     front (14) with checkpointing's reason, before anything happens.
//
// Then the migration: on the destination with the same PIDs, its counter
// (written five times a second) past where it was before the freeze, the
// LAN peer reaching its address there (the destination announced it; the
// source no longer routes it), nothing left on the source, no images left
// on either node. A TCP connection across: TestMigrateOnlineTCP.
func TestMigrateOnline(t *testing.T) {
	needCRIU(t)
	w := newMigWorld(t)
	src, dst := w.src, w.dst
	const addr = "10.78.0.50"
	src.ok("vzctl", "create", "101", "--ostemplate", "busybox-"+arch(), "--name", "live", "--ipadd", addr)
	startCounter(src, "101")
	before := guestProcs(src, "101")
	boot := func() string { s, _ := src.runState("101"); return s }
	boot0 := boot()
	src.ok("vzctl", "exec2", "101", "echo before > /root/f")
	w.runningWith(t, src, "101", "before", addr)

	// 1. ssh killed during the first copy.
	src.ok("vzctl", "exec2", "101", "dd if=/dev/urandom of=/root/big bs=1M count=120 2>/dev/null")
	stdout, _, _ := w.migrateKillingSSH(t, dst, "--online", "--json", "root@10.78.0.3", "101")
	checkMigrateJSON(t, stdout, 6)
	nothingOn(t, dst, "101")
	onlineLeftovers(t, w, "101")
	if b := boot(); b != boot0 || guestProcs(src, "101") != before {
		t.Fatalf("ssh killed: the container was stopped or changed (boot %q -> %q)", boot0, b)
	}
	src.ok("vzctl", "exec2", "101", "rm /root/big")

	// 2. The destination refuses the restore.
	dst.writeFile("conf/vps.premount", "#!/bin/sh\necho no mounts today >&2\nexit 1\n")
	os.Chmod(dst.path("conf/vps.premount"), 0o755)
	r := src.result(w.vzmigrate("--online", "--json", "root@10.78.0.3", "101"))
	checkMigrateJSON(t, r.out, 7)
	os.Remove(dst.path("conf/vps.premount"))
	nothingOn(t, dst, "101")
	onlineLeftovers(t, w, "101")
	if st := src.status("101"); st != "CTID 101 exist mounted running" {
		t.Fatalf("after a refused restore, on the source: %q\n%s", st, r)
	}
	if got := guestProcs(src, "101"); pids(got) != pids(before) {
		t.Fatalf("restored on the source with other processes:\nbefore %q\nafter  %q", before, got)
	}
	v := src.counter("101")
	src.waitCounter("101", v+3, 10*time.Second)
	w.runningWith(t, src, "101", "before", addr)
	noRestoreMountsLeft(t, src, dst)

	// 3. What checkpointing refuses: refused up front.
	src.ok("vzctl", "create", "102", "--ostemplate", "busybox-"+arch())
	src.ok("vzctl", "start", "102")
	src.ok("vzctl", "exec", "102", "setsid unshare -p -f sleep 1000 </dev/null >/dev/null 2>&1 &")
	time.Sleep(300 * time.Millisecond)
	boot2, _ := src.runState("102")
	r = src.result(w.vzmigrate("--online", "root@10.78.0.3", "102"))
	if r.code != 14 || !strings.Contains(r.err, "nested PID namespace") || strings.Count(strings.TrimSpace(r.err), "\n") != 0 {
		t.Errorf("--online, a nested PID namespace: want exit 14 and a one-line reason naming it, got:\n%s", r)
	}
	if b, _ := src.runState("102"); b != boot2 {
		t.Errorf("the refused container was stopped (boot %q -> %q)", boot2, b)
	}
	nothingOn(t, dst, "102")
	src.ok("vzctl", "stop", "--fast", "102")
	src.ok("vzctl", "destroy", "102")

	// The migration.
	src.ok("vzctl", "exec2", "101", "echo after > /root/f")
	frozen := src.counter("101")
	r = src.result(w.vzmigrate("--online", "--json", "root@10.78.0.3", "101"))
	if r.code != 0 {
		t.Fatalf("vzmigrate --online:\n%s", r)
	}
	res := checkMigrateJSON(t, r.out, 0)
	if res["online"] != true {
		t.Errorf("--json result: not online: %v", res)
	}
	t.Logf("online migration of an idle busybox: %.3f s, downtime %.3f s, %v bytes, %v pre-dumps",
		res["seconds"], res["downtime_seconds"], res["bytes"], res["predumps"])
	for _, l := range strings.Split(r.err, "\n") {
		if strings.Contains(l, "Downtime") {
			t.Log(l)
		}
	}
	nothingOn(t, src, "101")
	onlineLeftovers(t, w, "101")
	if st := dst.status("101"); st != "CTID 101 exist mounted running" {
		t.Fatalf("on the destination: %q", st)
	}
	if got := guestProcs(dst, "101"); pids(got) != pids(before) {
		t.Fatalf("other processes on the destination:\nbefore %q\nafter  %q", before, got)
	}
	dst.waitCounter("101", frozen+3, 10*time.Second)
	w.runningWith(t, dst, "live", "after", addr)
	if out, _ := exec.Command("ip", "-n", src.netns, "route").CombinedOutput(); strings.Contains(string(out), addr) {
		t.Errorf("the source still routes %s:\n%s", addr, out)
	}
	if init, sup, ppid := supervisedInit(dst, "101"); ppid != sup {
		t.Errorf("restored init %d has parent %d, not its supervisor %d", init, ppid, sup)
	}
	noRestoreMountsLeft(t, src, dst)
}
