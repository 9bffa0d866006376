package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Checkpoint and restore with CRIU (issue #15). They need CRIU >= 4 at
// /usr/local/sbin/criu (make deps); without it they fail, they do not skip.

func needCRIU(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/usr/local/sbin/criu"); err != nil {
		t.Fatalf("CRIU 4.x missing (run make deps): %v", err)
	}
}

// startCounter starts container id with a busy guest: a shell loop (its
// own session, as a daemon would be) writing a counter to /root/counter
// five times a second.
func startCounter(n *node, id string) {
	n.t.Helper()
	n.writeFile("private/"+id+"/root/loop.sh", "i=0\nwhile :; do i=$((i+1)); echo $i >/root/counter; sleep 0.2; done\n")
	n.ok("vzctl", "start", id)
	n.ok("vzctl", "exec", id, "setsid sh /root/loop.sh </dev/null >/dev/null 2>&1 &")
	n.waitCounter(id, 2, 10*time.Second)
}

// counter reads container id's counter from the host side of its root.
func (n *node) counter(id string) int {
	n.t.Helper()
	b, err := os.ReadFile(n.path("root/" + id + "/root/counter"))
	if err != nil {
		return 0
	}
	v, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return v
}

// waitCounter waits until the counter reaches at least min.
func (n *node) waitCounter(id string, min int, d time.Duration) int {
	n.t.Helper()
	end := time.Now().Add(d)
	for {
		if v := n.counter(id); v >= min {
			return v
		}
		if time.Now().After(end) {
			n.t.Fatalf("counter of %s stayed at %d, want >= %d", id, n.counter(id), min)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// guestProcs lists init and the loop as the guest sees them: "PID
// start-time" (field 22 of /proc/PID/stat, clock ticks since the guest's
// boot as its PID namespace's /proc shows it).
func guestProcs(n *node, id string) string {
	n.t.Helper()
	r := n.ok("vzctl", "exec", id, `for p in /proc/[0-9]*; do if [ "${p#/proc/}" = 1 ] || grep -q 'loo[p].sh' $p/cmdline 2>/dev/null; then echo ${p#/proc/} $(cut -d" " -f22 $p/stat); fi; done`)
	out := strings.TrimSpace(r.out)
	if strings.Count(out, "\n") != 1 {
		n.t.Fatalf("want init and the loop, got %q", out)
	}
	return out
}

// supervisedInit returns container id's init and supervisor from its run
// record, and init's parent as the kernel sees it.
func supervisedInit(n *node, id string) (initPID, supPID, ppid int) {
	n.t.Helper()
	b, err := os.ReadFile(n.path("run/" + id + "/state.json"))
	if err != nil {
		n.t.Fatal(err)
	}
	var st struct {
		Init int `json:"init_pid"`
		Sup  int `json:"supervisor_pid"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		n.t.Fatal(err)
	}
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.Init))
	if err != nil {
		n.t.Fatal(err)
	}
	for _, l := range strings.Split(string(s), "\n") {
		if v, ok := strings.CutPrefix(l, "PPid:"); ok {
			ppid, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return st.Init, st.Sup, ppid
}

func TestChkpntRestoreBusybox(t *testing.T) {
	needCRIU(t)
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	startCounter(n, "101")
	before := guestProcs(n, "101")
	cgBefore := guestCgroupFS(n, "101")

	t0 := time.Now()
	n.ok("vzctl", "chkpnt", "101")
	dumpMS := time.Since(t0).Milliseconds()
	if s := n.status("101"); !strings.HasSuffix(s, " down suspended") {
		t.Fatalf("status after chkpnt: %q", s)
	}
	if r := n.ok("vzlist", "-a", "-H", "-o", "status", "101"); strings.TrimSpace(r.out) != "suspended" {
		t.Fatalf("vzlist status after chkpnt: %q", r.out)
	}
	frozen := n.counter("101")
	time.Sleep(600 * time.Millisecond)
	if v := n.counter("101"); v != frozen {
		t.Fatalf("counter moved from %d to %d while the container was checkpointed", frozen, v)
	}
	dump := n.path("dump/Dump.101")
	if _, err := os.Stat(filepath.Join(dump, "pstree.img")); err != nil {
		t.Fatalf("no dump: %v", err)
	}
	// On a cgroup v1 host the guest's /sys/fs/cgroup is a read-only
	// tmpfs of mount points, which the dump records instead of saving.
	meta, err := os.ReadFile(filepath.Join(dump, "govz.json"))
	if err != nil {
		t.Fatal(err)
	}
	if v1 := strings.Contains(cgBefore, "tmpfs"); v1 != strings.Contains(string(meta), `"cgroupfs"`) {
		t.Fatalf("guest /sys/fs/cgroup %q, dump record %s", cgBefore, meta)
	}

	t0 = time.Now()
	n.ok("vzctl", "restore", "101")
	restoreMS := time.Since(t0).Milliseconds()
	if s := n.status("101"); s != "CTID 101 exist mounted running" {
		t.Fatalf("status after restore: %q", s)
	}
	// Same PIDs; not the same start times: CRIU recreates each task with
	// fork, and the kernel has no call to set a task's start_boottime,
	// which /proc/PID/stat field 22 reports.
	after := guestProcs(n, "101")
	if pids(after) != pids(before) {
		t.Fatalf("processes changed across checkpoint/restore:\nbefore %q\nafter  %q", before, after)
	}
	t.Logf("PID start-time before %q, after %q", before, after)
	n.waitCounter("101", frozen+3, 10*time.Second)
	if init, sup, ppid := supervisedInit(n, "101"); ppid != sup {
		t.Fatalf("restored init %d has parent %d, not its supervisor %d", init, ppid, sup)
	}
	if _, err := os.Stat(dump); !os.IsNotExist(err) {
		t.Fatalf("dump left after a successful restore: %v", err)
	}
	noRestoreMounts(t)
	t.Logf("guest /sys/fs/cgroup: %q", cgBefore)
	if cg := guestCgroupFS(n, "101"); cg != cgBefore {
		t.Fatalf("/sys/fs/cgroup changed across checkpoint/restore:\nbefore %q\nafter  %q", cgBefore, cg)
	}
	t.Logf("busybox (%s mode): chkpnt %d ms, restore %d ms (vzctl wall time)", idMode(), dumpMS, restoreMS)
	// The masked directories are still empty and read-only (the restore
	// binds one read-only tmpfs on them instead of restoring each).
	r := n.ok("vzctl", "exec", "101", "grep ' /sys/firmware ' /proc/self/mountinfo; ls -A /sys/firmware | wc -l")
	if !strings.Contains(r.out, " ro,") || !strings.HasSuffix(strings.TrimSpace(r.out), "\n0") {
		t.Fatalf("/sys/firmware after restore: %q", r.out)
	}
	// Not even after remounting its bind read-write: the tmpfs itself is
	// read-only, and only the host may change that.
	if r := n.run("vzctl", "exec", "101", "mount -o remount,bind,rw /sys/firmware 2>/dev/null; touch /sys/firmware/x"); r.code == 0 {
		t.Fatal("the restored container could write into masked /sys/firmware")
	}

	// The restored init is supervised like a booted one: stop halts it.
	n.ok("vzctl", "stop", "101")
	if s := n.status("101"); s != "CTID 101 exist unmounted down" {
		t.Fatalf("status after stop: %q", s)
	}
}

func TestChkpntRefusedKeepsRunning(t *testing.T) {
	needCRIU(t)
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	startCounter(n, "101")
	// A process in a PID namespace of its own: CRIU has no image for it.
	n.ok("vzctl", "exec", "101", "setsid unshare -p -f sleep 1000 </dev/null >/dev/null 2>&1 &")
	time.Sleep(300 * time.Millisecond)
	r := n.fails(16, "vzctl", "chkpnt", "101")
	if !strings.Contains(r.err, "nested PID namespace") {
		t.Fatalf("want the reason named, got %q", r.err)
	}
	if s := n.status("101"); s != "CTID 101 exist mounted running" {
		t.Fatalf("status after a refused chkpnt: %q", s)
	}
	v := n.counter("101")
	n.waitCounter("101", v+3, 10*time.Second)
	for _, p := range []string{"dump/Dump.101", "dump/Dump.101.fail"} {
		if _, err := os.Stat(n.path(p)); !os.IsNotExist(err) {
			t.Fatalf("%s after a refused chkpnt: %v", p, err)
		}
	}
}

func TestRestoreFailureKeepsDump(t *testing.T) {
	needCRIU(t)
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	startCounter(n, "101")
	n.ok("vzctl", "chkpnt", "101")
	// A damaged image: CRIU cannot read the process tree.
	pstree := n.path("dump/Dump.101/pstree.img")
	if err := os.WriteFile(pstree, []byte("not a criu image"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := n.fails(17, "vzctl", "restore", "101")
	if !strings.Contains(r.err, "restore failed") || !strings.Contains(r.err, "restore.log") {
		t.Fatalf("want CRIU's reason and its log named, got %q", r.err)
	}
	restoreFailedCleanly(t, n)
	// A normal start boots afresh; the dump is stale then and goes.
	n.ok("vzctl", "start", "101")
	if _, err := os.Stat(n.path("dump/Dump.101")); !os.IsNotExist(err) {
		t.Fatalf("stale dump kept after a normal start: %v", err)
	}
	n.ok("vzctl", "stop", "101")
	if s := n.status("101"); s != "CTID 101 exist unmounted down" {
		t.Fatalf("status after start and stop: %q", s)
	}
}

// noRestoreMounts fails if a restore's own mounts (the /dev tmpfs, the
// idmapped root) are still attached on the host.
func noRestoreMounts(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "govz-restore-") {
			t.Fatalf("restore left a mount: %s", l)
		}
	}
}

// pids keeps the first column of guestProcs' lines.
func pids(procs string) string {
	var out []string
	for _, l := range strings.Split(procs, "\n") {
		out = append(out, strings.Fields(l)[0])
	}
	return strings.Join(out, " ")
}

// TestChkpntOldCRIU: Debian 12's criu 3.17 (what a host without make deps
// has) is named with its version and the minimum, exit 16, and the
// container keeps running.
func TestChkpntOldCRIU(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/criu"); err != nil {
		t.Fatalf("Debian's criu package (3.17) is needed for this test: %v", err)
	}
	n := newNode(t)
	n.writeFile("conf/vz.toml", n.baseVZConf()+"criu_path = \"/usr/sbin/criu\"\n")
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "start", "101")
	r := n.fails(16, "vzctl", "chkpnt", "101")
	if !strings.Contains(r.err, "CRIU 3.17.1 at /usr/sbin/criu is too old: need 4.0.0 or newer") {
		t.Fatalf("want the found version and the minimum named, got %q", r.err)
	}
	if s := n.status("101"); s != "CTID 101 exist mounted running" {
		t.Fatalf("status after the refusal: %q", s)
	}
}

// TestRestoreOldCRIU: a restore asks CRIU's version only once it failed
// (ct/checkpoint Restore); Debian's 3.17 is still named as the reason,
// exit 17, and the dump stays.
func TestRestoreOldCRIU(t *testing.T) {
	needCRIU(t)
	if _, err := os.Stat("/usr/sbin/criu"); err != nil {
		t.Fatalf("Debian's criu package (3.17) is needed for this test: %v", err)
	}
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "start", "101")
	n.ok("vzctl", "chkpnt", "101")
	n.writeFile("conf/vz.toml", n.baseVZConf()+"criu_path = \"/usr/sbin/criu\"\n")
	r := n.fails(17, "vzctl", "restore", "101")
	if !strings.Contains(r.err, "CRIU 3.17.1 at /usr/sbin/criu is too old: need 4.0.0 or newer") {
		t.Fatalf("want the found version and the minimum named, got %q", r.err)
	}
	restoreFailedCleanly(t, n)
}

// TestChkpntForeignIfaceRefused: an interface govz did not make (here a
// bridge the guest added) has no host side a restore could rebuild:
// refused up front naming it, exit 16, and the container keeps running
// and answering on the LAN.
func TestChkpntForeignIfaceRefused(t *testing.T) {
	needCRIU(t)
	w := newNetWorld(t, false)
	w.ok("vzctl", "create", "101", "--ipadd", "10.77.0.10")
	w.ok("vzctl", "start", "101")
	w.ok("vzctl", "exec", "101", "ip link add br7 type bridge")
	r := w.fails(16, "vzctl", "chkpnt", "101")
	if !strings.Contains(r.err, "network interface br7 is not one govz made") {
		t.Fatalf("want the reason named, got %q", r.err)
	}
	if s := w.status("101"); s != "CTID 101 exist mounted running" {
		t.Fatalf("status after the refusal: %q", s)
	}
	if !w.lanPings("10.77.0.10") {
		t.Fatal("the container stopped answering after a refused chkpnt")
	}
}

// guestCgroupFS is the guest's /sys/fs/cgroup as a comparable text: the
// file system and options of its mount, each entry with its link target
// and whether the hierarchy mounted there has files.
func guestCgroupFS(n *node, id string) string {
	n.t.Helper()
	return n.ok("vzctl", "exec", id, `awk '$5 == "/sys/fs/cgroup" {print $6, $(NF-2)}' /proc/self/mountinfo; `+
		`for f in /sys/fs/cgroup/*; do echo "$f $(readlink $f) $(ls $f/ 2>/dev/null | grep -c procs)"; done`).out
}

// restoreFailedCleanly checks what a failed restore of container 101
// must leave: the container suspended, its dump in place, no cgroup and
// no restore mount.
func restoreFailedCleanly(t *testing.T, n *node) {
	t.Helper()
	if s := n.status("101"); !strings.HasSuffix(s, " down suspended") {
		t.Fatalf("status after a failed restore: %q", s)
	}
	if _, err := os.Stat(n.path("dump/Dump.101/inventory.img")); err != nil {
		t.Fatalf("dump lost by a failed restore: %v", err)
	}
	if d := cgroupDirs(n.cgroupParent()); len(d) > 0 {
		t.Fatalf("failed restore left cgroups %v", d)
	}
	noRestoreMounts(t)
}
