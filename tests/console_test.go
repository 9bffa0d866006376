package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// supervisorPID reads the container's run record.
func (n *node) supervisorPID(id string) int {
	n.t.Helper()
	b, err := os.ReadFile(n.path("run/" + id + "/state.json"))
	if err != nil {
		n.t.Fatal(err)
	}
	var st struct {
		PID int `json:"supervisor_pid"`
	}
	if err := json.Unmarshal(b, &st); err != nil || st.PID <= 0 {
		n.t.Fatalf("state.json: %v %s", err, b)
	}
	return st.PID
}

// waitIdle waits until pid runs the supervisor's C idle loop (idle.c):
// what stays resident per running container while nothing happens.
func waitIdle(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			t.Fatalf("supervisor %d: %v", pid, err)
		}
		if strings.Contains(string(b), "\x00--idle") {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("supervisor %d is not idle after %v: %q", pid, d, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer a test can read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestConsoleThroughIdleSupervisor: the output a guest writes to its
// console while its supervisor waits in the C idle loop is kept (ring and
// console log) and replayed to `vzctl console`; the supervisor goes back to
// idle after the client detaches; SIGTERM to an idle supervisor is a clean
// stop.
func TestConsoleThroughIdleSupervisor(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "start", "101")
	sup := n.supervisorPID("101")
	waitIdle(t, sup, 10*time.Second)

	const marker = "console-marker-4242"
	n.ok("vzctl", "exec2", "101", "echo "+marker+" > /dev/console")
	c := n.cmd("vzctl", "console", "101")
	in, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, errb syncBuffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), marker) && time.Now().Before(end) {
		time.Sleep(20 * time.Millisecond)
	}
	// Output written while attached reaches the client live.
	n.ok("vzctl", "exec2", "101", "echo live-"+marker+" > /dev/console")
	for !strings.Contains(out.String(), "live-"+marker) && time.Now().Before(end) {
		time.Sleep(20 * time.Millisecond)
	}
	io.WriteString(in, "\x1b.")
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("vzctl console: %v\nstderr: %s", err, errb.String())
		}
	case <-time.After(10 * time.Second):
		c.Process.Kill()
		<-done
		t.Fatalf("vzctl console did not detach on Esc .; output %q", out.String())
	}
	if o := out.String(); !strings.Contains(o, marker) || !strings.Contains(o, "live-"+marker) {
		t.Fatalf("console output lacks the guest's lines: %q (stderr %q)", o, errb.String())
	}
	if log, err := os.ReadFile(n.path("run/101/console.log")); err == nil && !strings.Contains(string(log), marker) {
		t.Errorf("console.log lacks %q", marker)
	}
	// Same process (PID) all along: the waiting changed hands by execve.
	if got := n.supervisorPID("101"); got != sup {
		t.Fatalf("supervisor changed from %d to %d", sup, got)
	}
	waitIdle(t, sup, 15*time.Second)

	if err := unix.Kill(sup, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	n.waitStatus("101", "CTID 101 exist unmounted down", 30*time.Second)
	if l, _ := os.ReadFile(n.path("run/101/supervisor.log")); !strings.Contains(string(l), "halted or powered off") {
		t.Errorf("SIGTERM did not halt the guest cleanly:\n%s", l)
	}
}

// TestConsoleStoppedPersistent: vzctl console on a stopped container waits
// for it to start and attaches; a stop does not detach it, the next start
// is attached again; Esc . ends it.
func TestConsoleStoppedPersistent(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	c := n.cmd("vzctl", "console", "101")
	in, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, errb syncBuffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	exited := false
	go func() { done <- c.Wait() }()
	defer func() {
		if !exited {
			c.Process.Kill()
			<-done
		}
	}()
	waitFor := func(what string, buf *syncBuffer, s string, count int) {
		t.Helper()
		end := time.Now().Add(20 * time.Second)
		for strings.Count(buf.String(), s) < count {
			select {
			case err := <-done:
				exited = true
				t.Fatalf("%s: vzctl console ended: %v\nstdout %q\nstderr %q", what, err, out.String(), errb.String())
			default:
			}
			if time.Now().After(end) {
				t.Fatalf("%s: no %q\nstdout %q\nstderr %q", what, s, out.String(), errb.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("stopped", &out, "waiting for it to start", 1)
	for round := 1; round <= 2; round++ {
		n.ok("vzctl", "start", "101")
		marker := "persistent-console-" + strconv.Itoa(round)
		// The client attaches within its poll interval; write until seen.
		end := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), marker) && time.Now().Before(end) {
			n.ok("vzctl", "exec2", "101", "echo "+marker+" > /dev/console")
			time.Sleep(300 * time.Millisecond)
		}
		waitFor("round "+strconv.Itoa(round), &out, marker, 1)
		n.ok("vzctl", "stop", "101")
		waitFor("stopped again", &out, "waiting for it to start", round+1)
	}
	io.WriteString(in, "\x1b.")
	select {
	case err := <-done:
		exited = true
		if err != nil {
			t.Errorf("vzctl console: %v\nstderr: %s", err, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("vzctl console did not detach on Esc . while the container was stopped")
	}
	n.noLeftovers()
}
