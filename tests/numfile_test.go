package tests

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// nofileCeiling is the most RLIMIT_NOFILE a container can be given from
// this process's credentials: fs.nr_open with CAP_SYS_RESOURCE, else
// (a confined root) the hard limit the processes started with.
func nofileCeiling(t *testing.T) string {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var eff uint64
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			eff, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	if eff&(1<<unix.CAP_SYS_RESOURCE) == 0 {
		var lim unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
		return strconv.FormatUint(lim.Max, 10)
	}
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// "unlimited" open files is the most the kernel allows, as on OpenVZ: a
// saved --numfile unlimited does not break the next start of a
// user-namespaced container (prlimit(2) EPERM above fs.nr_open, or above
// the current hard limit without CAP_SYS_RESOURCE), and init holds the
// ceiling as both limits.
func TestNumfileUnlimitedStarts(t *testing.T) {
	want := nofileCeiling(t)
	t.Logf("open files ceiling %s", want)
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "set", "101", "--numfile", "unlimited", "--save")
	n.ok("vzctl", "start", "101")
	limits := func() []string {
		r := n.ok("vzctl", "exec2", "101", "grep 'open files' /proc/1/limits")
		f := strings.Fields(r.out)
		if len(f) < 5 {
			t.Fatalf("init's limits: %q", r.out)
		}
		return f[3:5] // Max open files SOFT HARD files
	}
	if f := limits(); f[0] != want || f[1] != want {
		t.Fatalf("init's open files limits %v, want %s:%s", f, want, want)
	}
	// Live, on the running container: an explicit soft limit under an
	// unlimited hard one.
	n.ok("vzctl", "set", "101", "--numfile", "1000:unlimited")
	if f := limits(); f[0] != "1000" || f[1] != want {
		t.Fatalf("init's open files limits after a live set %v, want 1000:%s", f, want)
	}
	n.ok("vzctl", "stop", "101")
	n.noLeftovers()
}
