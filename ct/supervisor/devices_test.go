package supervisor

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"govz/ct/rootfs"
)

// unifiedMount returns where the cgroup2 hierarchy is mounted, "" if not.
func unifiedMount(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 9 && f[len(f)-3] == "cgroup2" {
			return f[4]
		}
	}
	return ""
}

// TestDeviceProgram loads the cgroup v2 device program into the kernel
// (this hybrid host has a cgroup2 hierarchy without controllers, which is
// all a device program needs), attaches it to a scratch cgroup and checks
// that a shell inside may open only what the rules allow.
func TestDeviceProgram(t *testing.T) {
	skipUnlessRoot(t)
	mnt := unifiedMount(t)
	if mnt == "" {
		t.Skip("no cgroup2 hierarchy")
	}
	dir := filepath.Join(mnt, "govz-test-devprog-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Rmdir(dir) })
	rules := []rootfs.Rule{
		{Type: 'c', Major: 1, Minor: 3, Access: "rwm"}, // null
		{Type: 'c', Major: 1, Minor: 9, Access: "r"},   // urandom, read only
		{Type: 'c', Major: 136, Minor: -1, Access: "rw"},
	}
	if err := attachDeviceProgram(dir, rules); err != nil {
		t.Fatal(err)
	}
	script := `echo $$ >` + dir + `/cgroup.procs || exit 9
head -c 1 /dev/null && echo null-read-ok
echo x >/dev/null && echo null-write-ok
head -c 1 /dev/urandom >/dev/null && echo urandom-read-ok
(echo x >/dev/urandom) 2>/dev/null || echo urandom-write-denied
head -c 1 /dev/zero >/dev/null 2>&1 || echo zero-denied
`
	out, err := exec.Command("/bin/busybox", "sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "null-read-ok\nnull-write-ok\nurandom-read-ok\nurandom-write-denied\nzero-denied\n"
	if string(out) != want {
		t.Errorf("inside the cgroup:\n%s\nwant:\n%s", out, want)
	}
}
