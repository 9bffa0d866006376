package attach

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPty opens a host pty pair standing in for the user's terminal.
func openPty(t testing.TB) (master, slave *os.File) {
	t.Helper()
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	// TIOCGPTPEER takes the slave's open flags as its argument.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(m), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		t.Fatal(errno)
	}
	s := int(r)
	unix.SetNonblock(m, true)
	master, slave = os.NewFile(uintptr(m), "ptmx"), os.NewFile(uintptr(s), "pts")
	t.Cleanup(func() { master.Close(); slave.Close() })
	return master, slave
}

// readAllPty reads the master until every slave fd is closed (EIO).
func readAllPty(master *os.File) string {
	var b bytes.Buffer
	io.Copy(&b, master)
	return b.String()
}

func readAll(t testing.TB, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testTerm is the test's side of a pty: it collects output and can wait for
// text to appear.
type testTerm struct {
	master *os.File
	mu     sync.Mutex
	out    bytes.Buffer
}

func newTerm(master *os.File) *testTerm {
	tm := &testTerm{master: master}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			tm.mu.Unlock()
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
		}
	}()
	return tm
}

func (tm *testTerm) output() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.out.String()
}

func (tm *testTerm) waitFor(t testing.TB, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(tm.output(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in terminal output %q", s, tm.output())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitRaw waits until Enter put the terminal in raw mode, so that what the
// test types is not echoed or edited by the host line discipline.
func waitRaw(t testing.TB, slave *os.File) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if tio.Lflag&unix.ECHO == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("terminal never went raw")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestEnter(t *testing.T) {
	ct := startCT(t)

	t.Run("terminal", func(t *testing.T) {
		master, slave := openPty(t)
		if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 111}); err != nil {
			t.Fatal(err)
		}
		before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		tm := newTerm(master)
		done := make(chan error, 1)
		go func() { done <- Enter(ct.runDir, nil, Options{Stdin: slave, Stdout: slave}) }()
		waitRaw(t, slave)
		master.WriteString("stty size; tty; echo $((40+2))\n")
		tm.waitFor(t, "33 111")
		tm.waitFor(t, "/dev/pts/0")
		tm.waitFor(t, "42")

		// A resize reaches the container's pty on SIGWINCH.
		if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 44, Col: 122}); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGWINCH); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(tm.output(), "44 122") && time.Now().Before(deadline) {
			master.WriteString("stty size\n")
			time.Sleep(50 * time.Millisecond)
		}
		tm.waitFor(t, "44 122")

		master.WriteString("exit\n")
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Enter: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Enter did not return; output %q", tm.output())
		}
		after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if *after != *before {
			t.Errorf("terminal mode not restored:\nbefore %+v\nafter  %+v", before, after)
		}
	})

	t.Run("killed", func(t *testing.T) {
		master, slave := openPty(t)
		before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		tm := newTerm(master)
		done := make(chan error, 1)
		go func() { done <- Enter(ct.runDir, nil, Options{Stdin: slave, Stdout: slave}) }()
		waitRaw(t, slave)
		master.WriteString("echo in-$((2+3))\n")
		tm.waitFor(t, "in-5")
		// Enter handles SIGTERM while it runs (else this kills the test).
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Enter: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Enter did not return after SIGTERM; output %q", tm.output())
		}
		after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if *after != *before {
			t.Errorf("terminal left in raw mode after SIGTERM")
		}
	})

	t.Run("exec", func(t *testing.T) {
		master, slave := openPty(t)
		tm := newTerm(master)
		done := make(chan error, 1)
		go func() {
			done <- Enter(ct.runDir, []string{"echo", "$((6*7))x;", "hostname"}, Options{Stdin: slave, Stdout: slave})
		}()
		tm.waitFor(t, "42x")
		tm.waitFor(t, ct.hostname)
		// The shell is still open after the command.
		waitRaw(t, slave)
		master.WriteString("echo still-$((1+1))\n")
		tm.waitFor(t, "still-2")
		master.WriteString("exit\n")
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Enter: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Enter did not return; output %q", tm.output())
		}
	})

	t.Run("not a terminal", func(t *testing.T) {
		inR, inW := mustPipe(t)
		outR, outW := mustPipe(t)
		// No "exit": end of input must end the shell.
		inW.WriteString("tty\necho $((40+2))\n")
		inW.Close()
		done := make(chan error, 1)
		go func() { done <- Enter(ct.runDir, nil, Options{Stdin: inR, Stdout: outW}) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Enter: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Enter did not return at end of input")
		}
		outW.Close()
		out := readAll(t, outR)
		if !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "42\r\n") {
			t.Errorf("output %q", out)
		}
	})
}
