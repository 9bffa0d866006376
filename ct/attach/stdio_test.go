package attach

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"govz/ct/nsenter"
)

// TestHandOver: only anonymous pipes and sealed memfds reach the container
// as they are; every other kind of host file is copied.
func TestHandOver(t *testing.T) {
	dir := t.TempDir()
	open := func(path string, flag int) *os.File {
		f, err := os.OpenFile(path, flag, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	sealed, err := nsenter.SealedFile("test", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer sealed.Close()
	plainMemfd, err := unix.MemfdCreate("plain", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatal(err)
	}
	memfd := os.NewFile(uintptr(plainMemfd), "plain")
	defer memfd.Close()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sock, err := l.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()

	for _, tc := range []struct {
		name string
		f    *os.File
		want bool
	}{
		{"pipe read end", r, true},
		{"pipe write end", w, true},
		{"sealed memfd", sealed, true},
		{"unsealed memfd", memfd, false},
		{"regular file", open(filepath.Join(dir, "file"), os.O_RDWR|os.O_CREATE), false},
		{"named fifo", open(fifo, os.O_RDWR), false},
		{"directory", open(dir, os.O_RDONLY), false},
		{"device", open(os.DevNull, os.O_RDWR), false},
		{"socket", sock, false},
	} {
		if got := handOver(tc.f); got != tc.want {
			t.Errorf("%s: handOver = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestStdioSharedOutput: stdout and stderr that are one open file (2>&1)
// share one pipe, so the command's writes keep their order; the same file
// opened twice gets two.
func TestStdioSharedOutput(t *testing.T) {
	dir := t.TempDir()
	in, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(filepath.Join(dir, "out"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	s, err := newStdio(in, out, out)
	if err != nil {
		t.Fatal(err)
	}
	if s.child[1] != s.child[2] || s.child[1] == out {
		t.Errorf("2>&1: child stdout %v and stderr %v, want one pipe", s.child[1].Name(), s.child[2].Name())
	}
	for _, b := range []string{"1", "2", "1", "2"} {
		s.child[1+int(b[0]-'1')].WriteString(b)
	}
	s.finish()
	s.Close()
	got, _ := os.ReadFile(out.Name())
	if string(got) != "1212" {
		t.Errorf("output %q, want 1212", got)
	}

	again, err := os.OpenFile(out.Name(), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	s, err = newStdio(in, out, again)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.child[1] == s.child[2] {
		t.Error("two open files of one path share a pipe")
	}
}

// TestStdioInputCopied: a file as stdin arrives whole through the pipe.
func TestStdioInputCopied(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in")
	data := make([]byte, 1<<20+7)
	for i := range data {
		data[i] = byte(i % 251)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	s, err := newStdio(in, os.Stdout, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.child[0] == in || !handOver(s.child[0]) {
		t.Fatal("stdin from a file is not replaced by a pipe")
	}
	got, err := io.ReadAll(s.child[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(data) || string(got) != string(data) {
		t.Errorf("read %d bytes through the pipe, want the file's %d", len(got), len(data))
	}
}
