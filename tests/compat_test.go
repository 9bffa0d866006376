package tests

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSkipLock: a CTID.mount script calling vzctl on the container whose
// start runs it is refused with "locked" (9) without --skiplock and works
// with it (vzctl's action scripts do that); a --skiplock command does not
// skip a lock held by an unrelated command.
func TestSkipLock(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101", "--hostname", "before")
	vzctl := filepath.Join(binDir, "vzctl")
	out := n.path("skiplock.log")
	n.writeFile("conf/101.mount", `#!/bin/sh
`+vzctl+` set 101 --hostname plain --save >/dev/null 2>&1; echo "plain=$?" >>`+out+`
`+vzctl+` --skiplock set 101 --hostname viascript --save >/dev/null 2>&1; echo "skiplock=$?" >>`+out+`
`)
	os.Chmod(n.path("conf/101.mount"), 0o755)
	n.ok("vzctl", "mount", "101")
	b, _ := os.ReadFile(out)
	if got := strings.TrimSpace(string(b)); got != "plain=9\nskiplock=0" {
		t.Fatalf("mount script's vzctl calls: %q, want plain=9 then skiplock=0", got)
	}
	if r := n.ok("vzlist", "-H", "-o", "hostname", "101"); strings.TrimSpace(r.out) != "viascript" {
		t.Fatalf("hostname after the script's set: %q", r.out)
	}
	n.ok("vzctl", "umount", "101")
	os.Remove(n.path("conf/101.mount"))

	// An unrelated holder: a mount script that waits while the test runs
	// vzctl --skiplock from outside (not a descendant of the holder).
	fifo := n.path("hold.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	n.writeFile("conf/101.mount", "#!/bin/sh\nread x <"+fifo+"\n")
	os.Chmod(n.path("conf/101.mount"), 0o755)
	holder := n.cmd("vzctl", "mount", "101")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			f.WriteString("go\n")
			f.Close()
		}
		holder.Wait()
		n.run("vzctl", "umount", "101")
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if b, _ := os.ReadFile(n.path("lock/101.lck")); strings.Contains(string(b), "mount") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("vzctl mount never took the lock")
		}
	}
	r := n.fails(9, "vzctl", "--skiplock", "set", "101", "--hostname", "outsider", "--save")
	if !strings.Contains(r.err, "--skiplock") {
		t.Fatalf("refusal does not explain --skiplock: %q", r.err)
	}
}

// TestVzlistConfigFields: the vzlist fields of vzctl's table that show
// config values (vm_overcommit, netfilter, capability, iolimit, iopslimit)
// print what set saved, in columns and in JSON.
func TestVzlistConfigFields(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "create", "102")
	n.ok("vzctl", "set", "101", "--vm_overcommit", "1.5", "--netfilter", "full", "--capability", "net_admin:off",
		"--iolimit", "10M", "--iopslimit", "300", "--save")
	r := n.ok("vzlist", "-a", "-H", "-o", "ctid,vm_overcommit,netfilter,capability,iolimit,iopslimit")
	got := strings.Fields(r.out)
	want := []string{"101", "1.5", "full", "net_admin:off", "10485760", "300", "102", "-", "-", "-", "-", "-"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("vzlist -o: %q, want %q", got, want)
	}
	r = n.ok("vzlist", "-a", "-j", "101")
	for _, s := range []string{`"vm_overcommit": 1.5`, `"netfilter": "full"`, `"capability": ["net_admin:off"]`, `"iolimit": 10485760`, `"iopslimit": 300`} {
		if !strings.Contains(r.out, s) {
			t.Errorf("vzlist -j lacks %s:\n%s", s, r.out)
		}
	}
	if r := n.ok("vzlist", "-L"); !strings.Contains(r.out, "iopslimit") || !strings.Contains(r.out, "vm_overcommit") {
		t.Errorf("vzlist -L does not list the new fields:\n%s", r.out)
	}
}

// TestUnknownConfigKeysKept: a container file with keys govz does not know
// (another tool's, a newer version's) works: each is warned about with its
// file and line, and set --save writes it back.
func TestUnknownConfigKeysKept(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	cfg := n.path("conf/101.toml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(string(b), "\n")
	n.writeFile("conf/101.toml", string(b)+"panel_plan = \"gold\"\n\n[billing]\naccount = 42\n")
	r := n.ok("vzctl", "set", "101", "--hostname", "kept", "--save")
	want := "101.toml:" + strconv.Itoa(lines+1) + `: unknown key "panel_plan" ignored`
	if !strings.Contains(r.err, want) || !strings.Contains(r.err, `"billing"`) {
		t.Fatalf("set did not warn (%q):\n%s", want, r.err)
	}
	after, _ := os.ReadFile(cfg)
	for _, s := range []string{`panel_plan = "gold"`, "[billing]", "account = 42", `hostname = "kept"`} {
		if !strings.Contains(string(after), s) {
			t.Fatalf("saved config lacks %s:\n%s", s, after)
		}
	}
	// The container still works with it: mount, and list.
	n.ok("vzctl", "mount", "101")
	n.ok("vzctl", "umount", "101")
	if r := n.ok("vzlist", "-a", "-H", "-o", "hostname"); strings.TrimSpace(r.out) != "kept" {
		t.Fatalf("vzlist: %q", r.out)
	}
}

// TestRunscriptStopped: vzctl runscript on a stopped container mounts it,
// runs the script as the only process of a confined one-shot boot (PID 1
// of its own PID namespace, the seccomp filter, no host paths, the
// container's ID mapping), passes its exit status on and unmounts it
// again, leaving nothing behind.
func TestRunscriptStopped(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	script := n.path("script.sh")
	n.writeFile("script.sh", `echo "args=$*"
echo "pid=$$"
grep '^Seccomp:' /proc/self/status
test -e `+n.root+` && echo "host visible"
head -n 1 /proc/self/uid_map
echo made >/from-script
exit 3
`)
	r := n.run("vzctl", "runscript", "101", script, "a", "b")
	t.Logf("script output:\n%s", r.out)
	if r.code != 3 {
		t.Fatalf("runscript exit %d, want the script's 3: %v", r.code, r)
	}
	for _, want := range []string{"args=a b\n", "pid=1\n", "Seccomp:\t2\n"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("script output lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "host visible") {
		t.Errorf("the script sees the host's paths:\n%s", r.out)
	}
	if idMode() != "identity" && strings.Contains(r.out, "         0          0 4294967295") {
		t.Errorf("the script runs identity-mapped in a container with its own range:\n%s", r.out)
	}
	if b, _ := os.ReadFile(n.path("private/101/from-script")); string(b) != "made\n" {
		t.Errorf("the script's file in the container: %q", b)
	}
	if s := n.status("101"); s != "CTID 101 exist unmounted down" {
		t.Errorf("after runscript: %q", s)
	}
	n.noLeftovers()
	// A mounted container stays mounted; a missing script is refused.
	n.ok("vzctl", "mount", "101")
	n.writeFile("script.sh", "exit 0\n")
	n.ok("vzctl", "runscript", "101", script)
	if s := n.status("101"); s != "CTID 101 exist mounted down" {
		t.Errorf("after runscript on a mounted container: %q", s)
	}
	n.ok("vzctl", "umount", "101")
	r = n.run("vzctl", "runscript", "101", n.path("nonexistent.sh"))
	if r.code == 0 {
		t.Errorf("missing script accepted: %v", r)
	}
	// A running container: the script joins it, next to its init.
	n.ok("vzctl", "start", "101")
	defer n.run("vzctl", "stop", "101", "--fast")
	n.writeFile("script.sh", "cat /proc/1/comm\nexit 4\n")
	if r := n.run("vzctl", "runscript", "101", script); r.code != 4 || r.out != "init\n" {
		t.Errorf("runscript in a running container: %v", r)
	}
}
