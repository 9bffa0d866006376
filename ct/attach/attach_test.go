package attach

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/vzerror"
	"govz/internal/exitcode"
)

func TestShellArgs(t *testing.T) {
	for _, tc := range []struct {
		shell string
		argv  []string
		want  []string
	}{
		{"/bin/sh", []string{"ls", "-l", "/"}, []string{"sh", "-c", "ls -l /"}},
		{"/bin/bash", []string{"echo 'a  b'"}, []string{"bash", "-c", "echo 'a  b'"}},
		{"/bin/sh", []string{"-"}, []string{"sh", "-s"}},
		{"/bin/sh", []string{"-", "x"}, []string{"sh", "-c", "- x"}},
	} {
		if got := shellArgs(tc.shell, tc.argv); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("shellArgs(%q, %q) = %q, want %q", tc.shell, tc.argv, got, tc.want)
		}
	}
}

func TestStatusConventions(t *testing.T) {
	for _, tc := range []struct {
		status      int
		exec, exec2 int
	}{
		{0, 0, 0},
		{1, 8, 1},
		{3, 8, 3},
		{130, 8, 130},
	} {
		if got := exitcode.Of(CommandError(tc.status)); got != tc.exec {
			t.Errorf("exec status %d: vzctl exit %d, want %d", tc.status, got, tc.exec)
		}
		if got := exitcode.Of(StatusError(tc.status)); got != tc.exec2 {
			t.Errorf("exec2 status %d: vzctl exit %d, want %d", tc.status, got, tc.exec2)
		}
		if tc.status != 0 && !errors.Is(StatusError(tc.status), vzerror.ErrCommandFailed) {
			t.Errorf("StatusError(%d) does not wrap ErrCommandFailed", tc.status)
		}
	}
}

func TestCommandEnv(t *testing.T) {
	t.Setenv("TERM", "xterm-test")
	t.Setenv("SECRET_HOST_VAR", "x")
	env, err := commandEnv([]string{"HOME=/home/x", "LANG=C.UTF-8"}, true, []string{"USER=root"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=" + defaultPath, "HOME=/home/x", "container=govz", "TERM=xterm-test", "USER=root", "LANG=C.UTF-8"}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("env = %q, want %q", env, want)
	}
	env, err = commandEnv(nil, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range env {
		if strings.HasPrefix(e, "TERM=") || strings.HasPrefix(e, "SECRET_HOST_VAR=") {
			t.Errorf("no-tty env has %q", e)
		}
	}
	for _, bad := range []string{"NOEQUALS", "=x", envPrefix + "PID=1"} {
		if _, err := commandEnv([]string{bad}, false, nil); !errors.Is(err, vzerror.ErrInvalidValue) {
			t.Errorf("commandEnv(%q) = %v, want ErrInvalidValue", bad, err)
		}
	}
}

func TestCapMask(t *testing.T) {
	m, err := capMask([]string{"chown", "CAP_KILL", "Sys_Admin", "checkpoint_restore"})
	if err != nil {
		t.Fatal(err)
	}
	want := uint64(1)<<unix.CAP_CHOWN | 1<<unix.CAP_KILL | 1<<unix.CAP_SYS_ADMIN | 1<<unix.CAP_CHECKPOINT_RESTORE
	if m != want {
		t.Errorf("mask = %#x, want %#x", m, want)
	}
	if len(capNumbers()) != unix.CAP_LAST_CAP+1 {
		t.Errorf("table has %d names, x/sys knows %d capabilities", len(capNumbers()), unix.CAP_LAST_CAP+1)
	}
	for _, bad := range [][]string{nil, {"chown", "no_such_cap"}} {
		if _, err := capMask(bad); !errors.Is(err, vzerror.ErrSystem) {
			t.Errorf("capMask(%q) = %v, want ErrSystem", bad, err)
		}
	}
}

func TestJoinFlags(t *testing.T) {
	host := map[string]nsID{}
	for i, k := range nsKinds() {
		host[k.name] = nsID{1, uint64(100 + i)}
	}
	ct := func(diff ...string) map[string]nsID {
		m := make(map[string]nsID)
		for k, v := range host {
			m[k] = v
		}
		for _, d := range diff {
			m[d] = nsID{1, 999}
		}
		return m
	}
	got, err := joinFlags(host, ct("mnt", "pid", "uts", "net"))
	if err != nil {
		t.Fatal(err)
	}
	if want := unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWNET; got != want {
		t.Errorf("flags = %#x, want %#x", got, want)
	}
	// A kernel without time namespaces: not joined, not an error.
	noTime := ct("mnt", "pid", "time")
	delete(noTime, "time")
	if got, err := joinFlags(host, noTime); err != nil || got != unix.CLONE_NEWNS|unix.CLONE_NEWPID {
		t.Errorf("without time ns: %#x, %v", got, err)
	}
	// A container with its own user namespace: joined with the rest.
	if got, err := joinFlags(host, ct("mnt", "pid", "user")); err != nil || got != unix.CLONE_NEWNS|unix.CLONE_NEWPID|unix.CLONE_NEWUSER {
		t.Errorf("with a user ns: %#x, %v", got, err)
	}
	for _, bad := range []map[string]nsID{ct("pid", "net"), ct("mnt"), ct("user", "net")} {
		if _, err := joinFlags(host, bad); !errors.Is(err, vzerror.ErrSystem) {
			t.Errorf("joinFlags(%v) = %v, want ErrSystem", bad, err)
		}
	}
}

func TestChildError(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want error
		text string
	}{
		{"notrunning init 7 exited\n", vzerror.ErrNotRunning, "init 7 exited"},
		{"exec nosuch: No such file or directory\n", vzerror.ErrCommandFailed, "nosuch: No such file"},
		{"setup joining cgroup /sys/fs/cgroup/pids/x/cgroup.procs: Device or resource busy\n", vzerror.ErrSystem, "joining cgroup /sys/fs/cgroup/pids/x"},
		{"garbage", vzerror.ErrSystem, "garbage"},
	} {
		err := childError([]byte(tc.msg))
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("childError(%q) = %v, want %v containing %q", tc.msg, err, tc.want, tc.text)
		}
	}
}

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		ws   syscall.WaitStatus
		want int
	}{
		{syscall.WaitStatus(3 << 8), 3},
		{syscall.WaitStatus(0), 0},
		{syscall.WaitStatus(uint32(syscall.SIGKILL)), 137},
		{syscall.WaitStatus(uint32(syscall.SIGINT)), 130},
	} {
		if got := exitStatus(tc.ws); got != tc.want {
			t.Errorf("exitStatus(%#x) = %d, want %d", uint32(tc.ws), got, tc.want)
		}
	}
}

// TestPickShell: bash is preferred when the guest has it, and the lookup
// stays inside the root even through an absolute symlink to the host's
// bash.
func TestPickShell(t *testing.T) {
	dir := t.TempDir()
	mustMkdir(t, filepath.Join(dir, "bin"))
	open := func() *os.File {
		f, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	if got := pickShell(open()); got != "/bin/sh" {
		t.Errorf("no bash: %q", got)
	}
	if _, err := os.Stat("/bin/bash"); err != nil {
		t.Fatalf("host bash needed for the escape case: %v", err)
	}
	if err := os.Symlink("/bin/bash", filepath.Join(dir, "bin/bash")); err != nil {
		t.Fatal(err)
	}
	if got := pickShell(open()); got != "/bin/sh" {
		t.Errorf("bash symlink out of the root was followed: %q", got)
	}
	os.Remove(filepath.Join(dir, "bin/bash"))
	if err := os.WriteFile(filepath.Join(dir, "bin/bash"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := pickShell(open()); got != "/bin/sh" {
		t.Errorf("non-executable bash chosen: %q", got)
	}
	if err := os.Chmod(filepath.Join(dir, "bin/bash"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := pickShell(open()); got != "/bin/bash" {
		t.Errorf("guest bash not chosen: %q", got)
	}
}

func TestOpenCgroupProcsRefuses(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, paths := range []map[string]string{
		{"pids": "relative/path"},
		{"pids": dir}, // a plain file named cgroup.procs
		{"pids": filepath.Join(dir, "missing")},
	} {
		if fs, err := openCgroupProcs(paths); !errors.Is(err, vzerror.ErrSystem) {
			t.Errorf("openCgroupProcs(%v) = %v, %v; want ErrSystem", paths, fs, err)
		}
	}
	if fs, err := openCgroupProcs(nil); err != nil || len(fs) != 0 {
		t.Errorf("no cgroups: %v, %v", fs, err)
	}
}

// TestCopyInputCancel: the copier returns on cancel without consuming input
// that arrives later.
func TestCopyInputCancel(t *testing.T) {
	srcR, srcW := mustPipe(t)
	cancelR, cancelW := mustPipe(t)
	dstR, dstW := mustPipe(t)
	done := make(chan error, 1)
	go func() { done <- copyInput(dstW, srcR, cancelR) }()
	srcW.Write([]byte("one"))
	buf := make([]byte, 3)
	if _, err := io.ReadFull(dstR, buf); err != nil || string(buf) != "one" {
		t.Fatalf("copied %q, %v", buf, err)
	}
	cancelW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("copyInput = %v after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("copyInput did not return after cancel")
	}
	srcW.Write([]byte("two"))
	srcW.Close()
	rest, _ := io.ReadAll(srcR)
	if string(rest) != "two" {
		t.Errorf("input after cancel: %q left unread, want \"two\"", rest)
	}
	// EOF ends it too.
	srcR2, srcW2 := mustPipe(t)
	cancelR2, _ := mustPipe(t)
	srcW2.Close()
	if err := copyInput(io.Discard, srcR2, cancelR2); !errors.Is(err, io.EOF) {
		t.Errorf("copyInput at EOF = %v", err)
	}
}

func TestNoRecord(t *testing.T) {
	_, err := Exec(t.TempDir(), []string{"true"}, Options{})
	if !errors.Is(err, vzerror.ErrNotRunning) || exitcode.Of(err) != 31 {
		t.Errorf("Exec without a record = %v (code %d), want ErrNotRunning (31)", err, exitcode.Of(err))
	}
	if _, err := Exec(t.TempDir(), nil, Options{}); !errors.Is(err, vzerror.ErrNotEnoughParams) {
		t.Errorf("Exec without argv = %v", err)
	}
	if _, err := Runscript(t.TempDir(), filepath.Join(t.TempDir(), "nope.sh"), nil, Options{}); !errors.Is(err, vzerror.ErrNoScript) {
		t.Errorf("Runscript of a missing script = %v, want ErrNoScript", err)
	}
}

func mustMkdir(t testing.TB, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func mustPipe(t testing.TB) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}
