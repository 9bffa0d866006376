package rootfs

import (
	"fmt"
	"path"

	"golang.org/x/sys/unix"

	"govz/ct/vzerror"
)

// HostDevNode describes the host's /dev/NAME ("net/tun", "fuse") as a node
// for a container, with the access vzctl's --devnodes gave ("rw", "r",
// "none" is the caller's business). The node's type and numbers are the
// host's; the mode is made world read/writable as the cgroup decides
// access.
func HostDevNode(name, access string) (DevNode, error) {
	p := path.Join("/dev", name)
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return DevNode{}, fmt.Errorf("device %s: %w: %w", p, err, vzerror.ErrSetDevices)
	}
	d := DevNode{Path: path.Clean(name), Major: unix.Major(st.Rdev), Minor: unix.Minor(st.Rdev), Mode: 0o666, Access: access}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		d.Type = 'c'
	case unix.S_IFBLK:
		d.Type = 'b'
	default:
		return DevNode{}, fmt.Errorf("%s is not a device node: %w", p, vzerror.ErrSetDevices)
	}
	if err := d.Validate(); err != nil {
		return DevNode{}, err
	}
	return d, nil
}
