// Package projquota is the thin kernel layer of disk limits on the dir
// layout: ext4 and XFS project quota. A container's private area gets a
// project id with the PROJINHERIT flag, so everything created in it is
// charged to that project, and quotactl sets the project's block and inode
// limits. With PROJINHERIT on the directory, statfs (df inside the
// container) reports the project's limit and use instead of the host
// file system's.
//
// x/sys has no fsxattr, no FS_IOC_FS[GS]ETXATTR and no quotactl wrapper, so
// the structs and numbers are spelt out here (linux/fs.h, linux/quota.h);
// quotactl_fd(2) (Linux 5.14) takes a descriptor of the file system, so no
// block device path is needed.
package projquota

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fsxattr is struct fsxattr.
type fsxattr struct {
	xflags     uint32
	extsize    uint32
	nextents   uint32
	projid     uint32
	cowextsize uint32
	pad        [8]byte
}

// ifDqblk is struct if_dqblk; block limits are in 1 KiB units, current
// space in bytes.
type ifDqblk struct {
	bhardlimit uint64
	bsoftlimit uint64
	curspace   uint64
	ihardlimit uint64
	isoftlimit uint64
	curinodes  uint64
	btime      uint64
	itime      uint64
	valid      uint32
	_          uint32
}

// ifDqinfo is struct if_dqinfo.
type ifDqinfo struct {
	bgrace uint64
	igrace uint64
	flags  uint32
	valid  uint32
}

const (
	xflagProjInherit = 0x200 // FS_XFLAG_PROJINHERIT

	prjQuota = 2 // PRJQUOTA

	qGetInfo  = 0x800005
	qSetInfo  = 0x800006
	qGetQuota = 0x800007
	qSetQuota = 0x800008

	qifBLimits = 1
	qifILimits = 4
	iifBGrace  = 1
	iifIGrace  = 2
)

var (
	iocFSGetXattr = ioc(2, 'X', 31, unsafe.Sizeof(fsxattr{}))
	iocFSSetXattr = ioc(1, 'X', 32, unsafe.Sizeof(fsxattr{}))
)

func ioc(dir, typ, nr, size uintptr) uintptr { return dir<<30 | size<<16 | typ<<8 | nr }

// qcmd is QCMD(cmd, PRJQUOTA).
func qcmd(cmd uint32) uintptr { return uintptr(cmd<<8 | prjQuota) }

// quotactlFd is quotactl_fd(2).
func quotactlFd(fd int, cmd uint32, id uint32, addr unsafe.Pointer) error {
	_, _, e := unix.Syscall6(unix.SYS_QUOTACTL_FD, uintptr(fd), qcmd(cmd), uintptr(id), uintptr(addr), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// Limits of one project; 0 means no limit.
type Limits struct {
	BlockSoftKB, BlockHardKB uint64
	InodeSoft, InodeHard     uint64
}

// Usage of one project.
type Usage struct {
	Bytes, Inodes uint64
}

// ErrUnsupported wraps every reason project quota cannot be used.
var ErrUnsupported = errors.New("project quota unavailable")

// Check reports why project quota cannot limit a tree at path, or nil when
// it can: the error says what is missing and how to get it.
func Check(path string) error {
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err != nil {
		return fmt.Errorf("statfs %s: %w", path, err)
	}
	kind := ""
	switch uint32(sfs.Type) {
	case unix.EXT4_SUPER_MAGIC:
		kind = "ext4"
	case unix.XFS_SUPER_MAGIC:
		kind = "xfs"
	default:
		return fmt.Errorf("%s is not on ext4 or XFS (statfs type %#x): %w", path, sfs.Type, ErrUnsupported)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer unix.Close(fd)
	var info ifDqinfo
	err = quotactlFd(fd, qGetInfo, 0, unsafe.Pointer(&info))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("this kernel has no quotactl_fd (Linux 5.14 and CONFIG_QUOTACTL needed): %w", ErrUnsupported)
	case errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL):
		if kind == "ext4" {
			return fmt.Errorf("project quota is not on for the file system of %s: it needs a kernel with CONFIG_QUOTA and CONFIG_QFMT_V2, the ext4 features project,quota (tune2fs -O project,quota -Q prjquota on the unmounted device) and the prjquota mount option: %w", path, ErrUnsupported)
		}
		return fmt.Errorf("project quota is not on for the file system of %s: XFS needs the prjquota (pquota) mount option and CONFIG_XFS_QUOTA: %w", path, ErrUnsupported)
	default:
		return fmt.Errorf("reading project quota state of %s: %w: %w", path, err, ErrUnsupported)
	}
}

// Project returns the project id of the file or directory open at fd.
func project(fd int) (fsxattr, error) {
	var x fsxattr
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), iocFSGetXattr, uintptr(unsafe.Pointer(&x))); e != 0 {
		return x, e
	}
	return x, nil
}

func setProject(fd int, id uint32, inherit bool) error {
	x, err := project(fd)
	if err != nil {
		return err
	}
	if x.projid == id && (!inherit || x.xflags&xflagProjInherit != 0) {
		return nil
	}
	x.projid = id
	if inherit {
		x.xflags |= xflagProjInherit
	}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), iocFSSetXattr, uintptr(unsafe.Pointer(&x))); e != 0 {
		return e
	}
	return nil
}

// ProjectOf returns the project id of the directory at path.
func ProjectOf(path string) (uint32, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("opening %s: %w", path, err)
	}
	defer unix.Close(fd)
	x, err := project(fd)
	if err != nil {
		return 0, fmt.Errorf("reading project of %s: %w", path, err)
	}
	return x.projid, nil
}

// SetLimits sets project id's limits on the file system of path.
func SetLimits(path string, id uint32, l Limits) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer unix.Close(fd)
	q := ifDqblk{bhardlimit: l.BlockHardKB, bsoftlimit: l.BlockSoftKB,
		ihardlimit: l.InodeHard, isoftlimit: l.InodeSoft, valid: qifBLimits | qifILimits}
	if err := quotactlFd(fd, qSetQuota, id, unsafe.Pointer(&q)); err != nil {
		return fmt.Errorf("setting project %d quota on %s: %w", id, path, err)
	}
	return nil
}

// SetGrace sets the grace periods of all projects on the file system of
// path: ext4 and XFS keep one per file system and quota type, not one per
// project.
func SetGrace(path string, seconds uint64) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer unix.Close(fd)
	i := ifDqinfo{bgrace: seconds, igrace: seconds, valid: iifBGrace | iifIGrace}
	if err := quotactlFd(fd, qSetInfo, 0, unsafe.Pointer(&i)); err != nil {
		return fmt.Errorf("setting project quota grace on %s: %w", path, err)
	}
	return nil
}

// Get reads project id's usage and limits on the file system of path.
func Get(path string, id uint32) (Usage, Limits, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Usage{}, Limits{}, fmt.Errorf("opening %s: %w", path, err)
	}
	defer unix.Close(fd)
	var q ifDqblk
	if err := quotactlFd(fd, qGetQuota, id, unsafe.Pointer(&q)); err != nil {
		return Usage{}, Limits{}, fmt.Errorf("reading project %d quota on %s: %w", id, path, err)
	}
	return Usage{Bytes: q.curspace, Inodes: q.curinodes},
		Limits{BlockSoftKB: q.bsoftlimit, BlockHardKB: q.bhardlimit, InodeSoft: q.isoftlimit, InodeHard: q.ihardlimit}, nil
}
