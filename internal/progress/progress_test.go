package progress

import (
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A pipe is not a terminal: no hook, so no bar and no cost.
func TestNoBarOffTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if Bytes(w, "x") != nil {
		t.Fatal("a pipe got a progress bar")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if Bytes(f, "x") != nil {
		t.Fatal("a file got a progress bar")
	}
}

// openPTY returns a pseudo terminal's master and its slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// On a terminal the hook draws a bar with the description and how far the
// work is, and clears it at the end.
func TestBarOnTerminal(t *testing.T) {
	for _, tc := range []struct {
		name string
		new  func(io.Writer, string) func(int64, int64)
		want string
	}{
		{"Count", Count, "packing  50%"},
		{"Bytes", Bytes, "unpacking  50%"},
	} {
		master, slave := openPTY(t)
		desc := strings.Fields(tc.want)[0]
		hook := tc.new(slave, desc)
		if hook == nil {
			t.Fatalf("%s: no hook on a terminal", tc.name)
		}
		hook(50, 100)
		hook(100, 100)
		buf := make([]byte, 4096)
		master.SetReadDeadline(time.Now().Add(2 * time.Second))
		var got []byte
		for !strings.Contains(string(got), tc.want) {
			n, err := master.Read(buf)
			if err != nil {
				t.Fatalf("%s: reading the terminal: %v; got %q", tc.name, err, got)
			}
			got = append(got, buf[:n]...)
		}
	}
}
