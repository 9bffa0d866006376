package rootfs

import (
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// Detached mounts (open_tree(2) OPEN_TREE_CLONE, fsmount(2)) are how host
// objects reach the container: the supervisor, which sees the host's tree
// and may read the run directory, makes them and passes the file
// descriptors to the container's init over its socket; the init attaches
// them with move_mount(2) once its root is in place. A container in a user
// namespace could not make them itself: its root may not even look up the
// host paths (a 0700 run directory owned by host root), and the kernel
// lets it mount procfs and sysfs only while a fully visible instance of
// each is still in its mount namespace (mount_too_revealing), i.e. before
// the old root goes.

// ClonePrivate returns a detached bind mount of host path p (or of what fd
// refers to, with fd >= 0 and p == ""), with private propagation: a clone
// of a shared mount would otherwise join its peer group, and whatever the
// guest later mounts on it would appear on the host.
func ClonePrivate(fd int, p string) (int, error) {
	mfd, err := Clone(fd, p)
	if err != nil {
		return -1, err
	}
	attr := unix.MountAttr{Propagation: unix.MS_PRIVATE}
	if err := unix.MountSetattr(mfd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(mfd)
		return -1, &fs.PathError{Op: "mount_setattr private", Path: cloneName(fd, p), Err: err}
	}
	return mfd, nil
}

// CloneIDMapped returns a detached recursive bind mount of host directory
// p, idmapped through the user namespace usernsFD names (man 2
// mount_setattr, MOUNT_ATTR_IDMAP): the container's root then sees files
// that host root owns on disk as its own, and its root writes files that
// are owned by host root on disk, without a chown of the tree. Propagation
// is slave, as PrepareRoot makes the root of a container without a user
// namespace: mounts the host makes below p still reach the container,
// nothing flows back.
func CloneIDMapped(p string, usernsFD int) (int, error) {
	mfd, err := CloneRoot(p)
	if err != nil {
		return -1, err
	}
	idmap := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(usernsFD)}
	if err := unix.MountSetattr(mfd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &idmap); err != nil {
		unix.Close(mfd)
		return -1, &fs.PathError{Op: "mount_setattr idmap", Path: p, Err: fmt.Errorf("%w (the filesystem must support idmapped mounts)", err)}
	}
	return mfd, nil
}

// CloneRoot returns a detached recursive bind mount of host directory p
// with slave propagation, not idmapped: the root of a container whose user
// namespace maps every ID to itself (a privileged container), which owns
// its mount namespace and so cannot bind a host path it may not look up
// after the pivot, and needs its procfs and sysfs made before it (see
// above), exactly like one with LOCAL_UID.
func CloneRoot(p string) (int, error) {
	mfd, err := unix.OpenTree(unix.AT_FDCWD, p, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return -1, &fs.PathError{Op: "open_tree", Path: p, Err: err}
	}
	prop := unix.MountAttr{Propagation: unix.MS_SLAVE}
	if err := unix.MountSetattr(mfd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &prop); err != nil {
		unix.Close(mfd)
		return -1, &fs.PathError{Op: "mount_setattr slave", Path: p, Err: err}
	}
	return mfd, nil
}

// NewKernelFS returns a detached, fresh mount of procfs or sysfs ("proc",
// "sysfs") made by the calling process, so it belongs to the caller's PID
// or network namespace; readOnly makes the superblock read-only too, so a
// second mount of it inside stays read-only. Call it before the old root
// is detached (see above).
func NewKernelFS(fstype string, readOnly bool) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, &fs.PathError{Op: "fsopen", Path: fstype, Err: err}
	}
	defer unix.Close(fsfd)
	if readOnly {
		if err := unix.FsconfigSetFlag(fsfd, "ro"); err != nil {
			return -1, &fs.PathError{Op: "fsconfig ro", Path: fstype, Err: err}
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, &fs.PathError{Op: "fsconfig create", Path: fstype, Err: err}
	}
	attrs := unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
	if readOnly {
		attrs |= unix.MOUNT_ATTR_RDONLY
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return -1, &fs.PathError{Op: "fsmount", Path: fstype, Err: err}
	}
	return mfd, nil
}

// PivotRootFD makes the detached mount rootFD (CloneIDMapped's) the root
// of the calling process's mount namespace and detaches the old root. It
// never looks up a host path: the mount is attached on top of "/" (where
// every process of the namespace can reach it), and pivot_root(".", ".")
// from inside it swaps it with the root it covers, as PivotRoot does.
// Everything is made a slave first so that nothing propagates to the host.
func PivotRootFD(rootFD int) error {
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return &MountError{Target: "/", Flags: unix.MS_SLAVE | unix.MS_REC, Err: err}
	}
	oldRoot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(oldRoot)
	if err := unix.MoveMount(rootFD, "", unix.AT_FDCWD, "/", unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return &fs.PathError{Op: "move_mount", Path: "/", Err: err}
	}
	if err := unix.Fchdir(rootFD); err != nil {
		return &fs.PathError{Op: "fchdir", Path: "new root", Err: err}
	}
	return pivotHere(oldRoot)
}

func cloneName(fd int, p string) string {
	if p == "" {
		return fmt.Sprintf("fd %d", fd)
	}
	return p
}
