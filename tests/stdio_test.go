package tests

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestExecStdioDeviceNotShared: a host device node given to vzctl exec as
// stdin/stdout (scripts run it with </dev/null) does not reach the
// container's root as an open file it could chmod or chown. The test uses
// a private node with /dev/null's numbers, never the host's /dev/null.
func TestExecStdioDeviceNotShared(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "start", "101")
	node := filepath.Join(t.TempDir(), "null")
	if err := unix.Mknod(node, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(node, 0o666); err != nil { // past the umask
		t.Fatal(err)
	}
	in, err := os.OpenFile(node, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	c := n.cmd("vzctl", "exec2", "101", "chmod 600 /proc/self/fd/0 /proc/self/fd/1; chown 1:1 /proc/self/fd/0; read x; echo read=$?:$x >&2; echo out")
	c.Stdin, c.Stdout = in, in
	var errb strings.Builder
	c.Stderr = &errb
	if err := c.Run(); err != nil {
		t.Fatalf("vzctl exec2: %v\n%s", err, errb.String())
	}
	// stdin still reads as /dev/null does: end of file at once.
	if !strings.Contains(errb.String(), "read=1:") {
		t.Errorf("stdin inside is not at EOF: %q", errb.String())
	}
	var st unix.Stat_t
	if err := unix.Stat(node, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o666 || st.Uid != 0 || st.Gid != 0 {
		t.Fatalf("the container changed the host's device node: mode %o owner %d:%d", st.Mode&0o7777, st.Uid, st.Gid)
	}
}

// TestStdioHostFilesNotShared: host files given to vzctl exec2 as stdin,
// stdout or stderr (a regular file, a named FIFO) do not reach the
// container as open files: its root, reopening them through
// /proc/self/fd/N, can neither write nor truncate nor chmod them. Their
// content still flows as it would through the files themselves.
func TestStdioHostFilesNotShared(t *testing.T) {
	for _, tc := range []struct {
		name     string
		identity bool
	}{{"identity", true}, {"local_uid", false}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t)
			n.createInMode("101", tc.identity)
			n.ok("vzctl", "start", "101")
			defer n.run("vzctl", "stop", "--fast", "101")
			dir := t.TempDir()

			// stdin: a regular file. The guest reads it, then tries to
			// append to it and make it setuid.
			in := filepath.Join(dir, "in")
			writeMode(t, in, "secret\n", 0o644)
			inf := openFile(t, in, os.O_RDONLY)
			r := n.execWith(inf, nil, nil, "cat; echo pwn >> /proc/self/fd/0; chmod 4755 /proc/self/fd/0")
			if r.out != "secret\n" {
				t.Errorf("stdin from a file: command read %q, want %q", r.out, "secret\n")
			}
			checkFile(t, in, "secret\n", 0o644)

			// stdout and stderr: files opened for appending (>>), as logs
			// are. Reopened, the guest would truncate or chmod them.
			out, errp := filepath.Join(dir, "out"), filepath.Join(dir, "err")
			writeMode(t, out, "keep\n", 0o644)
			writeMode(t, errp, "keep\n", 0o640)
			outf := openFile(t, out, os.O_WRONLY|os.O_APPEND)
			errf := openFile(t, errp, os.O_WRONLY|os.O_APPEND)
			// (Through copies 3 and 4, so that the attempts' own errors
			// go to /dev/null.)
			n.execWith(nil, outf, errf, "exec 3>&1 4>&2 2>/dev/null; chmod 4755 /proc/self/fd/3 /proc/self/fd/4; "+
				"true > /proc/self/fd/3; true > /proc/self/fd/4; exec 2>&4 3>&- 4>&-; echo new; echo warn >&2")
			checkFile(t, out, "keep\nnew\n", 0o644)
			checkFile(t, errp, "keep\nwarn\n", 0o640)

			// A named FIFO is a host file as well.
			fifo := filepath.Join(dir, "fifo")
			if err := unix.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			fr := openFile(t, fifo, os.O_RDWR) // O_RDWR: no blocking open
			fw := openFile(t, fifo, os.O_WRONLY)
			fw.WriteString("through the fifo\n")
			fw.Close()
			fr2 := openFile(t, fifo, os.O_RDONLY|unix.O_NONBLOCK)
			fr.Close() // the command sees EOF once the data is read
			unix.SetNonblock(int(fr2.Fd()), false)
			r = n.execWith(fr2, nil, nil, "chmod 4755 /proc/self/fd/0; cat")
			if r.out != "through the fifo\n" {
				t.Errorf("stdin from a FIFO: command read %q", r.out)
			}
			checkFile(t, fifo, "", os.ModeNamedPipe|0o600)
		})
	}
}

// TestStdioRedirectionIntact: exec2 with files as stdin and stdout copies
// them byte for byte (binary, several MiB), and ">out 2>&1" keeps the
// order of the two streams.
func TestStdioRedirectionIntact(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "start", "101")
	defer n.run("vzctl", "stop", "--fast", "101")
	dir := t.TempDir()
	data := make([]byte, 5<<20+123)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	inf := openFile(t, in, os.O_RDONLY)
	outf := openFile(t, out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if r := n.execWith(inf, outf, nil, "cat"); r.code != 0 {
		t.Fatalf("cat <in >out: %s", r)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("cat <in >out: %d bytes out, want the %d bytes in", len(got), len(data))
	}

	// A daemon left holding stdin without reading it does not keep
	// vzctl waiting for the rest of the input to fit into the pipe.
	start := time.Now()
	n.execWith(openFile(t, in, os.O_RDONLY), nil, nil, "exec 3<&0; sleep 30 <&3 >/dev/null 2>&1 & true")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("exec2 with a daemon holding stdin took %v", d)
	}

	both := filepath.Join(dir, "both")
	bf := openFile(t, both, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	n.execWith(nil, bf, bf, "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done")
	got, err = os.ReadFile(both)
	if err != nil {
		t.Fatal(err)
	}
	want := "out1\nerr1\nout2\nerr2\nout3\nerr3\nout4\nerr4\nout5\nerr5\n"
	if string(got) != want {
		t.Errorf(">both 2>&1 = %q, want %q", got, want)
	}
}

// execWith runs vzctl exec2 101 cmd with the given files as stdio (nil:
// a buffer); the command's own status does not matter (an attack may fail
// noisily), vzctl's errors do. The files are closed afterwards.
func (n *node) execWith(in, out, errf *os.File, cmd string) result {
	n.t.Helper()
	c := n.cmd("vzctl", "exec2", "101", cmd)
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	if in != nil {
		c.Stdin = in
		defer in.Close()
	}
	if out != nil {
		c.Stdout = out
		defer out.Close()
	}
	if errf != nil {
		c.Stderr = errf
		defer errf.Close()
	}
	err := c.Run()
	r := result{out: o.String(), err: e.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
		return r
	}
	if err != nil {
		n.t.Fatalf("vzctl exec2 101 %q: %v\n%s", cmd, err, r)
	}
	return r
}

func writeMode(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func openFile(t *testing.T, path string, flag int) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// checkFile wants path to hold content (unless it is a FIFO) with mode.
func checkFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != mode {
		t.Errorf("%s: mode %v, want %v", filepath.Base(path), fi.Mode(), mode)
	}
	if mode&os.ModeNamedPipe != 0 {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != content {
		t.Errorf("%s: content %q, want %q", filepath.Base(path), b, content)
	}
}
