package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// newPubKey makes an ed25519 key pair with the host's ssh-keygen and
// returns the public key file and its line.
func newPubKey(t *testing.T, dir, name string) (file, line string) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatal("the test needs the host's ssh-keygen (openssh-client)")
	}
	key := filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name+"@test", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return key + ".pub", strings.TrimSpace(string(pub))
}

// --ssh-key: public keys reach root's authorized_keys, stopped and
// running, owned by the guest's root with sshd's modes, once each;
// hostile input and a guest's symlinks are refused.
func TestSSHKey(t *testing.T) {
	n := newNode(t)
	dir := t.TempDir()
	fileA, lineA := newPubKey(t, dir, "a")
	_, lineB := newPubKey(t, dir, "b")
	n.ok("vzctl", "create", "101")

	// Stopped: mounted for the edit and unmounted after; nothing saved.
	r := n.ok("vzctl", "set", "101", "--ssh-key", fileA)
	if strings.Contains(r.err, "not saved") {
		t.Errorf("--ssh-key alone warns about unsaved settings: %q", r.err)
	}
	if m := n.mounts(); len(m) != 0 {
		t.Fatalf("set --ssh-key on a stopped container left mounts: %v", m)
	}
	n.ok("vzctl", "start", "101")
	check := func(want ...string) {
		t.Helper()
		r := n.ok("vzctl", "exec2", "101", "stat -c '%a %u %g %F' /root/.ssh /root/.ssh/authorized_keys")
		if r.out != "700 0 0 directory\n600 0 0 regular file\n" {
			t.Fatalf("inside the container, /root/.ssh and authorized_keys are %q, want 700 and 600 owned by root", r.out)
		}
		r = n.ok("vzctl", "exec2", "101", "cat /root/.ssh/authorized_keys")
		if r.out != strings.Join(want, "\n")+"\n" {
			t.Fatalf("authorized_keys holds %q, want %q", r.out, want)
		}
	}
	check(lineA)
	// Running: a key line, and a key already there is not added again.
	n.ok("vzctl", "set", "101", "--ssh-key", lineB, "--ssh-key", fileA)
	check(lineA, lineB)
	n.ok("vzctl", "set", "101", "--ssh-key", lineB)
	check(lineA, lineB)

	// Hostile values: one line, vzctl's code, the file untouched.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte(lineA+"\nnot a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		lineB + "\n" + `command="/bin/sh -c id" ` + lineA, // a second line smuggled in
		lineB + "\r" + lineA,
		`command="/bin/sh" ` + lineA,          // options
		"ssh-rsa " + strings.Fields(lineA)[1], // data of another type
		"ssh-ed25519 not-base64!",
		lineA + " \x1b]0;x\x07",
		filepath.Join(dir, "missing.pub"),
		fifo, // not opened (it would block)
		garbage,
		dir,
	} {
		n.fails(21, "vzctl", "set", "101", "--ssh-key", bad)
	}
	check(lineA, lineB)
	n.ok("vzctl", "stop", "101")

	// A guest's symlinked /root/.ssh aimed at a host directory: refused;
	// neither the host directory nor the guest's link target gets a key.
	hostDir := t.TempDir()
	sshDir := n.path("private/101/root/.ssh")
	if err := os.RemoveAll(sshDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(hostDir, sshDir); err != nil {
		t.Fatal(err)
	}
	if r := n.fails(12, "vzctl", "set", "101", "--ssh-key", lineA); !strings.Contains(r.err, "symlink") {
		t.Fatalf("symlinked .ssh: %s", r)
	}
	if ents, _ := os.ReadDir(hostDir); len(ents) != 0 {
		t.Fatalf("the host directory behind a guest symlink got %v", ents)
	}
	if _, err := os.Lstat(n.path("private/101" + hostDir)); err == nil {
		t.Fatal("the link's target inside the guest was created")
	}
	// A symlinked authorized_keys aimed at a host file: refused, the
	// host file unchanged.
	os.Remove(sshDir)
	if err := os.Mkdir(sshDir, 0o700); err != nil {
		t.Fatal(err)
	}
	hostFile := filepath.Join(hostDir, "host-keys")
	if err := os.WriteFile(hostFile, []byte("host\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(hostFile, sshDir+"/authorized_keys"); err != nil {
		t.Fatal(err)
	}
	if r := n.fails(12, "vzctl", "set", "101", "--ssh-key", lineA); !strings.Contains(r.err, "symlink") {
		t.Fatalf("symlinked authorized_keys: %s", r)
	}
	if b, _ := os.ReadFile(hostFile); string(b) != "host\n" {
		t.Fatalf("the host file behind a guest symlink was changed: %q", b)
	}
	if m := n.mounts(); len(m) != 0 {
		t.Fatalf("a refused --ssh-key left mounts: %v", m)
	}
	n.noLeftovers()
}
