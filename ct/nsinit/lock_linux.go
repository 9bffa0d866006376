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

	"golang.org/x/sys/unix"

	"govz/ct/caps"
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
// likes on top. The init joins M2 right before its execve (execLocked), on
// a thread with its own fs_struct, as setns(CLONE_NEWNS) requires.

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

// execLocked is the child's end: it joins mntns (M2), drops the bounding
// set, installs the seccomp filter and execs the guest's init, all on this
// thread, the main one, locked to the main goroutine since init.
//
// setns(CLONE_NEWNS) refuses a caller that shares its fs_struct (root and
// cwd; mntns_install in fs/namespace.c: fs->users != 1), and every thread
// of a Go process shares it: unshare(CLONE_FS) gives this thread its own
// first. The runtime's other threads stay in M1 with the old fs_struct
// until the execve ends them (de_thread); none of them runs guest code,
// and the credentials, bounding set, keyring and filter the execve passes
// on are this thread's. The filter goes after the keyring (it refuses
// keyctl) and before the capabilities are dropped: without no_new_privs
// PR_SET_SECCOMP needs CAP_SYS_ADMIN (a guest configured without it), as
// the setns does (and CAP_SYS_CHROOT). The kernel loads the guest's ELF
// interpreter only at the final execve, with the filter on.
func execLocked(c *Config, mntns int) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare(CLONE_FS): %w: %w", err, vzerror.ErrSystem)
	}
	if err := unix.Setns(mntns, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("joining the locked mount namespace: %w: %w", err, vzerror.ErrSystem)
	}
	// setns put root and cwd at M2's root, the container's root.
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w: %w", err, vzerror.ErrSystem)
	}
	if err := newSessionKeyring(); err != nil {
		return err
	}
	// Nothing of ours may reach the guest (the Go runtime's epoll), and
	// the sync socket's closing tells the parent that the execve worked.
	if err := unix.CloseRange(syncFD, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close_range: %w", err)
	}
	if c.Seccomp {
		if _, err := caps.InstallFilter(); err != nil {
			return err
		}
	}
	if err := caps.Apply(c.Caps, c.CapLast); err != nil {
		return err
	}
	err := unix.Exec(c.Init[0], c.Init, c.Env)
	return fmt.Errorf("exec %s: %w: %w", c.Init[0], err, vzerror.ErrBadTemplate)
}

// newSessionKeyring gives the init a fresh anonymous session keyring
// (KEYCTL_JOIN_SESSION_KEYRING with a NULL name). Otherwise it keeps the
// one of whoever ran vzctl (a login's, host root's), and possession
// overrides the key's owner and permission checks: the guest could read,
// link or revoke the caller's keys with no uid check at all. runc joins a
// new session keyring for every process for the same reason. ENOSYS: a
// kernel without keys has nothing to leak.
func newSessionKeyring() error {
	_, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)
	if errno != 0 && errno != unix.ENOSYS {
		return fmt.Errorf("joining a new session keyring: %w: %w", errno, vzerror.ErrSystem)
	}
	return nil
}
