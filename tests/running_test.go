package tests

import (
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunningWithoutRunRecord: "running" is what the kernel says, not the
// run record. A container whose record is gone (removed by hand, or its
// supervisor died and took nothing down) still runs: status and vzlist
// say so, and destroy, umount and start refuse with 32 instead of pulling
// its files from under it; stop still ends it and leaves nothing.
func TestRunningWithoutRunRecord(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	record := n.path("run/101/state.json")
	private := n.path("private/101")
	refused := func(how string) {
		t.Helper()
		if s := n.status("101"); s != "CTID 101 exist mounted running" {
			t.Fatalf("%s: status %q", how, s)
		}
		if r := n.ok("vzlist", "-H", "-o", "ctid,status", "101"); !strings.Contains(r.out, "running") {
			t.Fatalf("%s: vzlist %q", how, r.out)
		}
		n.fails(32, "vzctl", "destroy", "101")
		n.fails(32, "vzctl", "umount", "101")
		n.fails(32, "vzctl", "start", "101")
		if _, err := os.Stat(private + "/sbin/init"); err != nil {
			t.Fatalf("%s: private area damaged: %v", how, err)
		}
	}

	// The record removed while the supervisor runs: it supervises on.
	n.ok("vzctl", "start", "101")
	if err := os.Remove(record); err != nil {
		t.Fatal(err)
	}
	refused("record removed")
	n.stopClean("101")

	// The supervisor killed and the record removed: only the container's
	// processes remain, in its cgroup.
	n.ok("vzctl", "start", "101")
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		SupervisorPID int `json:"supervisor_pid"`
		InitPID       int `json:"init_pid"`
	}
	if err := json.Unmarshal(b, &st); err != nil || st.SupervisorPID <= 0 || st.InitPID <= 0 {
		t.Fatalf("run record %s: %v", b, err)
	}
	if err := syscall.Kill(st.SupervisorPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(5 * time.Second); syscall.Kill(st.SupervisorPID, 0) == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("supervisor %d survived SIGKILL", st.SupervisorPID)
		}
	}
	os.Remove(record)
	if syscall.Kill(st.InitPID, 0) != nil {
		t.Fatalf("init %d died with its supervisor", st.InitPID)
	}
	refused("supervisor killed")
	n.stopClean("101")
	n.ok("vzctl", "destroy", "101")
}
