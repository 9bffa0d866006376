package runstate

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"govz/internal/reexec"
)

// Alive reports whether a supervisor holds the run directory's lock: one
// is booting, running or tearing down the container. It only looks: it
// reads /proc/locks instead of trying the lock, because a probe that
// took the lock for an instant would make a supervisor starting at that
// moment fail its LOCK_NB and give up (status and vzlist probe without
// any container lock, concurrently with starts).
func Alive(runDir string) bool {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(runDir, SupervisorLockName), &st); err != nil {
		return false
	}
	locks, err := os.ReadFile("/proc/locks")
	if err != nil {
		return false
	}
	for _, pid := range flockHolders(locks, st.Ino) {
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			continue
		}
		// Every incarnation of the supervisor (Go, --monitor, the C idle
		// loop) runs with Verb as argv[1].
		if args := bytes.Split(cmdline, []byte{0}); len(args) > 1 && string(args[1]) == SupervisorVerb {
			return true
		}
	}
	return false
}

// The supervisor's marks in the run directory, read by processes that
// must not link the supervisor (vzlist, status).
const (
	// SupervisorVerb is argv[1] of every incarnation of a supervisor.
	SupervisorVerb = reexec.Supervisor
	// SupervisorLockName is the lock a live supervisor holds.
	SupervisorLockName = "supervisor.lock"
)

// BootingName marks a boot under way in the run directory.
const BootingName = "booting"

// Booting reports whether a live supervisor is booting the container: its
// processes exist, its run record does not yet.
func Booting(runDir string) bool {
	if _, err := os.Stat(filepath.Join(runDir, BootingName)); err != nil {
		return false
	}
	return Alive(runDir)
}

// flockHolders returns the PIDs of the flock(2) locks /proc/locks lists on
// inode ino ("1: FLOCK  ADVISORY  WRITE 1234 fe:00:9979490 0 EOF"). The
// device is not compared: /proc/locks shows the superblock's device, which
// on btrfs differs from what stat(2) reports; the caller checks the holder
// is a supervisor instead.
func flockHolders(locks []byte, ino uint64) []int {
	var out []int
	want := ":" + strconv.FormatUint(ino, 10)
	for _, l := range strings.Split(string(locks), "\n") {
		f := strings.Fields(l)
		// A blocked waiter's line has "->" after the index.
		if len(f) < 6 || f[1] != "FLOCK" || !strings.HasSuffix(f[5], want) {
			continue
		}
		if strings.Count(f[5], ":") != 2 {
			continue
		}
		if pid, err := strconv.Atoi(f[4]); err == nil && pid > 0 {
			out = append(out, pid)
		}
	}
	return out
}
