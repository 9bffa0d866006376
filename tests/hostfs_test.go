package tests

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// What the host does in a container's tree must not be turned against the
// host: a FIFO where the host reads a file must not hang vzctl (with the
// container's lock held), a symlink must not lead a write out of the tree,
// and a setuid binary the guest makes must not be runnable by the host's
// users (internal/inroot, ct/storage.Confine).

// runFor runs a binary like run, but kills it after d: a command that
// hangs is a failure reported in seconds, not a test timeout.
func (n *node) runFor(d time.Duration, name string, args ...string) (result, bool) {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c := n.cmd(name, args...)
	cc := exec.CommandContext(ctx, c.Path, c.Args[1:]...)
	cc.Env = c.Env
	var o, e bytes.Buffer
	cc.Stdout, cc.Stderr = &o, &e
	err := cc.Run()
	r := result{out: o.String(), err: e.String()}
	if ctx.Err() != nil {
		return r, false
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		n.t.Fatalf("running %s %v: %v", name, args, err)
	}
	return r, true
}

// TestHostfsGuestFifos: a guest that turns the files vzctl set rewrites
// into FIFOs gets a prompt, one-line refusal naming the file (vzctl's
// "action script failed", 79), and the container's lock is free after it.
func TestHostfsGuestFifos(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101", "--hostname", "ct101")
	n.ok("vzctl", "start", "101")
	for _, c := range []struct {
		file string
		set  []string
	}{
		{"/etc/resolv.conf", []string{"--nameserver", "10.0.0.53"}},
		{"/etc/hostname", []string{"--hostname", "evil"}},
		{"/etc/hosts", []string{"--hostname", "evil"}},
	} {
		n.ok("vzctl", "exec", "101", "rm -f "+c.file+" && mkfifo "+c.file)
		args := append([]string{"set", "101"}, append(c.set, "--save")...)
		start := time.Now()
		r, done := n.runFor(15*time.Second, "vzctl", args...)
		if !done {
			t.Fatalf("vzctl %s hung on the guest's FIFO %s (killed after %v)", strings.Join(args, " "), c.file, time.Since(start))
		}
		if r.code != 79 || !strings.Contains(r.err, "root/101"+c.file) || strings.Count(strings.TrimSpace(r.err), "\n") > 0 {
			t.Errorf("vzctl %s with %s a FIFO: want exit 79 and one line naming it, got:\n%s", strings.Join(args, " "), c.file, r)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("vzctl %s took %v", strings.Join(args, " "), d)
		}
		// The lock is free: another command taking it works.
		n.ok("vzctl", "set", "101", "--onboot", "yes", "--save")
		if r := n.ok("vzctl", "exec2", "101", "test", "-p", c.file); r.code != 0 {
			t.Errorf("the guest's %s was replaced", c.file)
		}
		n.ok("vzctl", "exec", "101", "rm -f "+c.file)
	}
	n.ok("vzctl", "set", "101", "--nameserver", "10.0.0.53", "--hostname", "ct101", "--save")
	if r := n.ok("vzctl", "exec2", "101", "cat", "/etc/resolv.conf"); r.out != "nameserver 10.0.0.53\n" {
		t.Errorf("resolv.conf after the FIFO went: %q", r.out)
	}
	n.stopClean("101")
}

// TestHostfsGuestFifoAtStart: the guest's files are rewritten at every
// boot, before its init runs; a FIFO among them is passed over with a
// warning instead of hanging the start.
func TestHostfsGuestFifoAtStart(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101", "--hostname", "ct101")
	n.ok("vzctl", "set", "101", "--nameserver", "10.0.0.53", "--save")
	if err := syscall.Mkfifo(n.path("private/101/etc/resolv.conf.fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(n.path("private/101/etc/resolv.conf.fifo"), n.path("private/101/etc/resolv.conf")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r, done := n.runFor(30*time.Second, "vzctl", "start", "101")
	if !done {
		t.Fatalf("vzctl start hung on the guest's FIFO /etc/resolv.conf (killed after %v)", time.Since(start))
	}
	if r.code != 0 {
		t.Fatalf("vzctl start: %s", r)
	}
	n.ok("vzctl", "exec2", "101", "test", "-p", "/etc/resolv.conf")
	if r := n.ok("vzctl", "exec2", "101", "hostname"); r.out != "ct101\n" {
		t.Errorf("hostname: %q", r.out)
	}
	n.stopClean("101")
}

// TestHostfsGuestSymlinks: symlinks the guest points at host files, by
// absolute path and by "..", are replaced in the guest, never written
// through.
func TestHostfsGuestSymlinks(t *testing.T) {
	n := newNode(t)
	outside := t.TempDir()
	targets := map[string]string{}
	for _, f := range []string{"resolv", "hostname", "hosts"} {
		p := filepath.Join(outside, f)
		if err := os.WriteFile(p, []byte("host\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		targets[f] = p
	}
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "start", "101")
	n.ok("vzctl", "exec", "101", "rm -f /etc/resolv.conf /etc/hostname /etc/hosts && "+
		"ln -s "+targets["resolv"]+" /etc/resolv.conf && "+
		"ln -s ../../../../../../../.."+targets["hostname"]+" /etc/hostname && "+
		"ln -s /proc/self/root"+targets["hosts"]+" /etc/hosts")
	n.ok("vzctl", "set", "101", "--nameserver", "10.0.0.53", "--hostname", "evil", "--save")
	for f, p := range targets {
		if b, _ := os.ReadFile(p); string(b) != "host\n" {
			t.Errorf("vzctl wrote through the guest's symlink to host %s: %q", f, b)
		}
	}
	if r := n.ok("vzctl", "exec2", "101", "cat", "/etc/resolv.conf", "/etc/hostname"); r.out != "nameserver 10.0.0.53\nevil\n" {
		t.Errorf("guest files: %q", r.out)
	}
	n.stopClean("101")
}

// asNobody runs argv as an unprivileged host user. setpriv keeps its
// capabilities up to its own execve, whose path lookup would then still
// pass any directory: a shell, which has none, makes the call.
func asNobody(argv ...string) (string, error) {
	args := append([]string{"--reuid", "65534", "--regid", "65534", "--clear-groups", "--", "/bin/sh", "-c", `exec "$@"`, "sh"}, argv...)
	out, err := exec.Command("setpriv", args...).CombinedOutput()
	return string(out), err
}

// TestHostfsSetuidNotReachable: a setuid-root binary a container makes in
// its root is out of reach of the host's unprivileged users, through the
// mount point and through the private area, also when an old install left
// $VZ_ROOT/root and $VZ_ROOT/private open (0755): govz closes them again.
func TestHostfsSetuidNotReachable(t *testing.T) {
	n := newNode(t)
	// /vz is world-traversable, like the temp dirs above it would be.
	for _, d := range []string{filepath.Dir(n.root), n.root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := asNobody("/bin/true"); err != nil {
		t.Fatalf("cannot run as nobody: %v: %s", err, out)
	}
	n.ok("vzctl", "create", "101")
	for _, d := range []string{"root", "private"} {
		if st, err := os.Stat(n.path(d)); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("after create $VZ_ROOT/%s is %v (%v), want 0700", d, st.Mode().Perm(), err)
		}
		os.Chmod(n.path(d), 0o755) // an old install
	}
	// 102 has its own host UID range: its root still writes UID 0 on
	// disk, through the idmapped mount.
	n.ok("vzctl", "create", "102")
	n.setUserNS("102")
	os.Chmod(n.path("root"), 0o755)
	os.Chmod(n.path("private"), 0o755)
	for _, id := range []string{"101", "102"} {
		n.ok("vzctl", "start", id)
		n.ok("vzctl", "exec", id, "cp /bin/busybox /true && chown 0:0 /true && chmod 4755 /true")
	}
	for _, d := range []string{"root", "private"} {
		if st, err := os.Stat(n.path(d)); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("after start $VZ_ROOT/%s is %v (%v), want 0700", d, st.Mode().Perm(), err)
		}
		for _, id := range []string{"101", "102"} {
			p := n.path(d + "/" + id + "/true")
			var st syscall.Stat_t
			if err := syscall.Stat(p, &st); err != nil || st.Mode&syscall.S_ISUID == 0 || st.Uid != 0 {
				t.Fatalf("the guest's setuid-root file %s: uid %d mode %#o: %v", p, st.Uid, st.Mode, err)
			}
			out, err := asNobody(p)
			if err == nil || !strings.Contains(out, "Permission denied") {
				t.Errorf("nobody ran the guest's setuid-root %s: %v: %s", p, err, out)
			}
		}
	}
	n.ok("vzctl", "stop", "102")
	n.stopClean("101")
	// The next command that uses them repairs them again.
	os.Chmod(n.path("root"), 0o755)
	os.Chmod(n.path("private"), 0o755)
	n.ok("vzctl", "mount", "101")
	for _, d := range []string{"root", "private"} {
		if st, err := os.Stat(n.path(d)); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("after mount $VZ_ROOT/%s is %v (%v), want 0700", d, st.Mode().Perm(), err)
		}
	}
	n.ok("vzctl", "umount", "101")
}
