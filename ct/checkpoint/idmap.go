package checkpoint

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"govz/ct/rootfs"
)

// IDMap is one line of a uid_map or gid_map.
type IDMap struct{ ContainerID, HostID, Size uint32 }

// idmappedRoot attaches at a new directory in work an idmapped recursive
// bind of root, idmapped as the boot maps the container's root
// (ct/nsinit: rootfs.CloneIDMapped), and returns its path and the undo.
// CRIU binds --root as it is: without this the restored container would
// see its files with the host's IDs. The user namespace for the mapping
// comes from a short-lived child (a multi-threaded Go process cannot
// unshare one), as rootfs.ProbeIDMap does.
func idmappedRoot(root, work string, uids, gids []IDMap) (string, func(), error) {
	conv := func(m []IDMap) []syscall.SysProcIDMap {
		var out []syscall.SysProcIDMap
		for _, e := range m {
			out = append(out, syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)})
		}
		return out
	}
	cat, err := exec.LookPath("cat")
	if err != nil {
		return "", nil, err
	}
	c := exec.Command(cat)
	in, err := c.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	c.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWUSER, UidMappings: conv(uids), GidMappings: conv(gids), Pdeathsig: unix.SIGKILL,
	}
	if err := c.Start(); err != nil {
		return "", nil, fmt.Errorf("user namespace for the idmapped root: %w", err)
	}
	defer c.Wait()
	defer in.Close()
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", c.Process.Pid))
	if err != nil {
		return "", nil, err
	}
	defer ns.Close()
	mfd, err := rootfs.CloneIDMapped(root, int(ns.Fd()))
	if err != nil {
		return "", nil, err
	}
	defer unix.Close(mfd)
	dir, err := os.MkdirTemp(work, "govz-restore-root-")
	if err != nil {
		return "", nil, err
	}
	os.Chmod(dir, 0o711)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, dir, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		os.Remove(dir)
		return "", nil, fmt.Errorf("attaching the idmapped root at %s: %w", dir, err)
	}
	return dir, func() {
		unix.Unmount(dir, unix.MNT_DETACH)
		os.Remove(dir)
	}, nil
}
