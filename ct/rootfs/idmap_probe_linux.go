package rootfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNoIDMap is a file system that refuses idmapped mounts: the kernel
// marks those that allow them (FS_ALLOW_IDMAP: ext4, xfs and btrfs for
// long, tmpfs only since Linux 6.3; not 9p, NFS or FUSE).
var ErrNoIDMap = errors.New("file system does not support idmapped mounts")

// ProbeIDMap tells whether directory p's file system takes an idmapped
// mount, as a user-namespaced container's root will need: it makes one
// (detached, never attached) and drops it. The user namespace comes from a
// short-lived child, since a multi-threaded Go process cannot unshare one;
// the mapping only has to be someone else's than the initial namespace's.
func ProbeIDMap(p string) error {
	cat, err := exec.LookPath("cat")
	if err != nil {
		return fmt.Errorf("probing idmapped mounts: %w", err)
	}
	c := exec.Command(cat)
	in, err := c.StdinPipe()
	if err != nil {
		return err
	}
	c.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65536, Size: 65536}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65536, Size: 65536}},
		Pdeathsig:   unix.SIGKILL,
	}
	if err := c.Start(); err != nil {
		return fmt.Errorf("probing idmapped mounts: starting a child in a user namespace: %w", err)
	}
	defer c.Wait()
	defer in.Close()
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", c.Process.Pid))
	if err != nil {
		return fmt.Errorf("probing idmapped mounts: %w", err)
	}
	defer ns.Close()
	mfd, err := CloneIDMapped(p, int(ns.Fd()))
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("%s: %w", p, ErrNoIDMap)
	}
	if err != nil {
		return err
	}
	unix.Close(mfd)
	return nil
}
