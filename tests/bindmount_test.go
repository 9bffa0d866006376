package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBindMounts: bindmount items are checked when set, bound in at start
// read-only or read-write (nosuid, nodev, not remountable inside), listed
// by vzlist, and a guest's symlink at the target cannot send the bind out
// of the container's root.
func TestBindMounts(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	roDir, rwDir, hostFile := n.path("host-ro"), n.path("host-rw"), n.path("host-file")
	os.MkdirAll(roDir, 0o755)
	os.MkdirAll(rwDir, 0o755)
	os.WriteFile(filepath.Join(roDir, "hello"), []byte("from host\n"), 0o644)
	os.WriteFile(hostFile, []byte("one file\n"), 0o644)

	// Refused when set, the config untouched.
	for _, bad := range []string{"/nonexistent-govz:/x", "relative:/x", roDir + ":/a/../b", roDir + ":/x:rx", roDir + ":/proc/x", "/dev/null:/x"} {
		n.fails(21, "vzctl", "set", "101", "--bindmount", bad, "--save")
	}

	// A guest symlink at a target, pointing at a host path: the bind lands
	// inside the container's root, the host path is not covered.
	outside := n.path("outside")
	os.MkdirAll(outside, 0o755)
	os.Symlink(outside, n.path("private/101/escape"))

	n.ok("vzctl", "set", "101", "--bindmount", roDir+":/data:ro", "--bindmount", rwDir+":/rw",
		"--bindmount", hostFile+":/etc/hostfile:ro", "--bindmount", rwDir+":/escape", "--save")
	r := n.ok("vzlist", "-a", "-H", "-o", "bindmount", "101")
	if want := roDir + ":/data:ro " + rwDir + ":/rw " + hostFile + ":/etc/hostfile:ro " + rwDir + ":/escape"; strings.TrimSpace(r.out) != want {
		t.Fatalf("vzlist bindmount: %q, want %q", r.out, want)
	}
	// A symlink as the target itself is refused at start (the target is
	// looked at without following it); the host path is untouched.
	r = n.run("vzctl", "start", "101")
	if r.code == 0 || !strings.Contains(r.err, "/escape") {
		t.Fatalf("start with a symlink as bind target: %v", r)
	}
	if _, err := os.Stat(filepath.Join(outside, "out")); err == nil || len(n.mounts()) > 1 {
		t.Fatalf("failed start left something: %v %v", err, n.mounts())
	}
	n.run("vzctl", "umount", "101")
	// So is one below a symlink (mkdir -p does not follow one).
	n.ok("vzctl", "set", "101", "--bindmount", rwDir+":/escape/sub", "--save")
	if r = n.run("vzctl", "start", "101"); r.code == 0 || !strings.Contains(r.err, "/escape") {
		t.Fatalf("start with a symlink in the bind target: %v", r)
	}
	n.run("vzctl", "umount", "101")
	if _, err := os.Stat(filepath.Join(outside, "sub")); err == nil {
		t.Fatal("the bind's mount point was made outside the container's root")
	}
	n.ok("vzctl", "set", "101", "--bindmount", roDir+":/data:ro", "--bindmount", rwDir+":/rw",
		"--bindmount", hostFile+":/etc/hostfile:ro", "--save")
	n.ok("vzctl", "start", "101")
	defer n.run("vzctl", "stop", "101", "--fast")

	if r := n.ok("vzctl", "exec", "101", "cat /data/hello /etc/hostfile"); r.out != "from host\none file\n" {
		t.Fatalf("bound files read %q", r.out)
	}
	// Read-only: a write is refused, and so is a remount.
	for cmd, why := range map[string]string{
		"echo x >/data/new":                               "Read-only file system",
		"echo x >/etc/hostfile":                           "Read-only file system",
		"mount -o remount,rw /data && echo x >/data/new":  "",
		"umount /data":                                    "",
		"mount -o remount,suid,dev /rw && echo remounted": "",
	} {
		if r := n.run("vzctl", "exec", "101", cmd); r.code != 8 || !strings.Contains(r.err, why) {
			t.Errorf("inside %q: %v", cmd, r)
		}
	}
	if _, err := os.Stat(filepath.Join(roDir, "new")); err == nil {
		t.Fatal("a write through the read-only bind reached the host")
	}
	if b, _ := os.ReadFile(hostFile); string(b) != "one file\n" {
		t.Fatalf("read-only file bind changed: %q", b)
	}
	// Read-write: the write reaches the host directory.
	n.ok("vzctl", "exec", "101", "echo written >/rw/out")
	if b, _ := os.ReadFile(filepath.Join(rwDir, "out")); string(b) != "written\n" {
		t.Fatalf("rw bind: host sees %q", b)
	}
	// nosuid, nodev.
	r = n.ok("vzctl", "exec", "101", "grep ' /rw ' /proc/self/mountinfo")
	if !strings.Contains(r.out, "nosuid") || !strings.Contains(r.out, "nodev") {
		t.Fatalf("rw bind options: %q", r.out)
	}
	for _, m := range n.mounts() {
		if m == outside {
			t.Fatalf("a bind reached the host path: %s", m)
		}
	}
	n.ok("vzctl", "stop", "101")
	// The host path gone: start refuses with the item named.
	os.RemoveAll(roDir)
	r = n.fails(21, "vzctl", "start", "101")
	if !strings.Contains(r.err, roDir) {
		t.Fatalf("start error does not name the missing host path: %q", r.err)
	}
}
