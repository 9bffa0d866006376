package tests

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestActionScripts: vzctl's action scripts in the config directory run
// at their places in the life cycle, global first, the host ones with
// VEID, VE_ROOT, VE_PRIVATE and VE_CONFFILE, the .start/.stop ones inside
// the container; a failing premount or mount script fails the start with
// 79 and leaves the container unmounted.
func TestActionScripts(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	logf := n.path("actions.log")
	host := func(name string) {
		n.writeFile("conf/"+name, `#!/bin/sh
m=no; grep -q " $VE_ROOT " /proc/self/mountinfo && m=yes
echo "`+name+` VEID=$VEID VE_ROOT=$VE_ROOT VE_PRIVATE=$VE_PRIVATE VE_CONFFILE=$VE_CONFFILE mounted=$m" >>`+logf+"\n")
		os.Chmod(n.path("conf/"+name), 0o755)
	}
	for _, s := range []string{"vps.premount", "101.premount", "vps.mount", "101.mount", "vps.umount", "101.umount", "vps.postumount", "101.postumount"} {
		host(s)
	}
	// Inside: PID 1 is the container's init, the host's paths do not exist.
	n.writeFile("conf/101.start", "echo \"start VEID=$VEID init=$(cat /proc/1/comm) host=$(test -e "+logf+" && echo yes || echo no)\" >/started\n")
	n.writeFile("conf/101.stop", "echo \"stop VEID=$VEID init=$(cat /proc/1/comm)\" >/stopped\n")

	readLog := func() []string {
		b, _ := os.ReadFile(logf)
		os.Remove(logf)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	env := "VEID=101 VE_ROOT=" + n.path("root/101") + " VE_PRIVATE=" + n.path("private/101") + " VE_CONFFILE=" + n.path("conf/101.toml")
	wantLog := func(what string, want ...string) {
		t.Helper()
		got := readLog()
		var w []string
		for _, s := range want {
			name, m, _ := strings.Cut(s, " ")
			w = append(w, name+" "+env+" mounted="+m)
		}
		if strings.Join(got, "\n") != strings.Join(w, "\n") {
			t.Fatalf("%s: scripts ran\n%s\nwant\n%s", what, strings.Join(got, "\n"), strings.Join(w, "\n"))
		}
	}

	n.ok("vzctl", "start", "101")
	wantLog("start", "vps.premount no", "101.premount no", "vps.mount yes", "101.mount yes")
	if b, _ := os.ReadFile(n.path("private/101/started")); string(b) != "start VEID=101 init=init host=no\n" {
		t.Fatalf("101.start inside: %q", b)
	}
	n.ok("vzctl", "stop", "101")
	wantLog("stop", "vps.umount yes", "101.umount yes", "vps.postumount no", "101.postumount no")
	if b, _ := os.ReadFile(n.path("private/101/stopped")); string(b) != "stop VEID=101 init=init\n" {
		t.Fatalf("101.stop inside: %q", b)
	}
	// mount and umount run the host scripts too.
	n.ok("vzctl", "mount", "101")
	wantLog("mount", "vps.premount no", "101.premount no", "vps.mount yes", "101.mount yes")
	n.ok("vzctl", "umount", "101")
	wantLog("umount", "vps.umount yes", "101.umount yes", "vps.postumount no", "101.postumount no")

	// A guest that halts itself: the supervisor runs the unmount scripts.
	n.ok("vzctl", "start", "101")
	readLog()
	n.ok("vzctl", "exec", "101", "poweroff")
	n.waitStatus("101", "CTID 101 exist unmounted down", 15*time.Second)
	n.noLeftovers() // the supervisor, which runs postumount last, is gone
	wantLog("halt inside", "vps.umount yes", "101.umount yes", "vps.postumount no", "101.postumount no")

	// Failures: premount (nothing mounted), then mount (undone): 79.
	for _, s := range []string{"101.premount", "vps.mount"} {
		n.writeFile("conf/"+s, "#!/bin/sh\necho failing\nexit 3\n")
		os.Chmod(n.path("conf/"+s), 0o755)
		r := n.fails(79, "vzctl", "start", "101")
		if !strings.Contains(r.err, s) {
			t.Errorf("%s failed: error does not name it: %s", s, r.err)
		}
		if st := n.status("101"); st != "CTID 101 exist unmounted down" {
			t.Fatalf("after a failing %s: %q", s, st)
		}
		n.noLeftovers()
		host(s)
		readLog()
	}
	n.ok("vzctl", "start", "101")
	n.stopClean("101")

	// Destroy retires the container's own scripts: a new 101 does not
	// inherit them; the global ones stay.
	n.ok("vzctl", "destroy", "101")
	for _, s := range []string{"101.premount", "101.mount", "101.start", "101.stop", "101.umount", "101.postumount"} {
		if _, err := os.Stat(n.path("conf/" + s)); err == nil {
			t.Errorf("%s still active after destroy", s)
		}
		if _, err := os.Stat(n.path("conf/" + s + ".destroyed")); err != nil {
			t.Errorf("%s not kept as .destroyed: %v", s, err)
		}
	}
	readLog()
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "mount", "101")
	wantLog("mount after re-create", "vps.premount no", "vps.mount yes")
	n.ok("vzctl", "umount", "101")
}
