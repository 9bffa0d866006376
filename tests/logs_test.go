package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"govz/ct/vzlog"
)

// TestStatusVerboseSupervisorLog: vzctl status -v names the container's
// supervisor log, the file is there once the container ran, and it and
// vzctl.log stamp their lines in the one format (vzlog.TimeFormat).
func TestStatusVerboseSupervisorLog(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	// Plain status keeps its one line for scripts.
	if r := n.ok("vzctl", "status", "101"); r.out != "CTID 101 exist unmounted down\n" {
		t.Fatalf("status: %q", r.out)
	}
	n.ok("vzctl", "start", "101")
	n.ok("vzctl", "stop", "101")
	for _, args := range [][]string{{"status", "-v", "101"}, {"status", "101", "--verbose"}} {
		r := n.ok("vzctl", args...)
		lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
		if len(lines) != 2 || lines[0] != "CTID 101 exist unmounted down" {
			t.Fatalf("vzctl %v: %q", args, r.out)
		}
		p, ok := strings.CutPrefix(lines[1], "supervisor log: ")
		if !ok || !strings.HasPrefix(p, n.root+"/") {
			t.Fatalf("vzctl %v: second line %q, want the log path under %s", args, lines[1], n.root)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("supervisor log named by status -v: %v", err)
		}
		if !strings.Contains(string(b), " 101: ") {
			t.Fatalf("supervisor log %s holds no line of CT 101:\n%s", p, b)
		}
		checkStamps(t, p, string(b))
	}
	b, err := os.ReadFile(n.path("log/vzctl.log"))
	if err != nil {
		t.Fatal(err)
	}
	checkStamps(t, "vzctl.log", string(b))
	if _, err := os.Stat(filepath.Join(n.root, "log/vzctl.log")); err != nil {
		t.Fatal(err)
	}
}

// checkStamps checks that every line of a govz log that starts with a
// timestamp starts with one in vzlog.TimeFormat, and that there is one.
func checkStamps(t *testing.T, name, log string) {
	t.Helper()
	stamped := 0
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		// Lines the supervisor's children write (a hook's own stderr)
		// carry no stamp; every stamped one must carry the one format.
		if len(l) < 4 || l[4] != '-' || l[0] < '0' || l[0] > '9' {
			continue
		}
		stamp, _, _ := strings.Cut(l, " ")
		if _, err := time.Parse(vzlog.TimeFormat, stamp); err != nil || len(stamp) != len(vzlog.TimeFormat) {
			t.Errorf("%s: line %q: stamp not in %s", name, l, vzlog.TimeFormat)
		}
		stamped++
	}
	if stamped == 0 {
		t.Errorf("%s: no stamped line:\n%s", name, log)
	}
}
