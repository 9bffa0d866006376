package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"govz/ct/vzerror"
)

// HostKernel is the real Kernel. The caller sets umask 0 first, so modes
// are exact.
type HostKernel struct{}

// Stat implements Kernel.
func (HostKernel) Stat(p string) (bool, bool, error) {
	var st unix.Stat_t
	err := unix.Lstat(p, &st)
	if errors.Is(err, unix.ENOENT) {
		return false, false, nil
	}
	if err != nil {
		return false, false, &fs.PathError{Op: "lstat", Path: p, Err: err}
	}
	return true, st.Mode&unix.S_IFMT == unix.S_IFDIR, nil
}

// Mkdir implements Kernel.
func (HostKernel) Mkdir(p string, mode uint32) error {
	if err := unix.Mkdir(p, mode); err != nil {
		return &fs.PathError{Op: "mkdir", Path: p, Err: err}
	}
	return nil
}

// Mount implements Kernel.
func (HostKernel) Mount(source, target, fstype string, flags uintptr, data string) error {
	for {
		err := unix.Mount(source, target, fstype, flags, data)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return &MountError{Source: source, Target: target, FSType: fstype, Flags: flags, Data: data, Err: err}
		}
		return nil
	}
}

// Mknod implements Kernel.
func (HostKernel) Mknod(p string, mode uint32, char bool, dev uint64) error {
	typ := uint32(unix.S_IFBLK)
	if char {
		typ = unix.S_IFCHR
	}
	if err := unix.Mknod(p, typ|mode, int(dev)); err != nil {
		return &fs.PathError{Op: "mknod", Path: p, Err: err}
	}
	return nil
}

// Symlink implements Kernel.
func (HostKernel) Symlink(target, p string) error {
	if err := unix.Symlink(target, p); err != nil {
		return &fs.PathError{Op: "symlink", Path: p, Err: err}
	}
	return nil
}

// WriteFile implements Kernel; it never follows a symlink at p.
func (HostKernel) WriteFile(p string, data []byte, mode uint32) error {
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err != nil {
		return &fs.PathError{Op: "open", Path: p, Err: err}
	}
	f := os.NewFile(uintptr(fd), p)
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// MoveMount implements Kernel.
func (HostKernel) MoveMount(fd int, target string) error {
	err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH)
	if err != nil {
		return &fs.PathError{Op: "move_mount", Path: target, Err: err}
	}
	return nil
}

// MountError is a failed mount(2) with its arguments.
type MountError struct {
	Source, Target, FSType, Data string
	Flags                        uintptr
	Err                          error
}

func (e *MountError) Error() string {
	return fmt.Sprintf("mount %s on %s (type %q, flags %#x, data %q): %v", e.Source, e.Target, e.FSType, e.Flags, e.Data, e.Err)
}

// Unwrap returns the errno.
func (e *MountError) Unwrap() error { return e.Err }

// Is makes a failed mount vzctl's "mount failed" (exit 50).
func (e *MountError) Is(target error) bool { return target == vzerror.ErrMount }
