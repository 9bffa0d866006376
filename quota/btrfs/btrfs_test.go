package btrfs

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"govz/internal/roottest"
	"govz/quota/image"
)

// The request numbers the C headers produce (linux/btrfs.h, printed by a
// C program on x86_64).
func TestIoctlNumbers(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"SNAP_DESTROY", iocSnapDestroy, 0x5000940f},
		{"INO_LOOKUP", iocInoLookup, 0xd0009412},
		{"SNAP_CREATE_V2", iocSnapCreateV2, 0x50009417},
		{"SUBVOL_CREATE_V2", iocSubvolCreateV2, 0x50009418},
		{"SUBVOL_GETFLAGS", iocSubvolGetFlags, 0x80089419},
		{"SUBVOL_SETFLAGS", iocSubvolSetFlags, 0x4008941a},
		{"FS_INFO", iocFSInfo, 0x8400941f},
		{"QUOTA_CTL", iocQuotaCtl, 0xc0109428},
		{"QGROUP_CREATE", iocQgroupCreate, 0x4010942a},
		{"QGROUP_LIMIT", iocQgroupLimit, 0x8030942b},
		{"QUOTA_RESCAN", iocQuotaRescan, 0x4040942c},
		{"QUOTA_RESCAN_WAIT", iocQuotaRescanWait, 0x942e},
	} {
		if c.got != c.want {
			t.Errorf("BTRFS_IOC_%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if s := unsafe.Sizeof(volArgsV2{}); s != 4096 {
		t.Errorf("btrfs_ioctl_vol_args_v2 is %d bytes, want 4096", s)
	}
}

// scratchBtrfs makes a btrfs file system in a sparse file under the
// test's temp dir and mounts it; cleanup unmounts it, which detaches the
// loop device.
func scratchBtrfs(t *testing.T, size int64) string {
	t.Helper()
	roottest.Require(t, "loop devices, mounts")
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.btrfs", "-q", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.btrfs: %v: %s", err, out)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	// commit=1: the cleaner that drops deleted subvolumes runs after each
	// periodic commit, so waiting for it takes a second, not thirty.
	if err := image.Mount(img, mnt, "btrfs", 0, "commit=1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmounting scratch btrfs: %v", err)
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
	})
	return mnt
}

func TestSubvolumesSnapshotsAndNestedDelete(t *testing.T) {
	mnt := scratchBtrfs(t, 512<<20)
	if on, err := IsBtrfs(mnt); err != nil || !on {
		t.Fatalf("IsBtrfs(%s) = %v, %v", mnt, on, err)
	}
	if on, _ := IsBtrfs(t.TempDir()); on {
		t.Skip("the test's temp dir is itself on btrfs; the negative check means nothing here")
	}
	base := filepath.Join(mnt, "base")
	if err := CreateSubvolume(base); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "f"), []byte("template"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SetReadOnly(base, true); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "g"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Fatalf("write into read-only subvolume: %v, want EROFS", err)
	}
	snap := filepath.Join(mnt, "ct")
	if err := Snapshot(base, snap, false); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(snap, "f")); err != nil || string(b) != "template" {
		t.Fatalf("snapshot content %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(snap, "f"), []byte("changed"), 0o644); err != nil {
		t.Fatalf("snapshot of a read-only subvolume must be writable: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(base, "f")); string(b) != "template" {
		t.Fatalf("writing the snapshot changed the template: %q", b)
	}
	if sv, err := IsSubvolume(snap); err != nil || !sv {
		t.Fatalf("IsSubvolume(snapshot) = %v, %v", sv, err)
	}
	if sv, _ := IsSubvolume(mnt + "/ct/."); !sv {
		t.Fatal("IsSubvolume on the snapshot's root via ./ is false")
	}
	// What a container may do: nest subvolumes, and plant a symlink that
	// points out of its tree.
	inner := filepath.Join(snap, "a", "inner")
	os.MkdirAll(filepath.Dir(inner), 0o755)
	if err := CreateSubvolume(inner); err != nil {
		t.Fatal(err)
	}
	if err := CreateSubvolume(filepath.Join(inner, "deeper")); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(mnt, "outside")
	if err := CreateSubvolume(outside); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(snap, "escape")); err != nil {
		t.Fatal(err)
	}
	idSnap, err := SubvolumeID(snap)
	if err != nil || idSnap < firstFreeObjectID {
		t.Fatalf("SubvolumeID = %d, %v", idSnap, err)
	}
	if err := Delete(snap); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(snap); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("snapshot still there: %v", err)
	}
	if sv, err := IsSubvolume(outside); err != nil || !sv {
		t.Fatalf("deleting the snapshot followed its symlink and removed %s: %v", outside, err)
	}
	if b, _ := os.ReadFile(filepath.Join(base, "f")); string(b) != "template" {
		t.Fatalf("template damaged: %q", b)
	}
	// The read-only template itself can be deleted.
	if err := Delete(base); err != nil {
		t.Fatal(err)
	}
}

func TestQgroupLimitUsageAndTidy(t *testing.T) {
	mnt := scratchBtrfs(t, 1<<30)
	sv := filepath.Join(mnt, "ct")
	if err := CreateSubvolume(sv); err != nil {
		t.Fatal(err)
	}
	if on, err := QuotaEnabled(mnt); err != nil || on {
		t.Fatalf("QuotaEnabled on a fresh fs = %v, %v", on, err)
	}
	if err := EnableQuota(mnt); err != nil {
		t.Fatal(err)
	}
	if err := EnableQuota(mnt); err != nil {
		t.Fatalf("enabling twice: %v", err)
	}
	if on, err := QuotaEnabled(sv); err != nil || !on {
		t.Fatalf("QuotaEnabled after enable = %v, %v", on, err)
	}
	const limit = 32 << 20
	if err := SetLimit(sv, limit); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(sv, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.Repeat([]byte{0xa5}, 1<<20)
	var written int64
	for written < 2*limit {
		n, err := f.Write(buf)
		written += int64(n)
		if err != nil {
			if !errors.Is(err, unix.EDQUOT) {
				t.Fatalf("write past the limit failed with %v, want EDQUOT", err)
			}
			break
		}
	}
	f.Close()
	if written >= 2*limit || written < limit*9/10 {
		t.Fatalf("wrote %d bytes under a %d limit", written, limit)
	}
	unix.Sync()
	u, err := QgroupUsage(sv)
	if err != nil {
		t.Fatal(err)
	}
	if u.MaxReferenced != limit || u.Referenced > limit || u.Referenced < uint64(written)*9/10 {
		t.Fatalf("usage %+v after writing %d under limit %d", u, written, limit)
	}
	// Raising the limit lets writes go on; removing it too.
	if err := SetLimit(sv, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sv, "more"), buf, 0o644); err != nil {
		t.Fatalf("write after removing the limit: %v", err)
	}
	id, _ := SubvolumeID(sv)
	if err := Delete(sv); err != nil {
		t.Fatal(err)
	}
	unix.Sync()
	if out, err := exec.Command("btrfs", "subvolume", "sync", mnt).CombinedOutput(); err != nil {
		t.Fatalf("btrfs subvolume sync: %v: %s", err, out)
	}
	if _, err := Tidy(mnt); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("btrfs", "qgroup", "show", mnt).CombinedOutput()
	if err != nil {
		t.Fatalf("btrfs qgroup show: %v: %s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "0/"+itoa(id) {
			t.Fatalf("qgroup of the deleted subvolume left:\n%s", out)
		}
	}
}

func itoa(v uint64) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + v%10)}, b...)
		v /= 10
		if v == 0 {
			return string(b)
		}
	}
}
