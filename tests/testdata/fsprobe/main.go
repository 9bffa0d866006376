// Command fsprobe tries one storage ioctl that a container's seccomp filter
// must refuse, and prints "OP=ok" or "OP=ERRNO". The end-to-end tests
// build it statically (also for 386, the compat syscall path), copy it
// into a container and run it there, and run it on the host as the
// control: the same call that the filter refuses works without it.
//
//	fsprobe OP PATH
//
// subvol, subvol-high, subvol-v2: create a btrfs subvolume at PATH
// (BTRFS_IOC_SUBVOL_CREATE; -high sets the request's upper 32 bits, which
// the kernel ignores; -v2 is BTRFS_IOC_SUBVOL_CREATE_V2). snap: snapshot
// PATH's parent directory, a subvolume, to PATH. rescan-status: BTRFS_IOC_QUOTA_RESCAN_STATUS
// on PATH. tree-search: one item of PATH's root tree (BTRFS_IOC_TREE_SEARCH).
// thaw: FITHAW on PATH (EINVAL on a file system that is not frozen).
// fssetxattr: FS_IOC_FSGETXATTR then FS_IOC_FSSETXATTR of the same values.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"unsafe"
)

const (
	subvolCreate   = 0x5000940e
	subvolCreateV2 = 0x50009418
	snapCreateV2   = 0x50009417
	rescanStatus   = 0x8040942d
	treeSearch     = 0xd0009411
	fithaw         = 0xc0045878
	fsGetXattr     = 0x801c581f
	fsSetXattr     = 0x401c5820
)

func ioctl(fd uintptr, req uint64, arg unsafe.Pointer) error {
	r := uintptr(req)
	if unsafe.Sizeof(r) < 8 && req>>32 != 0 {
		return syscall.EINVAL // no upper half to set on a 32-bit caller
	}
	_, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, r, uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}

func open(p string) *os.File {
	f, err := os.Open(p)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	return f
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: fsprobe OP PATH")
		os.Exit(2)
	}
	op, path := os.Args[1], os.Args[2]
	var err error
	switch op {
	case "subvol", "subvol-high", "subvol-v2", "snap":
		parent := open(filepath.Dir(path))
		defer parent.Close()
		// struct btrfs_ioctl_vol_args{,_v2}: 4096 bytes, the name at 8
		// (v1) or 56 (v2), the source fd of a snapshot at 0.
		var args [4096]byte
		req, nameAt := uint64(subvolCreate), 8
		switch op {
		case "subvol-high":
			req |= 0xdead << 32
		case "subvol-v2":
			req, nameAt = subvolCreateV2, 56
		case "snap":
			req, nameAt = snapCreateV2, 56
			*(*int64)(unsafe.Pointer(&args[0])) = int64(parent.Fd())
		}
		copy(args[nameAt:], filepath.Base(path))
		err = ioctl(parent.Fd(), req, unsafe.Pointer(&args[0]))
	case "rescan-status":
		f := open(path)
		defer f.Close()
		var args [64]byte
		err = ioctl(f.Fd(), rescanStatus, unsafe.Pointer(&args[0]))
	case "tree-search":
		f := open(path)
		defer f.Close()
		// struct btrfs_ioctl_search_args: the key (104 bytes) then the
		// result buffer. tree_id 1 is the root tree, listing every
		// subvolume of the file system.
		var args [4096]byte
		u64 := func(off int, v uint64) { *(*uint64)(unsafe.Pointer(&args[off])) = v }
		u64(0, 1)                                   // tree_id
		u64(16, ^uint64(0))                         // max_objectid
		u64(32, ^uint64(0))                         // max_offset
		u64(48, ^uint64(0))                         // max_transid
		*(*uint32)(unsafe.Pointer(&args[60])) = 255 // max_type
		*(*uint32)(unsafe.Pointer(&args[64])) = 1   // nr_items
		err = ioctl(f.Fd(), treeSearch, unsafe.Pointer(&args[0]))
	case "thaw":
		f := open(path)
		defer f.Close()
		err = ioctl(f.Fd(), fithaw, nil)
	case "fssetxattr":
		f := open(path)
		defer f.Close()
		var x [28]byte // struct fsxattr
		if err = ioctl(f.Fd(), fsGetXattr, unsafe.Pointer(&x[0])); err == nil {
			err = ioctl(f.Fd(), fsSetXattr, unsafe.Pointer(&x[0]))
		}
	default:
		fmt.Fprintln(os.Stderr, "fsprobe: unknown op", op)
		os.Exit(2)
	}
	if err == nil {
		fmt.Printf("%s=ok\n", op)
		return
	}
	if e, ok := err.(syscall.Errno); ok {
		fmt.Printf("%s=%s\n", op, errnoName(e))
		return
	}
	fmt.Printf("%s=%v\n", op, err)
}

func errnoName(e syscall.Errno) string {
	for name, v := range map[string]syscall.Errno{"EPERM": syscall.EPERM, "EINVAL": syscall.EINVAL,
		"ENOTTY": syscall.ENOTTY, "EEXIST": syscall.EEXIST, "EACCES": syscall.EACCES, "ENOENT": syscall.ENOENT} {
		if e == v {
			return name
		}
	}
	return fmt.Sprintf("errno%d", int(e))
}
