package tests

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStartReadsConfigOnce runs `vzctl start` under strace -f, through the
// container's whole life (the supervisor's boot, its re-execs and the
// post-stop steps) until `vzctl stop`, and counts the opens of the global
// and the container's config per process: each at most once, and the
// supervisor boots the spec vzctl start wrote instead of reading them.
func TestStartReadsConfigOnce(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("strace is not installed")
		}
		t.Skip("strace is not installed")
	}
	n := newNode(t)
	n.ok("vzctl", "create", "101", "--hostname", "ct101")
	trace := filepath.Join(t.TempDir(), "trace")
	c := n.cmd("vzctl", "start", "101")
	c.Args = append([]string{strace, "-f", "-qq", "-o", trace, "-e", "trace=openat,open,clone,clone3,fork,vfork", "--", c.Path}, c.Args[1:]...)
	c.Path = strace
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	// strace ends when every tracee did: after the stop.
	n.waitStatus("101", "CTID 101 exist mounted running", time.Minute)
	n.ok("vzctl", "stop", "101")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("strace vzctl start: %v\n%s", err, out.String())
		}
	case <-time.After(time.Minute):
		c.Process.Kill()
		t.Fatal("strace did not end after the stop")
	}
	opens, root := parseTrace(t, trace)
	global, own, spec := n.path("conf/vz.toml"), n.path("conf/101.toml"), n.path("run/101/spec.json")
	specReaders := 0
	for proc, paths := range opens {
		for _, p := range []string{global, own} {
			if paths[p] > 1 {
				t.Errorf("process %d opened %s %d times", proc, p, paths[p])
			}
			if proc != root && paths[p] > 0 {
				t.Errorf("process %d (not vzctl start) opened %s", proc, p)
			}
		}
		if proc != root && paths[spec] > 0 {
			specReaders++
		}
	}
	if opens[root][global] != 1 || opens[root][own] != 1 {
		t.Errorf("vzctl start opened vz.toml %d and 101.toml %d times, want 1 each", opens[root][global], opens[root][own])
	}
	if specReaders == 0 {
		t.Errorf("no supervisor process read %s", spec)
	}
}

var (
	traceLine = regexp.MustCompile(`^(\d+) +(.*)$`)
	openPath  = regexp.MustCompile(`^open(?:at)?\((?:AT_FDCWD|\d+), "([^"]*)"|^open\("([^"]*)"`)
	cloneRet  = regexp.MustCompile(`= (\d+)$`)
)

// parseTrace reads strace -f output: the files each process (thread group)
// opened, and the first process.
func parseTrace(t *testing.T, path string) (map[int]map[string]int, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type open struct {
		tid  int
		path string
	}
	var opens []open
	leader := map[int]int{}         // thread -> the thread that cloned it with CLONE_THREAD
	pendingThread := map[int]bool{} // a clone of this tid is unfinished; CLONE_THREAD?
	root := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := traceLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		tid, _ := strconv.Atoi(m[1])
		call := m[2]
		if root == 0 {
			root = tid
		}
		if p := openPath.FindStringSubmatch(call); p != nil {
			opens = append(opens, open{tid, p[1] + p[2]})
			continue
		}
		isClone := regexp.MustCompile(`^(clone3?|v?fork)\(`).MatchString(call)
		if isClone && strings.HasSuffix(call, "<unfinished ...>") {
			pendingThread[tid] = strings.Contains(call, "CLONE_THREAD")
			continue
		}
		thread := false
		switch {
		case isClone:
			thread = strings.Contains(call, "CLONE_THREAD")
		case regexp.MustCompile(`^<\.\.\. (clone3?|v?fork) resumed>`).MatchString(call):
			thread = pendingThread[tid]
			delete(pendingThread, tid)
		default:
			continue
		}
		if r := cloneRet.FindStringSubmatch(call); r != nil && thread {
			child, _ := strconv.Atoi(r[1])
			leader[child] = tid
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	procOf := func(tid int) int {
		for i := 0; i < 1000; i++ {
			l, ok := leader[tid]
			if !ok {
				return tid
			}
			tid = l
		}
		return tid
	}
	out := map[int]map[string]int{}
	for _, o := range opens {
		p := procOf(o.tid)
		if out[p] == nil {
			out[p] = map[string]int{}
		}
		out[p][o.path]++
	}
	return out, root
}
