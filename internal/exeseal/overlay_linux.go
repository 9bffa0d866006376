package exeseal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Method says how an executable was made safe to show a guest.
type Method string

const (
	// Overlay: the file itself, opened through a private read-only
	// overlayfs mount of its directory (no copy).
	Overlay Method = "overlayfs"
	// Memfd: a sealed memfd copy (Copy), made for this call.
	Memfd Method = "memfd"
	// Inherited: the running executable already is a sealed copy.
	Inherited Method = "memfd (inherited)"
)

// SelfNoCopy returns the running executable as the file to re-execute
// inside a container, and how it was made safe: opened through a private
// read-only overlayfs mount when the kernel allows it (no copy, nothing
// to free), else Self's sealed memfd copy. why says why the overlay was
// not used ("" when it was).
//
// The overlay (runc >= 1.2, libcontainer/exeseal) is a lower-only mount
// (two lower directories and no upper one make overlayfs read-only for
// good, with no writable layer to remount into) of the executable's
// directory, made with fsopen(2)/fsconfig/fsmount and never attached to
// any mount namespace: nobody can reach it by a path, and nothing can
// make it writable. A guest that gets hold of the file (its
// /proc/PID/exe, or /proc/self/exe after a "#!/proc/self/exe" script)
// finds an inode of that mount: opening it for writing fails with EROFS
// whether or not a host process still executes it, and the host's inode
// is not reachable from it. spare is the second, bottom lower directory
// overlayfs insists on (any existing directory that neither contains nor
// lies inside the executable's; its entries are shadowed by the
// executable's directory and reachable by no one); it stays referenced
// for as long as something holds the file.
//
// The file is O_PATH and close-on-exec: hand it over as an inherited
// descriptor and execute Path(fd), as for a copy. The caller closes it.
func SelfNoCopy(spare string) (f *os.File, how Method, why string, err error) {
	f, oerr := overlaySelf(spare)
	if oerr == nil {
		return f, Overlay, "", nil
	}
	f, err = Self()
	if err != nil {
		return nil, "", "", err
	}
	how = Memfd
	if self, serr := os.Open("/proc/self/exe"); serr == nil {
		if Sealed(self) {
			how = Inherited
		}
		self.Close()
	}
	return f, how, oerr.Error(), nil
}

// overlaySelf opens the running executable through a new private
// read-only overlayfs (see SelfNoCopy).
func overlaySelf(spare string) (*os.File, error) {
	path, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("reading /proc/self/exe: %w", err)
	}
	// The link is a path only for a file of an attached mount that still
	// has it: a deleted or replaced binary (" (deleted)", another inode),
	// a memfd copy or a detached overlay ("/vzctl", resolved in the
	// host's root) name something else, which must not be re-executed.
	var self, named unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &self); err != nil {
		return nil, fmt.Errorf("stat /proc/self/exe: %w", err)
	}
	if !filepath.IsAbs(path) || unix.Stat(path, &named) != nil || named.Dev != self.Dev || named.Ino != self.Ino {
		return nil, fmt.Errorf("/proc/self/exe (%s) is no file reachable by its path", path)
	}
	dir, name := filepath.Split(path)
	if spare == "" || !filepath.IsAbs(spare) {
		return nil, fmt.Errorf("spare lower directory %q is not an absolute path", spare)
	}
	ctx, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(ctx)
	// The executable's directory on top, so that nothing in spare
	// shadows it.
	lower := escapeLower(filepath.Clean(dir)) + ":" + escapeLower(filepath.Clean(spare))
	if err := unix.FsconfigSetString(ctx, "lowerdir", lower); err != nil {
		return nil, fmt.Errorf("overlay lowerdir=%s: %w", lower, err)
	}
	// Inode numbers do not matter here; with layers on different file
	// systems xino would be turned on and log about it. Old kernels
	// (< 4.17) lack the option, and the mount works without it.
	_ = unix.FsconfigSetString(ctx, "xino", "off")
	if err := unix.FsconfigCreate(ctx); err != nil {
		return nil, fmt.Errorf("creating overlay (lowerdir=%s): %w", lower, err)
	}
	mnt, err := unix.Fsmount(ctx, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return nil, fmt.Errorf("fsmount overlay: %w", err)
	}
	defer unix.Close(mnt)
	fd, err := unix.Openat(mnt, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s in the overlay: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), "overlay:"+path)
	// overlayfs reports its own device (and, without xino, may keep the
	// lower inode number), so identity cannot be compared; size and mode
	// catch a file swapped in between.
	var got unix.Stat_t
	if err := unix.Fstat(fd, &got); err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s in the overlay: %w", name, err)
	}
	if got.Mode != self.Mode || got.Size != self.Size {
		f.Close()
		return nil, errors.New("the executable changed while its overlay was made")
	}
	return f, nil
}

// escapeLower escapes the separators of overlayfs's lowerdir list
// (Documentation/filesystems/overlayfs.rst): ':' between layers, '\'
// the escape itself.
func escapeLower(p string) string {
	return strings.ReplaceAll(strings.ReplaceAll(p, `\`, `\\`), `:`, `\:`)
}
