package btrfs

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The btrfs ioctl ABI (include/uapi/linux/btrfs.h). x/sys has none of it,
// so the argument structs and request numbers are spelt out here; the
// tests pin the numbers to the values the C headers produce.

const (
	ioctlMagic = 0x94

	// firstFreeObjectID is the inode number of every subvolume's root
	// directory (BTRFS_FIRST_FREE_OBJECTID).
	firstFreeObjectID = 256

	subvolRDOnly = 1 << 1 // BTRFS_SUBVOL_RDONLY

	quotaCtlEnable = 1 // BTRFS_QUOTA_CTL_ENABLE

	qgroupLimitMaxRfer = 1 << 0 // BTRFS_QGROUP_LIMIT_MAX_RFER
	// clearValue removes a limit (CLEAR_VALUE in fs/btrfs/qgroup.c).
	clearValue = ^uint64(0)

	pathNameMax   = 4087 // BTRFS_PATH_NAME_MAX
	subvolNameMax = 4039 // BTRFS_SUBVOL_NAME_MAX
	inoLookupPath = 4080 // BTRFS_INO_LOOKUP_PATH_MAX
)

// volArgs is struct btrfs_ioctl_vol_args.
type volArgs struct {
	fd   int64
	name [pathNameMax + 1]byte
}

// volArgsV2 is struct btrfs_ioctl_vol_args_v2.
type volArgsV2 struct {
	fd      int64
	transid uint64
	flags   uint64
	unused  [4]uint64 // size + qgroup_inherit pointer; unused here
	name    [subvolNameMax + 1]byte
}

// inoLookupArgs is struct btrfs_ioctl_ino_lookup_args.
type inoLookupArgs struct {
	treeid   uint64
	objectid uint64
	name     [inoLookupPath]byte
}

// quotaCtlArgs is struct btrfs_ioctl_quota_ctl_args.
type quotaCtlArgs struct {
	cmd    uint64
	status uint64
}

// qgroupCreateArgs is struct btrfs_ioctl_qgroup_create_args.
type qgroupCreateArgs struct {
	create   uint64
	qgroupid uint64
}

// qgroupLimitArgs is struct btrfs_ioctl_qgroup_limit_args.
type qgroupLimitArgs struct {
	qgroupid uint64
	flags    uint64
	maxRfer  uint64
	maxExcl  uint64
	rsvRfer  uint64
	rsvExcl  uint64
}

// quotaRescanArgs is struct btrfs_ioctl_quota_rescan_args.
type quotaRescanArgs struct {
	flags    uint64
	progress uint64
	reserved [6]uint64
}

// fsInfoArgs is struct btrfs_ioctl_fs_info_args.
type fsInfoArgs struct {
	maxID      uint64
	numDevices uint64
	fsid       [16]byte
	nodesize   uint32
	sectorsize uint32
	cloneAlign uint32
	csumType   uint16
	csumSize   uint16
	flags      uint64
	generation uint64
	metaUUID   [16]byte
	reserved   [944]byte
}

// ioc is the kernel's _IOC(dir, type, nr, size).
func ioc(dir, nr, size uintptr) uintptr {
	return dir<<30 | size<<16 | ioctlMagic<<8 | nr
}

const (
	iocNone  = 0
	iocWrite = 1
	iocRead  = 2
)

var (
	iocSnapDestroy    = ioc(iocWrite, 15, unsafe.Sizeof(volArgs{}))
	iocInoLookup      = ioc(iocWrite|iocRead, 18, unsafe.Sizeof(inoLookupArgs{}))
	iocSnapCreateV2   = ioc(iocWrite, 23, unsafe.Sizeof(volArgsV2{}))
	iocSubvolCreateV2 = ioc(iocWrite, 24, unsafe.Sizeof(volArgsV2{}))
	iocSubvolGetFlags = ioc(iocRead, 25, 8)
	iocSubvolSetFlags = ioc(iocWrite, 26, 8)
	iocFSInfo         = ioc(iocRead, 31, unsafe.Sizeof(fsInfoArgs{}))
	iocQuotaCtl       = ioc(iocWrite|iocRead, 40, unsafe.Sizeof(quotaCtlArgs{}))
	iocQgroupCreate   = ioc(iocWrite, 42, unsafe.Sizeof(qgroupCreateArgs{}))
	// The header declares QGROUP_LIMIT as _IOR although it passes data in.
	iocQgroupLimit     = ioc(iocRead, 43, unsafe.Sizeof(qgroupLimitArgs{}))
	iocQuotaRescan     = ioc(iocWrite, 44, unsafe.Sizeof(quotaRescanArgs{}))
	iocQuotaRescanWait = ioc(iocNone, 46, 0)
)

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}

// setName copies name into a fixed C buffer, refusing what does not fit.
func setName(dst []byte, name string) bool {
	if len(name) >= len(dst) || len(name) == 0 {
		return false
	}
	copy(dst, name)
	return true
}
