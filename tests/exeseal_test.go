package tests

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The CVE-2019-5736 pattern: a guest replaces a program the host runs
// inside it (/bin/sh for vzctl exec, /sbin/init for start) by a script
// "#!/proc/self/exe" and puts its own code at the path of the host
// binary's ELF interpreter. The kernel then executes the host binary
// again, with the guest's code as its interpreter, and /proc/self/exe in
// that process names the host binary: the guest can reopen it for writing
// once no host process executes it any more. testdata/exeseal/payload.c
// is that guest code; it records what it could reach.

// Base seals every copy must carry (fcntl(2)): F_SEAL_SEAL, F_SEAL_SHRINK,
// F_SEAL_GROW, F_SEAL_WRITE.
const baseSeals = 0x1 | 0x2 | 0x4 | 0x8

// buildPayload compiles the guest's payload: freestanding and
// position-independent, as an ELF interpreter must be.
func buildPayload(t *testing.T) string {
	t.Helper()
	src, err := filepath.Abs("testdata/exeseal/payload.c")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "payload")
	interp := strconv.Quote(interpOf(t, filepath.Join(binDir, "vzctl")))
	out, err := exec.Command("gcc", "-nostdlib", "-static-pie", "-fPIE", "-O2", "-fno-stack-protector", "-Wall",
		"-DINTERP="+interp, "-o", bin, src).CombinedOutput()
	if err != nil {
		t.Fatalf("building the payload: %v\n%s", err, out)
	}
	return bin
}

// interpOf returns the PT_INTERP path of an ELF executable.
func interpOf(t *testing.T, bin string) string {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				t.Fatal(err)
			}
			return string(bytes.TrimRight(b, "\x00"))
		}
	}
	t.Fatalf("%s has no ELF interpreter: the attack needs a dynamically linked vzctl", bin)
	return ""
}

// binState is what must not change about the host binary.
type binState struct {
	sum      [32]byte
	mtime    time.Time
	dev, ino uint64
}

func stateOf(t *testing.T, path string) binState {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return binState{sum: sha256.Sum256(b), mtime: fi.ModTime(), dev: st.Dev, ino: st.Ino}
}

// privateVzctl is a copy of the built vzctl only this test runs, so that a
// successful attack cannot damage the binary the other tests use.
func privateVzctl(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vzctl")
	copyFile(t, filepath.Join(binDir, "vzctl"), bin)
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// runBin runs the vzctl at bin against the node.
func (n *node) runBin(bin string, args ...string) result {
	n.t.Helper()
	c := exec.Command(bin, args...)
	c.Env = append(os.Environ(), "VZ_ROOT="+n.root)
	return n.result(c)
}

// plantPayload installs the payload as the interpreter of vzctl at the
// interpreter's path in container 101 and replaces victim by the script.
func (n *node) plantPayload(payload, vzctl, victim string) {
	n.t.Helper()
	priv := n.path("private/101")
	interp := filepath.Join(priv, interpOf(n.t, vzctl))
	if err := os.MkdirAll(filepath.Dir(interp), 0o755); err != nil {
		n.t.Fatal(err)
	}
	os.Remove(interp)
	copyFile(n.t, payload, interp)
	if err := os.Chmod(interp, 0o755); err != nil {
		n.t.Fatal(err)
	}
	v := filepath.Join(priv, victim)
	if err := os.Remove(v); err != nil {
		n.t.Fatal(err)
	}
	if err := os.WriteFile(v, []byte("#!/proc/self/exe\n"), 0o755); err != nil {
		n.t.Fatal(err)
	}
}

// payloadReport reads the payload's key=value lines once want is there.
func (n *node) payloadReport(want string, d time.Duration) map[string]string {
	n.t.Helper()
	path := n.path("private/101/exeseal-report")
	end := time.Now().Add(d)
	for {
		b, _ := os.ReadFile(path)
		got := map[string]string{}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				got[k] = v
			}
		}
		if _, ok := got[want]; ok {
			return got
		}
		if time.Now().After(end) {
			n.t.Fatalf("no %q from the payload after %v; report:\n%s", want, d, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// erofs is -EROFS as the payload reports it.
const erofs = "-30"

// checkSealed asserts that the payload's /proc/self/exe was a sealed copy,
// or the file seen through a private read-only overlayfs mount
// (internal/exeseal), and not host's binary, and that no write reached it.
func checkSealed(t *testing.T, rep map[string]string, host binState, identity bool) {
	t.Helper()
	memfd := strings.HasPrefix(rep["exe"], "/memfd:")
	if !memfd {
		// The overlay's mount is attached nowhere: the link names the
		// file relative to its root ("/vzctl"). What makes it safe is
		// that it refuses writers, with or without a host process
		// executing it (ETXTBSY would be the host file while busy).
		if rep["direct_open"] != erofs {
			t.Errorf("/proc/self/exe of the guest's process is %q and opens for writing with %q, want a sealed memfd copy or a read-only mount (EROFS)", rep["exe"], rep["direct_open"])
		}
		if v, ok := rep["late_open"]; ok && v != erofs {
			t.Errorf("the guest's /proc/self/exe (%q) reopened for writing after vzctl exited: %s, want EROFS", rep["exe"], v)
		}
	}
	if ino := rep["ino"]; ino == "" || strings.HasPrefix(ino, "-") {
		t.Errorf("the payload could not stat its /proc/self/exe: %q", ino)
	} else if ino == strconv.FormatUint(host.dev, 10)+":"+strconv.FormatUint(host.ino, 10) {
		t.Errorf("the guest's process holds the host binary itself (inode %s)", ino)
	}
	// Root of an identity-mapped container may read the copy (host root
	// owns it) and must find every seal on it; an unprivileged one may
	// not read it at all.
	if identity && memfd {
		seals, err := strconv.Atoi(rep["seals"])
		if err != nil || seals < 0 || seals&baseSeals != baseSeals {
			t.Errorf("F_GET_SEALS on the guest's /proc/self/exe = %q, want the seals %#x", rep["seals"], baseSeals)
		}
	}
	for _, k := range []string{"direct_write", "late_write"} {
		if v, ok := rep[k]; ok && !strings.HasPrefix(v, "-") {
			t.Errorf("the guest wrote to its /proc/self/exe (%s=%s)", k, v)
		}
	}
}

func checkUnchanged(t *testing.T, bin string, before binState) {
	t.Helper()
	after := stateOf(t, bin)
	if after.sum != before.sum || !after.mtime.Equal(before.mtime) {
		t.Errorf("the host binary %s changed: sha256 %x -> %x, mtime %v -> %v", bin, before.sum, after.sum, before.mtime, after.mtime)
	}
}

// TestExecSealedExe: vzctl exec into a container whose /bin/sh is
// "#!/proc/self/exe". The guest's process must find a sealed copy behind
// /proc/self/exe, and no write of it, not even once vzctl exec has exited,
// may reach the host binary. The container runs under the shared vzctl;
// the exec uses a private copy, which nothing executes afterwards.
func TestExecSealedExe(t *testing.T) {
	payload := buildPayload(t)
	for _, tc := range []struct {
		name     string
		identity bool
	}{{"identity", true}, {"local_uid", false}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t)
			n.createInMode("101", tc.identity)
			n.ok("vzctl", "start", "101")
			defer n.run("vzctl", "stop", "--fast", "101")
			bin := privateVzctl(t)
			before := stateOf(t, bin)
			n.plantPayload(payload, bin, "bin/sh")

			r := n.runBin(bin, "exec", "101", "true")
			t.Logf("vzctl exec: %s", r)
			rep := n.payloadReport("late", 25*time.Second)
			t.Logf("payload report: %v", rep)
			if rep["pid"] == "" || rep["pid"] == "1" {
				t.Fatalf("the payload did not run as vzctl exec's command: %v", rep)
			}
			checkSealed(t, rep, before, tc.identity)
			if v := rep["late_open"]; v == strconv.Itoa(-26) {
				t.Errorf("the copy was still busy 20 s after vzctl exec returned: late_open=%s", v)
			}
			checkUnchanged(t, bin, before)
		})
	}
}

// TestRuntimeSealedInit: the same with the guest's /sbin/init. The
// supervisor and its init child run a private copy of vzctl; the init the
// guest gets must hold a sealed copy, not that file.
func TestRuntimeSealedInit(t *testing.T) {
	payload := buildPayload(t)
	for _, tc := range []struct {
		name     string
		identity bool
	}{{"identity", true}, {"local_uid", false}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t)
			n.createInMode("101", tc.identity)
			bin := privateVzctl(t)
			before := stateOf(t, bin)
			n.plantPayload(payload, bin, "sbin/init")
			if r := n.runBin(bin, "start", "101"); r.code != 0 {
				t.Fatalf("vzctl start:\n%s", r)
			}
			defer n.runBin(bin, "stop", "--fast", "101")
			rep := n.payloadReport("direct_open", 10*time.Second)
			t.Logf("payload report: %v", rep)
			if rep["pid"] != "1" {
				t.Fatalf("the payload did not run as the container's init: %v", rep)
			}
			checkSealed(t, rep, before, tc.identity)
			// The payload went on into busybox init.
			n.waitStatus("101", "CTID 101 exist mounted running", 5*time.Second)
			if r := n.runBin(bin, "stop", "101"); r.code != 0 {
				t.Fatalf("vzctl stop:\n%s", r)
			}
			checkUnchanged(t, bin, before)
		})
	}
}
