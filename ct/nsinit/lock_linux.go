package nsinit

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"govz/ct/nsenter"
	"govz/ct/vzerror"
	"govz/internal/exeseal"
)

// Locking the container's mounts. The child builds the container's
// filesystem in its mount namespace M1, owned by the container's user
// namespace U1, where its root has CAP_SYS_ADMIN: it could unmount the
// masks over /proc and /sys it was given, or mount a fresh procfs. So the
// guest never runs in M1: a helper (nsexec.c, VerbLock) joins U1 and M1
// and unshares a new user namespace U2 (a child of U1) with a new mount
// namespace M2, a copy of M1. The kernel locks every mount of a copy into
// a namespace owned by another user namespace (fs/namespace.c
// copy_mnt_ns -> lock_mnt_tree: MNT_LOCKED, MNT_LOCK_READONLY, ...), so in
// M2 nothing of M1 can be unmounted (can_umount: EINVAL) or made writable,
// and since /proc and /sys are then not fully visible, no new procfs or
// sysfs can be mounted (mount_too_revealing: EPERM). Root in U1 still has
// CAP_SYS_ADMIN over M2 (U2 is its descendant): the guest mounts what it
// likes on top. The init joins M2 right before its execve (nsexec.c,
// VerbInit), single-threaded as setns(CLONE_NEWNS) requires.

// lockOwner is the uid inside the container that owns U2: the last one its
// uid mapping covers. Not 0: the owner of a user namespace has every
// capability in it (cap_capable in security/commoncap.c), so any uid-0
// process of the guest, whatever its capability sets, could mount in M2.
func lockOwner(uids []syscall.SysProcIDMap) (uint32, error) {
	if len(uids) == 0 || uids[0].Size < 2 {
		return 0, fmt.Errorf("locking mounts needs a user namespace: %w", vzerror.ErrInvalidValue)
	}
	return uint32(uids[0].ContainerID + uids[0].Size - 1), nil
}

// lockMounts runs the helper (exe, the sealed copy of this executable: the
// helper joins the container's user and mount namespaces) against the
// child pid and returns a descriptor of M2, opened through
// /proc/HELPER/ns/mnt while the helper still lives (after setns into M1
// the helper could not open its own: its /proc would be the container's).
func lockMounts(exe *os.File, pid int, owner uint32, deadline time.Time) (int, error) {
	if !nsenter.Available {
		return -1, fmt.Errorf("locking mounts: this binary was built without cgo: %w", vzerror.ErrSystem)
	}
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, ns := range []string{"user", "mnt"} {
		f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/" + ns)
		if err != nil {
			return -1, fmt.Errorf("locking mounts: %w: %w", err, vzerror.ErrSystem)
		}
		files = append(files, f)
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("locking mounts: socketpair: %w: %w", err, vzerror.ErrSystem)
	}
	unix.SetNonblock(pair[0], true)
	sock := os.NewFile(uintptr(pair[0]), "lock-sync")
	defer sock.Close()
	childEnd := os.NewFile(uintptr(pair[1]), "lock-sync-child")
	files = append(files, childEnd)
	cmd := &exec.Cmd{
		Path: exeseal.Path(6),
		Args: []string{"govz-lock", nsenter.VerbLock},
		Env: []string{
			nsenter.EnvSyncFD + "=5",
			nsenter.EnvUsernsFD + "=3",
			nsenter.EnvMntnsFD + "=4",
			nsenter.EnvOwner + "=" + strconv.FormatUint(uint64(owner), 10),
		},
		ExtraFiles: []*os.File{files[0], files[1], files[2], exe},
	}
	if err := cmd.Start(); err != nil {
		return -1, fmt.Errorf("locking mounts: starting %s: %w: %w", nsenter.VerbLock, err, vzerror.ErrSystem)
	}
	childEnd.Close()
	files = files[:2]
	// Closing our end lets the helper exit; it is reaped in any case.
	defer func() {
		sock.Close()
		cmd.Wait()
	}()
	sock.SetReadDeadline(deadline)
	line, err := bufio.NewReader(sock).ReadString('\n')
	if line != nsenter.LockReady {
		cmd.Process.Kill()
		if err != nil && line == "" {
			return -1, fmt.Errorf("locking mounts: helper: %w: %w", err, vzerror.ErrSystem)
		}
		return -1, fmt.Errorf("locking mounts: %s: %w", strings.TrimPrefix(strings.TrimSpace(line), nsenter.StageSetup+" "), vzerror.ErrMount)
	}
	fd, err := unix.Open("/proc/"+strconv.Itoa(cmd.Process.Pid)+"/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("locking mounts: opening the locked namespace: %w: %w", err, vzerror.ErrSystem)
	}
	return fd, nil
}

// hostHandles are what the child needs to exec this executable again
// once its root is the container's: the executable itself, and the host's
// root, from which the kernel loads its ELF interpreter (ld.so: the path
// in PT_INTERP resolves against the caller's root; the guest may have none,
// and a guest's ld.so and libc must never run before the filter is on).
type hostHandles struct{ exe, root int }

// openHostHandles opens them before the pivot. The executable is the
// sealed copy the parent started the child from (exeseal), not the file on
// disk. The old root stays usable
// through its descriptor after pivotHere detaches it, with its submounts:
// copied into a mount namespace of the container's user namespace they
// are locked, and umount_tree leaves locked mounts connected.
func openHostHandles() (*hostHandles, error) {
	exe, err := unix.Open("/proc/self/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening own executable: %w", err)
	}
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(exe)
		return nil, fmt.Errorf("opening the host root: %w", err)
	}
	return &hostHandles{exe: exe, root: root}, nil
}

// execLocked is the child's end: it hands init's setup to nsexec.c's
// VerbInit stage (this executable again, as PID 1, no fork), which joins
// mntns (M2), drops the bounding set, installs the seccomp filter and execs
// the guest's init. The sync socket (fd 3) stays open across this execve
// so that the stage's own failures still reach the parent; it closes on
// the final one. For the execve itself the child's root is the host's
// again (hostHandles); the stage's setns puts it in the container's root.
// No guest process exists yet, and the host root is reachable only by
// this process, which holds a descriptor of it anyway.
func execLocked(c *Config, mntns int, host *hostHandles) error {
	if host == nil {
		return fmt.Errorf("locked mounts without host handles: %w", vzerror.ErrSystem)
	}
	envFile, err := nsenter.EnvFile(c.Env)
	if err != nil {
		return err
	}
	// The files must stay open (not finalized) until the execve.
	files := []*os.File{envFile}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	keep := []int{syncFD, mntns, int(envFile.Fd())}
	env := []string{
		nsenter.EnvSyncFD + "=" + strconv.Itoa(syncFD),
		nsenter.EnvMntnsFD + "=" + strconv.Itoa(mntns),
		nsenter.EnvEnvFD + "=" + strconv.Itoa(int(envFile.Fd())),
		nsenter.EnvCapKeep + "=" + strconv.FormatUint(uint64(c.Caps), 16),
	}
	if c.Seccomp {
		f, err := nsenter.SeccompFile()
		if err != nil {
			return err
		}
		if f != nil {
			files = append(files, f)
			keep = append(keep, int(f.Fd()))
			env = append(env, nsenter.EnvSeccompFD+"="+strconv.Itoa(int(f.Fd())))
		}
	}
	// Nothing else of ours may reach the guest (the Go runtime's epoll).
	if err := unix.CloseRange(syncFD, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close_range: %w", err)
	}
	for _, fd := range keep {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("passing fd %d on: %w", fd, err)
		}
	}
	argv := append([]string{"govz-init", nsenter.VerbInit, c.Init[0]}, c.Init...)
	if err := unix.Fchdir(host.root); err != nil {
		return fmt.Errorf("fchdir to the host root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot to the host root: %w", err)
	}
	err = execveat(host.exe, argv, env)
	return fmt.Errorf("exec %s: %w: %w", nsenter.VerbInit, err, vzerror.ErrSystem)
}

// execveat(fd, "", argv, env, AT_EMPTY_PATH) (man 2 execveat).
func execveat(fd int, argv, env []string) error {
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return err
	}
	envp, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return err
	}
	empty, _ := unix.BytePtrFromString("")
	_, _, errno := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(empty)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])), unix.AT_EMPTY_PATH, 0)
	return errno
}
