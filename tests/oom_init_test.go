package tests

import (
	"strconv"
	"strings"
	"testing"
)

// TestFullShmKeepsInit: in a --ram 64M --swap 0 container, filling
// /dev/shm (tmpfs pages belong to no process, so the OOM killer cannot
// free them by killing the writer, and the next victim can be init) ends
// with "No space left on device" for the writer: the guest's tmpfs mounts
// are sized from its memory limit. Five rounds, init the same process
// after each, the container running.
func TestFullShmKeepsInit(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "set", "101", "--ram", "64M", "--swap", "0", "--save")
	n.ok("vzctl", "start", "101")
	defer n.run("vzctl", "stop", "101", "--fast")

	r := n.ok("vzctl", "exec", "101", "df -k /dev/shm /run | tail -n 2")
	for _, l := range strings.Split(strings.TrimSpace(r.out), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			t.Fatalf("df: %q", r.out)
		}
		kb, _ := strconv.Atoi(f[1])
		if kb <= 0 || kb > 32<<10 {
			t.Errorf("%s is %d KiB, want at most half of the 64M limit", f[len(f)-1], kb)
		}
	}
	initPID := func() string {
		r := n.ok("vzctl", "exec", "101", "stat -c %Z /proc/1; cat /proc/1/comm")
		return r.out
	}
	first := initPID()
	for round := 1; round <= 5; round++ {
		r := n.run("vzctl", "exec2", "101", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=100 2>&1; echo status=$?")
		if !strings.Contains(r.out, "No space left on device") {
			t.Fatalf("round %d: the writer was not stopped by the tmpfs size: %v", round, r)
		}
		// More processes while /dev/shm is full: they must find memory.
		n.ok("vzctl", "exec", "101", "for i in 1 2 3 4 5; do sh -c 'echo $$' >/dev/null; done")
		if got := initPID(); got != first {
			t.Fatalf("round %d: init changed: %q, was %q", round, got, first)
		}
		n.ok("vzctl", "exec", "101", "rm -f /dev/shm/fill")
		if r := n.ok("vzctl", "status", "101"); !strings.Contains(r.out, "running") {
			t.Fatalf("round %d: %s", round, r.out)
		}
	}
}
