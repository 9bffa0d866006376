package checkpoint

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"govz/ct/rootfs"
)

// prepareDev mounts at dir a tmpfs made as the boot makes the container's
// /dev (ct/rootfs plan.go): empty files for the bound device nodes and the
// console, the links, the mount points; owned by the container's root.
// CRIU binds it as the restored /dev (see devKey) and restores the mounts
// below it. The returned func unmounts the host's side.
func prepareDev(dir string, uid, gid int) (func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// nosuid and strictatime as the boot's: a bind inside a user namespace
	// cannot change the atime and nosuid flags it got from the host.
	data := fmt.Sprintf("mode=755,size=%s,uid=%d,gid=%d", rootfs.DefaultDevSize, uid, gid)
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, data); err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("mounting %s: %w", dir, err)
	}
	undo := func() {
		unix.Unmount(dir, unix.MNT_DETACH)
		os.Remove(dir)
	}
	err := func() error {
		files := []string{"console"}
		for _, d := range rootfs.DefaultNodes {
			files = append(files, d.Path)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
				return err
			}
		}
		for _, l := range [][2]string{
			{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
			{"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
			{"ptmx", "pts/ptmx"},
		} {
			if err := os.Symlink(l[1], filepath.Join(dir, l[0])); err != nil {
				return err
			}
		}
		for _, d := range []struct {
			name string
			mode os.FileMode
		}{{"pts", 0o755}, {"shm", 0o1777}, {"mqueue", 0o755}} {
			if err := os.Mkdir(filepath.Join(dir, d.name), d.mode); err != nil {
				return err
			}
			os.Chmod(filepath.Join(dir, d.name), d.mode) // past the umask
		}
		return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
			if err != nil || p == dir {
				return err
			}
			return os.Lchown(p, uid, gid)
		})
	}()
	if err != nil {
		undo()
		return nil, fmt.Errorf("preparing %s: %w", dir, err)
	}
	return undo, nil
}

// prepareMask mounts at dir an empty tmpfs as the boot's masks are
// (ct/rootfs, OpMask): read-only, nosuid, nodev, noexec, mode 555. CRIU
// binds it on every masked directory (see maskKey); a bind keeps those
// flags, and made from inside the container's user namespace it cannot
// drop them. The returned func unmounts the host's side.
func prepareMask(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	flags := uintptr(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := unix.Mount("tmpfs", dir, "tmpfs", flags, "mode=555,size=4k"); err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("mounting %s: %w", dir, err)
	}
	return func() {
		unix.Unmount(dir, unix.MNT_DETACH)
		os.Remove(dir)
	}, nil
}
