package supervisor

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/cgroup"
	"govz/ct/rootfs"
	"govz/internal/mountinfo"
	"govz/internal/roottest"
)

// unifiedMount returns where the cgroup2 hierarchy is mounted, "" if not.
func unifiedMount(t *testing.T) string {
	ms, err := mountinfo.Read(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.FSType == "cgroup2" {
			return m.MountPoint
		}
	}
	return ""
}

// TestDeviceProgram loads the cgroup v2 device program into the kernel
// (this hybrid host has a cgroup2 hierarchy without controllers, which is
// all a device program needs), attaches it to a scratch cgroup and checks
// that a shell inside may open only what the rules allow.
func TestDeviceProgram(t *testing.T) {
	roottest.Require(t, "namespaces, cgroups, mounts")
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

// TestDevicesV1 covers the v1 devices controller path (hosts without any
// cgroup2 mount) on this host's v1 devices hierarchy: OUTER gets the
// allow-list, INNER is remade under it, and a shell moved into INNER can
// neither open nor create what the list leaves out, nor widen INNER's list.
func TestDevicesV1(t *testing.T) {
	roottest.Require(t, "namespaces, cgroups, mounts")
	parent := testCgroupParent()
	g, err := cgroup.Open(parent, "devv1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.OuterPath("devices"); err != nil {
		t.Skip("no v1 devices controller: ", err)
	}
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g.Kill(ctx)
		if err := g.Destroy(); err != nil {
			t.Error(err)
		}
	})
	if err := applyDevicesV1(g, rootfs.AllowRules(nil)); err != nil {
		t.Fatal(err)
	}
	outer, _ := g.OuterPath("devices")
	list, _ := os.ReadFile(filepath.Join(outer, "devices.list"))
	if strings.Contains(string(list), "a *:* rwm") || !strings.Contains(string(list), "c 136:* rwm") {
		t.Errorf("OUTER devices.list:\n%s", list)
	}
	_, inner := innerOf(g, outer)
	dir := t.TempDir()
	maj, min := hostDisk(t)
	unix.Mknod(filepath.Join(dir, "disk"), unix.S_IFBLK|0o600, int(unix.Mkdev(maj, min)))
	script := `echo $$ >` + inner + `/cgroup.procs || exit 9
head -c 1 /dev/null && echo null-ok
head -c 1 ` + dir + `/disk >/dev/null 2>&1 || echo disk-denied
mknod ` + dir + `/mem c 1 1 2>/dev/null || echo mknod-denied
(echo 'a *:* rwm' >` + inner + `/devices.allow) 2>/dev/null || echo widen-denied
head -c 1 ` + dir + `/disk >/dev/null 2>&1 || echo disk-still-denied
`
	out, err := exec.Command("/bin/busybox", "sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if want := "null-ok\ndisk-denied\nmknod-denied\nwiden-denied\ndisk-still-denied\n"; string(out) != want {
		t.Errorf("inside INNER:\n%s\nwant:\n%s", out, want)
	}
}
