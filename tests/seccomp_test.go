package tests

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The container's syscall policy (ct/caps/seccomp_policy.go), from inside
// a default busybox container: keyrings are refused, so root inside, which
// is kernel UID 0 in the identity-mapped mode, cannot read host root's
// keys by serial; and the calls the policy refuses for their attack
// surface answer the policy's errno. The same in the local_uid mode.

// buildSysProbe builds tests/testdata/sysprobe, static.
func buildSysProbe(t *testing.T) string {
	t.Helper()
	out := t.TempDir() + "/sysprobe"
	cmd := exec.Command("go", "build", "-o", out, "./testdata/sysprobe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building sysprobe: %v: %s", err, b)
	}
	return out
}

// hostKey adds a "user" key holding secret to the test process's keyring,
// readable by its owner's UID (host root); with the kernel's default
// permissions (the owner's UID may only view) its description would still
// show. It is invalidated when the test ends, and the keyring dies with
// the process.
func hostKey(t *testing.T, desc, secret string) int {
	t.Helper()
	const (
		keySpecProcess = -2
		keyctlSetperm  = 5
		keyctlInval    = 21
		perm           = 0x3f000000 | 0x00010000 | 0x00020000 // possessor all, user view+read
	)
	typ, d := append([]byte("user"), 0), append([]byte(desc), 0)
	p := []byte(secret)
	ring := keySpecProcess // a variable: uintptr of a negative constant does not compile
	r, _, e := unix.Syscall6(unix.SYS_ADD_KEY, uintptr(unsafe.Pointer(&typ[0])), uintptr(unsafe.Pointer(&d[0])),
		uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), uintptr(ring), 0)
	runtime.KeepAlive(typ)
	runtime.KeepAlive(d)
	runtime.KeepAlive(p)
	if e != 0 {
		t.Fatalf("add_key on the host: %v", e)
	}
	serial := int(int32(r))
	if _, _, e := unix.Syscall(unix.SYS_KEYCTL, keyctlSetperm, uintptr(serial), perm); e != 0 {
		t.Fatalf("keyctl setperm on the host: %v", e)
	}
	t.Cleanup(func() { unix.Syscall(unix.SYS_KEYCTL, keyctlInval, uintptr(serial), 0) })
	return serial
}

// probeResults parses sysprobe's NAME=RESULT lines.
func probeResults(t *testing.T, out string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("sysprobe said %q", l)
		}
		m[k] = v
	}
	return m
}

func TestSeccompPolicyBusybox(t *testing.T) {
	probe := buildSysProbe(t)
	secret := fmt.Sprintf("host-secret-%d", os.Getpid())
	serial := hostKey(t, fmt.Sprintf("govz-e2e-%d", os.Getpid()), secret)
	arg := strconv.Itoa(serial)

	// The control: without the filter, UID 0 reads the key by serial
	// (the probe is another process, so it does not possess it), and the
	// kernel's own answers differ from the policy's.
	out, err := exec.Command(probe, arg).CombinedOutput()
	if err != nil {
		t.Fatalf("sysprobe on the host: %v: %s", err, out)
	}
	host := probeResults(t, string(out))
	for k, want := range map[string]string{
		"keyctl": "ok", "key_read": "ok:" + secret, "io_uring_setup": "EFAULT",
		"personality_read_implies_exec": "ok",
	} {
		if host[k] != want {
			t.Errorf("control on the host: %s=%s, want %s", k, host[k], want)
		}
	}

	n := newNode(t)
	for _, ct := range []struct{ id, mode string }{{"101", "identity"}, {"102", "local_uid"}} {
		n.ok("vzctl", "create", ct.id)
		if ct.mode == "local_uid" {
			n.setUserNS(ct.id)
		}
		copyFile(t, probe, n.path("private/"+ct.id+"/sysprobe"))
		os.Chmod(n.path("private/"+ct.id+"/sysprobe"), 0o755)
		n.ok("vzctl", "start", ct.id)
		r := n.ok("vzctl", "exec2", ct.id, "/sysprobe "+arg)
		n.ok("vzctl", "stop", ct.id)
		if strings.Contains(r.out, secret) {
			t.Errorf("%s: the host's key read from inside:\n%s", ct.mode, r.out)
		}
		got := probeResults(t, r.out)
		want := map[string]string{
			// Keyrings: ENOSYS, a kernel without keys (the policy says why).
			"keyctl": "ENOSYS", "add_key": "ENOSYS", "request_key": "ENOSYS",
			"key_describe": "ENOSYS", "key_read": "ENOSYS",
			// Attack surface: EPERM, as to a caller without the privilege.
			"io_uring_setup": "EPERM", "userfaultfd": "EPERM", "perf_event_open": "EPERM",
			"bpf": "EPERM", "open_by_handle_at": "EPERM", "kexec_load": "EPERM", "init_module": "EPERM",
			"personality_read_implies_exec": "EPERM", "personality_query": "ok:0x0",
			"personality_linux32": "ok",
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s container: %s=%s, want %s", ct.mode, k, got[k], w)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s container: sysprobe said %v", ct.mode, got)
		}
	}
	n.noLeftovers()
}
