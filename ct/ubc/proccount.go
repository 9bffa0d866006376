package ubc

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"govz/internal/inroot"
)

// ReadProcCounters counts, from procfs at procRoot ("/proc"), what no
// cgroup counts: open files and sockets of the container's processes
// (pids: host PIDs of thread-group leaders, whose threads share their fd
// table), its TCP sockets (the lines of its network namespace's
// tcp tables, read through initPID), its POSIX and flock locks, and its
// ptys (entries of its devpts instance). Processes that exit meanwhile are
// skipped.
func ReadProcCounters(procRoot string, pids []int, initPID int) map[string]Counter {
	out := map[string]Counter{}
	files, socks := int64(0), map[string]bool{}
	for _, pid := range pids {
		dir := filepath.Join(procRoot, strconv.Itoa(pid), "fd")
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			files++
			if t, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(t, "socket:[") {
				socks[strings.TrimSuffix(strings.TrimPrefix(t, "socket:["), "]")] = true
			}
		}
	}
	out["numfile"] = Counter{Held: i64(files)}
	if initPID > 0 {
		tcp := map[string]bool{}
		ok := false
		for _, f := range []string{"tcp", "tcp6"} {
			b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(initPID), "net", f))
			if err != nil {
				continue
			}
			ok = true
			for _, l := range strings.Split(string(b), "\n")[1:] {
				// sl local rem st tx:rx tr:when retrnsmt uid timeout inode
				if fl := strings.Fields(l); len(fl) > 9 {
					tcp[fl[9]] = true
				}
			}
		}
		if ok {
			n := int64(0)
			for inode := range tcp {
				if inode != "0" { // TIME_WAIT entries own no socket
					n++
				}
			}
			other := int64(0)
			for inode := range socks {
				if !tcp[inode] {
					other++
				}
			}
			out["numtcpsock"] = Counter{Held: i64(n)}
			out["numothersock"] = Counter{Held: i64(other)}
		}
		if n, ok := countPtys(procRoot, initPID); ok {
			out["numpty"] = Counter{Held: i64(n)}
		}
	}
	if b, err := os.ReadFile(filepath.Join(procRoot, "locks")); err == nil {
		in := map[string]bool{}
		for _, p := range pids {
			in[strconv.Itoa(p)] = true
		}
		n := int64(0)
		for _, l := range strings.Split(string(b), "\n") {
			// "1: POSIX  ADVISORY  WRITE 1234 00:1f:5 0 EOF"; blocked
			// waiters ("1: -> POSIX ...") are not held locks.
			f := strings.Fields(l)
			if len(f) > 4 && f[1] != "->" && in[f[4]] {
				n++
			}
		}
		out["numflock"] = Counter{Held: i64(n)}
	}
	return out
}

// countPtys counts the ptys open in the container's devpts instance:
// entries of its /dev/pts other than ptmx. The walk stays inside the
// container's root (RESOLVE_IN_ROOT): the guest controls its symlinks.
func countPtys(procRoot string, initPID int) (int64, bool) {
	root, err := inroot.Open(filepath.Join(procRoot, strconv.Itoa(initPID), "root"))
	if err != nil {
		return 0, false
	}
	defer root.Close()
	f, err := root.OpenFile("/dev/pts", unix.O_RDONLY, inroot.Dir)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return 0, false
	}
	n := int64(0)
	for _, name := range names {
		if name != "ptmx" {
			n++
		}
	}
	return n, true
}
