package lxcfs

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"govz/internal/mountinfo"
	"govz/internal/roottest"
)

// The test binary is its own helper, as vzctl is in production.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == Verb {
		os.Exit(Main(os.Args[2:]))
	}
	os.Exit(m.Run())
}

func TestMountedAt(t *testing.T) {
	mi := "40 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n" +
		"99 23 0:51 / /var/lib/lxcfs rw,nosuid,nodev,relatime shared:5 - fuse.lxcfs lxcfs rw,user_id=0,group_id=0\n" +
		"100 23 0:52 / /var/lib/lxcfs\\040with\\040space rw - fuse.lxcfs lxcfs rw\n"
	ms, err := mountinfo.Parse(mi)
	if err != nil {
		t.Fatal(err)
	}
	if !mountedAt(ms, "/var/lib/lxcfs") || !mountedAt(ms, "/var/lib/lxcfs with space") || mountedAt(ms, "/var/lib") || mountedAt(ms, "/sys/fs/cgroup/unified") {
		t.Fatal("mountedAt")
	}
	if err := Available(t.TempDir()); err == nil {
		t.Fatal("an empty directory counts as LXCFS")
	}
	if err := Available("off"); err == nil || !strings.Contains(err.Error(), "turned off") {
		t.Fatal(err)
	}
}

// Attach binds files from a directory laid out like LXCFS over /proc of a
// process in its own mount namespace; the host's /proc stays as it was.
func TestAttachIntoOtherNamespace(t *testing.T) {
	roottest.Require(t, "mount namespaces")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "proc"), 0o755)
	fake := "MemTotal:       65536 kB\n"
	if err := os.WriteFile(filepath.Join(dir, "proc/meminfo"), []byte(fake), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", "echo ready; exec sleep 60")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if l, _ := bufio.NewReader(out).ReadString('\n'); l != "ready\n" {
		t.Fatalf("helper said %q", l)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := Attach(dir, cmd.Process.Pid, exe); err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command("nsenter", "-t", strconv.Itoa(cmd.Process.Pid), "-m", "cat", "/proc/meminfo").Output()
	if err != nil || string(got) != fake {
		t.Fatalf("meminfo inside: %q %v", got, err)
	}
	host, _ := os.ReadFile("/proc/meminfo")
	if string(host) == fake {
		t.Fatal("the host's /proc/meminfo changed")
	}
}
