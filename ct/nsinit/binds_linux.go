package nsinit

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"govz/ct/rootfs"
	"govz/ct/vzerror"
)

// mountBind names bind i's detached mount in Config.Mounts.
const mountBind = "bind:"

// bindMounts clones each bindmount source on the host (the supervisor's
// view: the container could not look the path up) as a detached mount:
// idmapped through userns for a container with its own ID range, so files
// host root owns are its root's, as on its root file system; nosuid and
// nodev always, since a host device node or setuid file in a bound tree
// must not become one inside; read-only when asked, recursively, before
// the container ever sees it.
func bindMounts(c *Config, userns int, add func(string, int)) error {
	for i, b := range c.FS.Binds {
		var fd int
		var err error
		if c.IDMap && userns >= 0 {
			fd, err = rootfs.CloneIDMapped(b.Source, userns)
		} else {
			fd, err = rootfs.CloneRoot(b.Source)
		}
		if err != nil {
			return fmt.Errorf("bindmount %s: %w: %w", b.Source, err, vzerror.ErrMount)
		}
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
		if b.ReadOnly {
			attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
		}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bindmount %s: mount_setattr: %w: %w", b.Source, err, vzerror.ErrMount)
		}
		add(mountBind+strconv.Itoa(i), fd)
	}
	return nil
}

// bindFDs gives each bind of fs its detached mount from mounts.
func bindFDs(fs *rootfs.Config, mounts map[string]int) error {
	for name, fd := range mounts {
		if i, ok := strings.CutPrefix(name, mountBind); ok {
			n, err := strconv.Atoi(i)
			if err != nil || n < 0 || n >= len(fs.Binds) {
				return fmt.Errorf("bad bind mount name %q: %w", name, vzerror.ErrMount)
			}
			fs.Binds[n].FD = fd
		}
	}
	for _, b := range fs.Binds {
		if b.FD <= 0 {
			return fmt.Errorf("no detached mount for bindmount %s: %w", b.Target, vzerror.ErrMount)
		}
	}
	return nil
}
