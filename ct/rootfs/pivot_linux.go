package rootfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path"

	"golang.org/x/sys/unix"

	"govz/internal/inroot"
)

// PrepareRoot readies newRoot (a host path, already mounted by the caller)
// to become the root of the calling process's new mount namespace. First
// every mount is made a slave, recursively: the namespace is a copy of the
// host's, and with shared propagation our mounts and unmounts would show up
// on the host (runc's rootfsPropagation default, rslave). Then newRoot is
// bind-mounted onto itself with its submounts, because pivot_root(2) wants
// the new root to be a mount point and its parent not shared.
func PrepareRoot(newRoot string) error {
	err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, "")
	if err != nil {
		return &MountError{Target: "/", Flags: unix.MS_SLAVE | unix.MS_REC, Err: err}
	}
	err = unix.Mount(newRoot, newRoot, "", unix.MS_BIND|unix.MS_REC, "")
	if err != nil {
		return &MountError{Source: newRoot, Target: newRoot, Flags: unix.MS_BIND | unix.MS_REC, Err: err}
	}
	return nil
}

// PivotRoot makes newRoot the root and detaches the old one, runc's way
// (libcontainer/rootfs_linux.go pivotRoot, an idea credited to LXC):
// pivot_root(".", ".") stacks the old root on top of the new one at the
// same place, so no put_old directory is needed inside the guest's tree;
// the old root, still our cwd, is then lazily unmounted. It is made rslave
// once more before the unmount (not rprivate: a private copy would pin host
// mounts that the host is about to unmount, which races with it), so the
// unmount cannot propagate back to the host.
func PivotRoot(newRoot string) error {
	oldRoot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(oldRoot)
	nr, err := unix.Open(newRoot, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: newRoot, Err: err}
	}
	defer unix.Close(nr)
	if err := unix.Fchdir(nr); err != nil {
		return &fs.PathError{Op: "fchdir", Path: newRoot, Err: err}
	}
	return pivotHere(oldRoot)
}

// pivotHere pivots into the current directory (the root of a mount) and
// detaches the old root, which oldRoot holds open.
func pivotHere(oldRoot int) error {
	if err := unix.PivotRoot(".", "."); err != nil {
		return &fs.PathError{Op: "pivot_root", Path: ".", Err: err}
	}
	// The kernel leaves our cwd on the old root today, but nothing promises
	// that; go there explicitly.
	if err := unix.Fchdir(oldRoot); err != nil {
		return &fs.PathError{Op: "fchdir", Path: "old root", Err: err}
	}
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return &MountError{Target: "old root", Flags: unix.MS_SLAVE | unix.MS_REC, Err: err}
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return &fs.PathError{Op: "umount", Path: "old root", Err: err}
	}
	if err := unix.Chdir("/"); err != nil {
		return &fs.PathError{Op: "chdir", Path: "/", Err: err}
	}
	return nil
}

// Clone returns a detached bind mount of host path p (open_tree(2) with
// OPEN_TREE_CLONE), to be attached inside the container after the pivot
// with an OpAttach step. With fd >= 0 and p == "" the mount is of what fd
// refers to.
func Clone(fd int, p string) (int, error) {
	dfd, flags := unix.AT_FDCWD, uint(unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if fd >= 0 {
		dfd = fd
		flags |= unix.AT_EMPTY_PATH
	}
	mfd, err := unix.OpenTree(dfd, p, flags)
	if err != nil {
		return -1, &fs.PathError{Op: "open_tree", Path: cloneName(fd, p), Err: err}
	}
	return mfd, nil
}

// readyHook is the script planted for non-systemd guests; the first line
// after the shebang marks it as ours, so a guest's own hook is never
// overwritten.
const readyHookMarker = "# govz readiness hook"

const readyHook = "#!/bin/sh\n" + readyHookMarker + ": tells the host that boot has finished\n" +
	"# (\"vzctl start --wait\"). Rewritten at every start; delete this line to keep\n" +
	"# your own version.\n" +
	"[ -p " + ReadyPath + " ] && echo READY=1 >" + ReadyPath + "\nexit 0\n"

// ReadyHookPaths are where a readiness hook is planted, each only if its
// directory exists: busybox templates' rcS runs /etc/init.d/ready last;
// OpenRC's local service runs /etc/local.d/*.start at the end of boot.
var ReadyHookPaths = []string{"/etc/init.d/ready", "/etc/local.d/govz-ready.start"}

// PlantReadyHooks writes the readiness hook at ReadyHookPaths inside the
// tree at root (a host path, or "/" from inside the container), through
// internal/inroot, so the guest's symlinks cannot lead out of root and its
// FIFOs cannot block the start. It returns the paths it wrote.
func PlantReadyHooks(root string) ([]string, error) {
	r, err := inroot.Open(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var planted []string
	for _, p := range ReadyHookPaths {
		ok, err := plantOne(r, p)
		if err != nil {
			return planted, err
		}
		if ok {
			planted = append(planted, p)
		}
	}
	return planted, nil
}

func plantOne(r *inroot.Root, p string) (bool, error) {
	if _, err := r.Stat(path.Dir(p)); errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	// An existing file that is not ours stays untouched: a symlink, a
	// FIFO, or a file without the marker.
	if f, err := r.OpenFile(p, unix.O_RDONLY|unix.O_NOFOLLOW, inroot.Regular); err == nil {
		buf := make([]byte, len(readyHook)+1)
		n, _ := io.ReadFull(f, buf)
		f.Close()
		if n <= 0 || !bytes.Contains(buf[:n], []byte(readyHookMarker)) {
			return false, nil
		}
		if string(buf[:n]) == readyHook {
			return true, nil // as written last time: no rewrite, no fsync
		}
	} else if !errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err := r.WriteFile(p, []byte(readyHook), 0o755); err != nil {
		return false, err
	}
	return true, nil
}
