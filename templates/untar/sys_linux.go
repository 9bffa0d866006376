//go:build linux

package untar

import (
	"bytes"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// futimens sets the times of the file open at fd. x/sys has no wrapper
// that passes utimensat(2) a NULL path, which is how futimens(3) works.
func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0,
		uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// xattrArgs is struct xattr_args from <linux/xattr.h>.
type xattrArgs struct {
	value uint64
	size  uint32
	flags uint32
}

// setxattrat sets attribute attr of name (relative to dirfd) without
// following name if it is a symlink: setxattrat(2), Linux 6.13. It is the
// only way to set an xattr on a symlink or device node by a name relative
// to a directory fd; lsetxattr(2) takes a whole path, and opening a device
// node is out of the question. value is a string so that its bytes live
// in the heap, where the kernel may be handed their address.
func setxattrat(dirfd int, name, attr, value string) error {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	a, err := unix.BytePtrFromString(attr)
	if err != nil {
		return err
	}
	args := xattrArgs{size: uint32(len(value))}
	if len(value) > 0 {
		args.value = uint64(uintptr(unsafe.Pointer(unsafe.StringData(value))))
	}
	_, _, e := unix.Syscall6(unix.SYS_SETXATTRAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		unix.AT_SYMLINK_NOFOLLOW, uintptr(unsafe.Pointer(a)), uintptr(unsafe.Pointer(&args)),
		unsafe.Sizeof(args))
	if e != 0 {
		return e
	}
	return nil
}

// processUmask reads the umask from /proc/self/status (Linux 4.7) rather
// than with umask(2), which can only read it by changing it, process-wide.
// When it cannot be read every mode is set explicitly.
func processUmask() uint32 {
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for line := range bytes.Lines(b) {
			v, ok := bytes.CutPrefix(line, []byte("Umask:"))
			if !ok {
				continue
			}
			m, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 8, 32)
			if err == nil {
				return uint32(m)
			}
		}
	}
	return 0o7777
}
