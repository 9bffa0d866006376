package tests

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// --userpasswd (vzctl 4.x): the host hashes the password (SHA-512 crypt)
// and edits the guest's /etc/shadow (and passwd, group for a new user)
// through internal/inroot; the guest's own tools must accept the result.

// shadowHash is user's password field as the guest sees /etc/shadow.
func (n *node) shadowHash(id, user string) string {
	n.t.Helper()
	r := n.ok("vzctl", "exec2", id, "cat", "/etc/shadow")
	for _, l := range strings.Split(r.out, "\n") {
		if f := strings.Split(l, ":"); len(f) > 2 && f[0] == user {
			return f[1]
		}
	}
	n.t.Fatalf("container %s: no shadow entry for %s:\n%s", id, user, r.out)
	return ""
}

// checkPassword verifies, inside the running container with the guest's
// busybox mkpasswd, that user's shadow hash is password's.
func (n *node) checkPassword(id, user, password string) {
	n.t.Helper()
	h := n.shadowHash(id, user)
	parts := strings.Split(h, "$")
	if len(parts) != 4 || parts[1] != "6" {
		n.t.Fatalf("container %s: %s's hash %q is not SHA-512 crypt", id, user, h)
	}
	// exec2 runs its arguments as one shell command line (vzctl exec).
	r := n.ok("vzctl", "exec2", id, "mkpasswd -m sha512 -S "+parts[2]+" '"+password+"'")
	if got := strings.TrimSpace(r.out); got != h {
		n.t.Fatalf("container %s: the guest's mkpasswd gives %q for %s's password, the shadow holds %q", id, got, user, h)
	}
}

// noSecret fails the test if text holds one of the passwords.
func noSecret(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s shows a password", where)
		}
	}
}

func TestUserPasswd(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	const pw1, pw2, pw3 = "Pw1,with:colon and space", "Pw2-secret-new", "Pw3-live-change"
	// Stopped: root's password, and a user that does not exist yet.
	r := n.ok("vzctl", "set", "101", "--userpasswd", "root:"+pw1, "--userpasswd", "carol:"+pw2)
	noSecret(t, "set's output", r.out+r.err, pw1, pw2)
	if strings.Contains(r.err, "not saved") {
		t.Errorf("--userpasswd alone warns about unsaved settings: %q", r.err)
	}
	if mounted := n.mounts(); len(mounted) != 0 {
		t.Fatalf("set --userpasswd on a stopped container left mounts: %v", mounted)
	}
	n.ok("vzctl", "start", "101")
	n.checkPassword("101", "root", pw1)
	n.checkPassword("101", "carol", pw2)
	if r := n.ok("vzctl", "exec2", "101", "id", "carol"); !strings.Contains(r.out, "uid=1000(carol) gid=1000(carol)") {
		t.Fatalf("new user: %q", r.out)
	}
	// Running: the change is there at once.
	n.ok("vzctl", "set", "101", "--userpasswd", "carol:"+pw3)
	n.checkPassword("101", "carol", pw3)
	// USER:- takes the password from stdin, out of ps's sight.
	c := n.cmd("vzctl", "set", "101", "--userpasswd", "carol:-")
	c.Stdin = strings.NewReader(pw2 + "\n")
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("--userpasswd carol:- with the password on stdin: %v: %s", err, out)
	}
	n.checkPassword("101", "carol", pw2)
	n.ok("vzctl", "set", "101", "--userpasswd", "carol:"+pw3)
	n.checkPassword("101", "root", pw1)

	// Hostile values: refused with one line naming no password.
	for _, c := range []struct {
		arg  string
		code int
	}{
		{"nocolon", 20},
		{"a/b:" + pw3, 21},
		{"../etc:" + pw3, 21},
		{"-x:" + pw3, 21},
		{"carol:", 21},
		{"carol:line\nbreak" + pw3, 21},
		{"carol\nroot:" + pw3, 21},
	} {
		r := n.fails(c.code, "vzctl", "set", "101", "--userpasswd", c.arg)
		noSecret(t, "a refusal", r.out+r.err, pw3)
	}
	n.ok("vzctl", "stop", "101")

	// The log and the config hold no password.
	for _, f := range []string{"log/vzctl.log", "conf/101.toml"} {
		b, err := os.ReadFile(n.path(f))
		if err != nil {
			t.Fatal(err)
		}
		noSecret(t, f, string(b), pw1, pw2, pw3)
	}

	// A symlinked /etc/shadow (absolute, aimed at a host file) is not
	// followed out of the root: the host file stays, the guest gets a
	// file of its own.
	hostFile := filepath.Join(t.TempDir(), "host-shadow")
	if err := os.WriteFile(hostFile, []byte("root:HOST:1:::::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shadow := n.path("private/101/etc/shadow")
	os.Remove(shadow)
	if err := os.Symlink(hostFile, shadow); err != nil {
		t.Fatal(err)
	}
	n.ok("vzctl", "set", "101", "--userpasswd", "root:"+pw2)
	if b, _ := os.ReadFile(hostFile); string(b) != "root:HOST:1:::::\n" {
		t.Fatalf("the host file behind a guest symlink was changed: %q", b)
	}
	if st, err := os.Lstat(shadow); err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
		t.Fatalf("guest /etc/shadow after the edit: %v %v", st, err)
	}
	// A FIFO is refused, not opened (the call would hang on it).
	os.Remove(shadow)
	if err := syscall.Mkfifo(shadow, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := n.run("vzctl", "set", "101", "--userpasswd", "root:"+pw2); r.code == 0 || !strings.Contains(r.err, "shadow") {
		t.Fatalf("a FIFO /etc/shadow: %s", r)
	}
	if mounted := n.mounts(); len(mounted) != 0 {
		t.Fatalf("a refused --userpasswd left mounts: %v", mounted)
	}
}

// TestUserPasswdDebian: on a Debian guest (shadow 0640 root:shadow,
// login.defs asking for yescrypt) the password set stopped and running
// verifies with the guest's own crypt(3) (perl-base is Essential), the
// new user is a real one to the guest's tools, and the file keeps its
// mode and group.
func TestUserPasswdDebian(t *testing.T) {
	n := newNode(t)
	src := debianTemplate(t)
	if err := os.Link(src, n.path("template/cache/"+filepath.Base(src))); err != nil {
		t.Fatal(err)
	}
	n.ok("vzctl", "create", "101", "--ostemplate", strings.TrimSuffix(filepath.Base(src), ".tar.gz"))
	const pw1, pw2 = "Deb,pw:1 x", "Deb-pw-2"
	n.ok("vzctl", "set", "101", "--userpasswd", "root:"+pw1, "--userpasswd", "dave:"+pw2)
	n.ok("vzctl", "start", "101")
	check := func(user, pw string) {
		t.Helper()
		h := n.shadowHash("101", user)
		r := n.ok("vzctl", "exec2", "101", "perl -e 'print crypt($ARGV[0], $ARGV[1])' '"+pw+"' '"+h+"'")
		if r.out != h {
			t.Fatalf("the guest's crypt(3) gives %q for %s's password, the shadow holds %q", r.out, user, h)
		}
	}
	check("root", pw1)
	check("dave", pw2)
	if r := n.ok("vzctl", "exec2", "101", "passwd", "-S", "dave"); !strings.HasPrefix(r.out, "dave P ") {
		t.Fatalf("passwd -S dave: %q", r.out)
	}
	if r := n.ok("vzctl", "exec2", "101", "getent", "passwd", "dave"); r.out != "dave:x:1000:1000::/home/dave:/bin/bash\n" {
		t.Fatalf("getent passwd dave: %q", r.out)
	}
	if r := n.ok("vzctl", "exec2", "101", "stat -c '%a %U %G' /etc/shadow"); r.out != "640 root shadow\n" {
		t.Fatalf("/etc/shadow after the edit: %q", r.out)
	}
	n.ok("vzctl", "set", "101", "--userpasswd", "dave:"+pw1)
	check("dave", pw1)
	n.ok("vzctl", "stop", "101")
}
