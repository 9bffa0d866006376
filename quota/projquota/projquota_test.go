package projquota

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"govz/internal/roottest"
	"govz/quota/image"
)

// The numbers and sizes the C headers give (linux/fs.h, linux/quota.h).
func TestABI(t *testing.T) {
	if iocFSGetXattr != 0x801c581f || iocFSSetXattr != 0x401c5820 {
		t.Errorf("FS_IOC_FSGETXATTR %#x FSSETXATTR %#x", iocFSGetXattr, iocFSSetXattr)
	}
	for _, c := range []struct {
		cmd  uint32
		want uintptr
	}{{qGetQuota, 0x80000702}, {qSetQuota, 0x80000802}, {qGetInfo, 0x80000502}, {qSetInfo, 0x80000602}} {
		if got := qcmd(c.cmd); got != c.want {
			t.Errorf("QCMD(%#x, PRJQUOTA) = %#x, want %#x", c.cmd, got, c.want)
		}
	}
	if s := unsafe.Sizeof(ifDqblk{}); s != 72 {
		t.Errorf("if_dqblk is %d bytes", s)
	}
	if s := unsafe.Sizeof(ifDqinfo{}); s != 24 {
		t.Errorf("if_dqinfo is %d bytes", s)
	}
	if s := unsafe.Sizeof(fsxattr{}); s != 28 {
		t.Errorf("fsxattr is %d bytes", s)
	}
}

// Check must say why project quota cannot work, in terms an admin can act
// on: the wrong file system, or ext4 without the feature and mount option.
func TestCheckSaysWhatIsMissing(t *testing.T) {
	roottest.Require(t, "mounts")
	dir := t.TempDir()
	tm := filepath.Join(dir, "tmpfs")
	os.Mkdir(tm, 0o755)
	if err := unix.Mount("tmpfs", tm, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(tm, unix.MNT_DETACH)
	err := Check(tm)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "not on ext4 or XFS") {
		t.Fatalf("Check(tmpfs) = %v", err)
	}

	img, mnt := filepath.Join(dir, "ext4.img"), filepath.Join(dir, "ext4")
	os.Mkdir(mnt, 0o755)
	if err := image.Mkfs(img, 64<<20, 256, 1024, ""); err != nil {
		t.Fatal(err)
	}
	if err := image.Mount(img, mnt, "ext4", 0, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(mnt, unix.MNT_DETACH)
	err = Check(mnt)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "prjquota") {
		t.Fatalf("Check(ext4 without project quota) = %v", err)
	}
}
