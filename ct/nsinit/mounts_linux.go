package nsinit

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"govz/ct/rootfs"
	"govz/ct/vzerror"
)

// Names of the detached mounts that travel with the config message
// (Config.Mounts); a device node is "/dev/" + its path.
const (
	mountRoot    = "root"
	mountConsole = "console"
	mountNotify  = "notify"
	mountReady   = "ready"
)

// maxMounts bounds the descriptors of one config message (SCM_MAX_FD is
// 253).
const maxMounts = 200

// hostMounts clones, in the supervisor's (the host's) mount namespace,
// every host object the child attaches inside the container: the console
// pty slave, the notify socket, the readiness fifo and, for a container in
// a user namespace, its idmapped root and the host's device nodes. It
// fills c.Mounts with their names, in the order of the returned fds.
func hostMounts(c *Config, console *os.File, pid int) (fds []int, err error) {
	defer func() {
		if err != nil {
			closeAll(fds)
			fds = nil
			c.Mounts = nil
		}
	}()
	c.Mounts = nil
	add := func(name string, fd int) {
		c.Mounts = append(c.Mounts, name)
		fds = append(fds, fd)
	}
	if c.Console && console != nil {
		fd, err := rootfs.ClonePrivate(int(console.Fd()), "")
		if err != nil {
			return fds, fmt.Errorf("console: %w", err)
		}
		add(mountConsole, fd)
	}
	if c.NotifySocket != "" {
		fd, err := rootfs.ClonePrivate(-1, c.NotifySocket)
		if err != nil {
			return fds, fmt.Errorf("notify socket: %w", err)
		}
		add(mountNotify, fd)
	}
	if c.ReadyFifo != "" {
		fd, err := rootfs.ClonePrivate(-1, c.ReadyFifo)
		if err != nil {
			return fds, fmt.Errorf("readiness fifo: %w", err)
		}
		add(mountReady, fd)
	}
	if !c.UserNS {
		return fds, bindMounts(c, -1, add)
	}
	userns, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fds, fmt.Errorf("opening the container's user namespace: %w", err)
	}
	defer unix.Close(userns)
	if err := bindMounts(c, userns, add); err != nil {
		return fds, err
	}
	var fd int
	if c.IDMap {
		fd, err = rootfs.CloneIDMapped(c.Rootfs, userns)
	} else {
		fd, err = rootfs.CloneRoot(c.Rootfs)
	}
	if err != nil {
		return fds, fmt.Errorf("container root: %w: %w", err, vzerror.ErrMount)
	}
	add(mountRoot, fd)
	for _, d := range append(append([]rootfs.DevNode(nil), rootfs.DefaultNodes...), c.FS.DevNodes...) {
		fd, err := cloneDevNode(d)
		if err != nil {
			return fds, err
		}
		add("/dev/"+d.Path, fd)
	}
	if len(fds) > maxMounts {
		return fds, fmt.Errorf("%d mounts for the container: too many: %w", len(fds), vzerror.ErrInvalidValue)
	}
	return fds, nil
}

// cloneDevNode returns a detached bind mount of the host's /dev node for
// d, after checking that it is the device d names: the bind gives the
// container the host's inode, with its owner and mode.
func cloneDevNode(d rootfs.DevNode) (int, error) {
	p := "/dev/" + d.Path
	fd, err := rootfs.ClonePrivate(-1, p)
	if err != nil {
		return -1, fmt.Errorf("device node: %w: %w", err, vzerror.ErrSetDevices)
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	typ := uint32(unix.S_IFCHR)
	if d.Type == 'b' {
		typ = unix.S_IFBLK
	}
	if err == nil && (st.Mode&unix.S_IFMT != typ || unix.Major(st.Rdev) != d.Major || unix.Minor(st.Rdev) != d.Minor) {
		err = fmt.Errorf("not device %c %d:%d", d.Type, d.Major, d.Minor)
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("host device node %s: %w: %w", p, err, vzerror.ErrSetDevices)
	}
	return fd, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// sendWithFDs sends m with fds attached (SCM_RIGHTS) on the parent's
// non-blocking end.
func sendWithFDs(sock *os.File, m *message, fds []int) error {
	b, err := encode(m)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	rc, err := sock.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), b, oob, nil, 0)
		return !errors.Is(serr, unix.EAGAIN)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("sending %s: %w", m.Type, err)
	}
	return nil
}

// recvWithFDs reads one message and the descriptors that came with it
// (close-on-exec) from the child's blocking end.
func recvWithFDs(fd int) (*message, []int, error) {
	buf := make([]byte, maxMessage)
	oob := make([]byte, unix.CmsgSpace(4*maxMounts))
	for {
		n, oobn, flags, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		var fds []int
		if oobn > 0 {
			cms, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				return nil, nil, fmt.Errorf("parsing control message: %w", err)
			}
			for _, cm := range cms {
				got, err := unix.ParseUnixRights(&cm)
				if err == nil {
					fds = append(fds, got...)
				}
			}
		}
		if flags&unix.MSG_CTRUNC != 0 {
			closeAll(fds)
			return nil, nil, errors.New("descriptors were truncated")
		}
		if n == 0 {
			closeAll(fds)
			return nil, nil, fmt.Errorf("the other side went away: %w", os.ErrClosed)
		}
		m, err := decode(buf[:n])
		if err != nil {
			closeAll(fds)
			return nil, nil, err
		}
		return m, fds, nil
	}
}
