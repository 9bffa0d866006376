package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestEscapeControls shows that the escape suite's checks see a success:
// the probe, run on the host where nothing confines it, against the
// test's own marker files, keyring, socket and terminal, gets what the
// container must not. (The network checks carry their control in the
// suite: the attacker's own datagrams must arrive. The release agent and
// swapon have none: succeeding on the host would change host state.)
func TestEscapeControls(t *testing.T) {
	probe := buildEscProbe(t)
	dir := t.TempDir()
	secret := "govz-control-secret-" + strconv.Itoa(os.Getpid())
	sp := filepath.Join(dir, "secret")
	os.WriteFile(sp, []byte(secret+"\n"), 0o600)
	run := func(args ...string) (kv, string) {
		out, _ := exec.Command(probe, args...).CombinedOutput()
		return parseKV(string(out)), string(out)
	}

	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, sp, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, out := run("handle", "/", strconv.Itoa(int(h.Type())), fmt.Sprintf("%x", h.Bytes())); got.get("content") != secret {
		t.Errorf("open-by-handle-at control: %s", out)
	}
	if got, out := run("chroot", filepath.Join(dir, "jail"), sp); got.get("content") != secret {
		t.Errorf("chroot-breakout control: %s", out)
	}
	if got, out := run("initmod"); got.get("init_module") == "EPERM" || got.get("init_module") == "" {
		t.Errorf("module-loading control: the host's root is refused too: %s", out)
	}
	got, out := run("privapis")
	for _, k := range []string{"userfaultfd_kernel", "bpf_kprobe", "perf_cpu_wide"} {
		if got.get(k) != "ok" {
			t.Errorf("kernel-apis control: %s not ok on the host: %s", k, out)
		}
	}
	if _, err := os.Stat("/proc/kcore"); err != nil {
		t.Logf("proc-kcore: this kernel has no /proc/kcore (%v): the technique is moot here", err)
	} else if got, out := run("open", "r", "/proc/kcore"); !strings.HasPrefix(got.get("/proc/kcore"), "ok,read=64") {
		t.Errorf("proc-kcore control: %s", out)
	}
	// A node the probe makes and opens (/dev/null's numbers: the test's
	// own block device opens may be fenced off by its cgroup).
	if got, out := run("mknod", filepath.Join(dir, "null"), "c", "1", "3"); got.get("open") != "ok" {
		t.Errorf("mknod control: %s", out)
	}

	name := fmt.Sprintf("govz-esc-control-%d", os.Getpid())
	count := abstractListener(t, name)
	if got, out := run("abstract", name); got.get("connect") != "ok" || count() != 1 {
		t.Errorf("abstract-unix-socket control: %s", out)
	}

	payload := "govz-control-key-" + strconv.Itoa(os.Getpid())
	host := startBackground(t, exec.Command(probe, "keyhost", payload))
	if !host.waitLine("key=", 5*time.Second) {
		t.Fatalf("keyhost: %v", host.stop())
	}
	ans := parseKV(strings.Join(host.all, "\n"))
	if _, out := run("keyread", ans.get("key"), ans.get("keyring")); !strings.Contains(out, payload) {
		t.Errorf("keyring control: another host process of the same user does not read the key: %s", out)
	}
	host.stop()

	// TIOCSTI into the terminal the probe runs on reaches the shell that
	// reads it next.
	tty := inHostTTY(t, nil, probe+" tiocsti INJ-control own </dev/null")
	if hr := hostRead(string(tty)); !strings.Contains(hr, "INJ-control") {
		t.Errorf("tiocsti control: host read [%s]: %q", hr, tty)
	}

	// A setuid-root file on a path every user may traverse runs as root
	// for nobody (what an unconfined planted file gives).
	pub := filepath.Join(dir, "pub")
	os.Mkdir(pub, 0o755)
	for d := pub; d != os.TempDir() && d != "/" && strings.HasPrefix(d, os.TempDir()); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	suid := filepath.Join(pub, "suid")
	copyFile(t, probe, suid)
	unix.Chmod(suid, 0o4755) // os.Chmod drops the raw setuid bit
	s := exec.Command(suid, "whoami")
	s.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	if b, err := s.CombinedOutput(); parseKV(string(b)).get("euid") != "0" {
		t.Errorf("setuid-for-host-users control: %v %s", err, b)
	}
}
