package checkpoint

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// readCgroupFS records the boot's read-only tmpfs and leaves anything
// else to CRIU: a writable one, cgroup v2's mount, a regular file in it.
func TestReadCgroupFS(t *testing.T) {
	root := t.TempDir()
	cg := filepath.Join(root, "sys/fs/cgroup")
	for _, d := range []string{"cpu,cpuacct", "memory"} {
		if err := os.MkdirAll(filepath.Join(cg, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("cpu,cpuacct", filepath.Join(cg, "cpu")); err != nil {
		t.Fatal(err)
	}
	mi := filepath.Join(t.TempDir(), "mountinfo")
	write := func(s string) {
		if err := os.WriteFile(mi, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const v1 = "200 190 0:60 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755\n" +
		"201 200 0:28 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n"
	write(v1)
	got, err := readCgroupFS(mi, root)
	if err != nil {
		t.Fatal(err)
	}
	want := []CgroupEntry{{Name: "cpu", Link: "cpu,cpuacct"}, {Name: "cpu,cpuacct"}, {Name: "memory"}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if o := DumpOptions(&Target{InitPID: 1, CgroupFS: got}, 7); !slices.Contains(o.External, "mnt[/sys/fs/cgroup]:"+cgroupFSKey) {
		t.Fatalf("dump externals %v lack /sys/fs/cgroup", o.External)
	}
	if o := DumpOptions(&Target{InitPID: 1}, 7); slices.Contains(o.External, "mnt[/sys/fs/cgroup]:"+cgroupFSKey) {
		t.Fatal("/sys/fs/cgroup external without a record of it")
	}

	for name, mountinfo := range map[string]string{
		"writable":          "200 190 0:60 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755\n",
		"v2":                "200 190 0:60 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n",
		"remounted rw over": v1 + "202 190 0:61 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n",
	} {
		write(mountinfo)
		if got, err := readCgroupFS(mi, root); err != nil || got != nil {
			t.Errorf("%s: got %v, %v; want it left to CRIU", name, got, err)
		}
	}
	write(v1)
	if err := os.WriteFile(filepath.Join(cg, "release_agent"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := readCgroupFS(mi, root); err != nil || got != nil {
		t.Errorf("with a file: got %v, %v; want it left to CRIU", got, err)
	}
}
