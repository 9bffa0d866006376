package image

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"govz/internal/roottest"
)

func TestGeometry(t *testing.T) {
	for _, c := range []struct {
		size, inodes, want int64
	}{
		{64 << 20, 2000, 2016},     // one group: the request (+ reserved) rounded to a block of inodes
		{1 << 30, 0, 8192},         // mke2fs's default density: 16 KiB per inode
		{1 << 30, 80000, 10016},    // 8 groups share the inodes
		{200 << 20, 1000, 512},     // 2 groups
		{1 << 30, 1 << 40, 32768},  // capped at one bitmap block per group
		{128 << 20, 1, 16},         // at least one block of inodes
		{(128 << 20) + 1, 100, 64}, // a partial group is a group
	} {
		if got := InodesPerGroup(c.size, c.inodes); got != c.want {
			t.Errorf("InodesPerGroup(%d, %d) = %d, want %d", c.size, c.inodes, got, c.want)
		}
	}
	if g := Groups(1); g != 1 {
		t.Errorf("Groups(1) = %d", g)
	}
	if g := Groups(GroupBytes * 3); g != 3 {
		t.Errorf("Groups(3 groups) = %d", g)
	}
	for _, c := range []struct{ size, want int64 }{
		{64 << 20, 1024}, {1 << 30, 8192}, {(1 << 30) - 4096, 4096}, {10 << 30, 16384}, {1 << 40, 262144},
	} {
		if got := JournalBlocks(c.size); got != c.want {
			t.Errorf("JournalBlocks(%d) = %d, want %d", c.size, got, c.want)
		}
	}
}

// mountImage mounts file at a new directory and unmounts it at cleanup.
func mountImage(t *testing.T, file string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Mount(file, dir, "ext4", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

func TestImageLifecycle(t *testing.T) {
	roottest.Require(t, "loop devices, mounts")
	work := t.TempDir()
	src := filepath.Join(work, "tree")
	os.MkdirAll(filepath.Join(src, "etc"), 0o755)
	os.WriteFile(filepath.Join(src, "etc", "hostname"), []byte("ct\n"), 0o644)
	os.Link(filepath.Join(src, "etc", "hostname"), filepath.Join(src, "etc", "hardlink"))
	os.Symlink("hostname", filepath.Join(src, "etc", "link"))
	os.WriteFile(filepath.Join(src, "big"), bytes.Repeat([]byte("x"), 3<<20), 0o600)
	os.Chown(filepath.Join(src, "big"), 1234, 5678)
	if err := unix.Lsetxattr(filepath.Join(src, "big"), "user.govz", []byte("v"), 0); err != nil {
		t.Logf("no user xattrs on the temp dir's file system (%v); not checked", err)
	}
	tmpl := filepath.Join(work, "tmpl.img")
	const tsize = 128 << 20
	if err := Mkfs(tmpl, tsize, 1024, 1024, src); err != nil {
		t.Fatal(err)
	}
	if sz, err := FSSize(tmpl); err != nil || sz != tsize {
		t.Fatalf("FSSize = %d, %v; want %d", sz, err, tsize)
	}
	ct := filepath.Join(work, "ct.img")
	if _, err := Copy(ct, tmpl); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Stat(ct, &st)
	if st.Size != tsize || st.Blocks*512 > 40<<20 {
		t.Fatalf("copy: size %d, %d bytes allocated: not a sparse copy", st.Size, st.Blocks*512)
	}
	// Grow the copy offline, as a create does, then look inside.
	const size = 300 << 20
	if err := Resize(ct, size); err != nil {
		t.Fatal(err)
	}
	if sz, _ := FSSize(ct); sz != size {
		t.Fatalf("after grow FSSize = %d, want %d", sz, size)
	}
	mnt := mountImage(t, ct)
	if b, err := os.ReadFile(filepath.Join(mnt, "etc", "link")); err != nil || string(b) != "ct\n" {
		t.Fatalf("content through symlink %q, %v", b, err)
	}
	var a, b unix.Stat_t
	unix.Lstat(filepath.Join(mnt, "etc", "hostname"), &a)
	unix.Lstat(filepath.Join(mnt, "etc", "hardlink"), &b)
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Fatalf("hard link lost: inodes %d %d, nlink %d", a.Ino, b.Ino, a.Nlink)
	}
	unix.Lstat(filepath.Join(mnt, "big"), &a)
	if a.Uid != 1234 || a.Gid != 5678 || a.Mode&0o777 != 0o600 || a.Size != 3<<20 {
		t.Fatalf("big: uid %d gid %d mode %o size %d", a.Uid, a.Gid, a.Mode, a.Size)
	}
	if v := make([]byte, 8); true {
		if _, err := unix.Lgetxattr(filepath.Join(src, "big"), "user.govz", v); err == nil {
			n, err := unix.Lgetxattr(filepath.Join(mnt, "big"), "user.govz", v)
			if err != nil || string(v[:n]) != "v" {
				t.Fatalf("xattr lost: %q, %v", v[:n], err)
			}
		}
	}
	s, err := StatMounted(mnt)
	if err != nil {
		t.Fatal(err)
	}
	// 3 groups of 1024 inodes; the size less metadata.
	if s.TotalInodes != 3*1024 || s.TotalBytes > size || s.TotalBytes < size*9/10 {
		t.Fatalf("statfs after grow: %+v", s)
	}
	loops, _ := LoopsOf(work)
	if len(loops) != 1 {
		t.Fatalf("loop devices on %s: %v, want one", work, loops)
	}
	if !HaveSysResource() {
		// A sandbox that dropped CAP_SYS_RESOURCE: the refusal must come
		// before anything changed.
		if err := GrowOnline(ct, mnt, size*2); !errors.Is(err, ErrNoSysResource) {
			t.Fatalf("GrowOnline without CAP_SYS_RESOURCE: %v", err)
		}
		if sz, _ := FSSize(ct); sz != size {
			t.Fatalf("refused grow changed the image to %d", sz)
		}
	} else {
		if err := GrowOnline(ct, mnt, size*2); err != nil {
			t.Fatal(err)
		}
		if s, _ := StatMounted(mnt); s.TotalBytes < size*2*9/10 || s.TotalInodes != 5*1024 {
			t.Fatalf("statfs after online grow: %+v", s)
		}
	}
	if err := unix.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	if loops, _ := LoopsOf(work); len(loops) != 0 {
		t.Fatalf("loop devices left after unmount: %v", loops)
	}
	// Shrink offline, then below what the files use.
	if err := Check(ct); err != nil {
		t.Fatal(err)
	}
	if err := Resize(ct, 140<<20); err != nil {
		t.Fatal(err)
	}
	if sz, _ := FSSize(ct); sz != 140<<20 {
		t.Fatalf("after shrink FSSize = %d", sz)
	}
	unix.Stat(ct, &st)
	if st.Size != 140<<20 {
		t.Fatalf("after shrink the file is %d bytes", st.Size)
	}
	if err := Resize(ct, 3<<20); !errors.Is(err, ErrTooSmall) {
		t.Fatalf("shrinking below the data: %v, want ErrTooSmall", err)
	}
	if sz, _ := FSSize(ct); sz != 140<<20 {
		t.Fatalf("a failed shrink changed the size to %d", sz)
	}
}
