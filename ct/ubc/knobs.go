package ubc

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"govz/ct/vzerror"
	"govz/internal/inroot"
	"govz/internal/mountinfo"
)

// ApplyKnobs sets the per-process knobs: rlimits on every process in pids
// (at start: the container's init before it execs, which every process
// inherits them from), shmall in initPID's IPC namespace and max= of the
// devpts instance mounted at /dev/pts in initPID's root. A process that
// exits meanwhile is fine. Errors wrap vzerror.ErrSetUBC.
func ApplyKnobs(pids []int, initPID int, knobs []ProcKnob) error {
	for _, k := range knobs {
		var err error
		switch k.Kind {
		case KnobRlimit:
			for _, pid := range pids {
				if e := setRlimit(pid, k); e != nil && !errors.Is(e, unix.ESRCH) {
					err = fmt.Errorf("prlimit pid %d: %w", pid, e)
					break
				}
			}
		case KnobShmAll:
			err = setShmAll(initPID, k.Soft)
		case KnobPtyMax:
			err = setPtyMax(initPID, k.Soft)
		}
		if err != nil {
			return fmt.Errorf("setting %s: %w: %w", k.Key, err, vzerror.ErrSetUBC)
		}
	}
	return nil
}

// setRlimit sets rlimit knob k on pid. An "unlimited" hard limit is the
// most the kernel lets the caller grant: fs.nr_open (RLIMIT_NOFILE) or
// RLIM_INFINITY with CAP_SYS_RESOURCE in the initial user namespace;
// without it (a confined host root) prlimit(2) cannot raise a hard limit
// (EPERM), and the most is the hard limit pid already has. An unlimited
// soft limit follows the hard one; an explicit value the kernel refuses
// stays an error.
func setRlimit(pid int, k ProcKnob) error {
	lim := unix.Rlimit{Cur: k.Soft, Max: k.Hard}
	err := unix.Prlimit(pid, k.Resource, &lim, nil)
	if !errors.Is(err, unix.EPERM) || !k.HardMax {
		return err
	}
	var cur unix.Rlimit
	if e := unix.Prlimit(pid, k.Resource, nil, &cur); e != nil || cur.Max >= lim.Max {
		return err
	}
	lim.Max = cur.Max
	if k.SoftMax {
		lim.Cur = cur.Max
	}
	if lim.Cur > lim.Max {
		return err
	}
	return unix.Prlimit(pid, k.Resource, &lim, nil)
}

// setShmAll writes kernel.shmall of pid's IPC namespace. IPC sysctls
// resolve to the writer's namespace when /proc/sys is opened, so a
// dedicated thread joins the namespace (setns(2) of an IPC namespace is
// per thread), writes and goes back; if it cannot go back the thread is
// left locked and the runtime discards it.
func setShmAll(pid int, pages uint64) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := os.Open("/proc/thread-self/ns/ipc")
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer own.Close()
		target, err := os.Open(fmt.Sprintf("/proc/%d/ns/ipc", pid))
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWIPC); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("joining the IPC namespace of %d: %w", pid, err)
			return
		}
		// The IPC sysctls of a namespace owned by a user namespace are
		// writable by that namespace's root only (ipc_permissions in
		// ipc/ipc_sysctl.c): even host root is "other" there and gets
		// read access (test_perm in fs/proc/proc_sysctl.c). So the
		// thread takes the container root's host UID as its effective
		// UID for the write; real and saved stay 0, which brings the
		// capabilities back with the effective UID 0 afterwards.
		owner, swapped, werr := 0, false, error(nil)
		if st, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			owner = int(st.Sys().(*syscall.Stat_t).Uid)
		}
		if owner != 0 {
			if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uintptr(owner), ^uintptr(0)); e != 0 {
				werr = fmt.Errorf("taking UID %d for the write: %w", owner, e)
			} else {
				swapped = true
			}
		}
		if werr == nil {
			werr = HostFS{}.WriteFile("/proc/sys/kernel/shmall", strconv.FormatUint(pages, 10))
		}
		if swapped {
			if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), 0, ^uintptr(0)); e != 0 {
				done <- errors.Join(werr, fmt.Errorf("returning to UID 0: %w", e))
				return // still locked: the thread dies with this goroutine
			}
		}
		if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWIPC); err != nil {
			done <- errors.Join(werr, fmt.Errorf("returning to the host IPC namespace: %w", err))
			return // still locked: the thread dies with this goroutine
		}
		runtime.UnlockOSThread()
		done <- werr
	}()
	return <-done
}

// devptsMagic is DEVPTS_SUPER_MAGIC.
const devptsMagic = 0x1cd1

// setPtyMax reconfigures the devpts instance at /dev/pts in pid's root to
// allow at most max ptys. mount(2) refuses a remount of another mount
// namespace's mount, but fspick(2) picks the superblock through any path
// that reaches it, and /proc/PID/root reaches the container's tree. A
// devpts reconfigure resets options it is not given (ptmxmode back to
// 000), so the instance's current ones are passed along.
func setPtyMax(pid int, max uint64) error {
	root, err := inroot.Open(fmt.Sprintf("/proc/%d/root", pid))
	if err != nil {
		return err
	}
	defer root.Close()
	pts, err := root.OpenPath("/dev/pts", inroot.Dir)
	if err != nil {
		return fmt.Errorf("opening the container's /dev/pts: %w", err)
	}
	defer pts.Close()
	fd := int(pts.Fd())
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return err
	}
	if sfs.Type != devptsMagic {
		return fmt.Errorf("the container's /dev/pts is not a devpts mount")
	}
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx); err != nil {
		return err
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return fmt.Errorf("the container's /dev/pts is not a mount point")
	}
	mi, err := mountinfo.Read(pid)
	if err != nil {
		return err
	}
	m, ok := mountinfo.ByID(mi, int(stx.Mnt_id))
	if !ok {
		return fmt.Errorf("mount %d of the container's /dev/pts not in its mount table", stx.Mnt_id)
	}
	fsfd, err := unix.Fspick(fd, "", unix.FSPICK_EMPTY_PATH|unix.FSPICK_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fspick: %w", err)
	}
	defer unix.Close(fsfd)
	for _, kv := range DevptsOptions(m.SuperOptions, max) {
		k, v, _ := strings.Cut(kv, "=")
		if err := unix.FsconfigSetString(fsfd, k, v); err != nil {
			return fmt.Errorf("devpts option %s: %w", kv, err)
		}
	}
	if _, _, e := unix.Syscall6(unix.SYS_FSCONFIG, uintptr(fsfd), unix.FSCONFIG_CMD_RECONFIGURE, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("reconfiguring devpts: %w", e)
	}
	return nil
}

// DevptsOptions are the key=value options a devpts reconfigure needs to
// keep the instance as it is, with max replaced.
func DevptsOptions(current []string, max uint64) []string {
	var out []string
	for _, o := range current {
		k, _, ok := strings.Cut(o, "=")
		if ok && (k == "uid" || k == "gid" || k == "mode" || k == "ptmxmode") {
			out = append(out, o)
		}
	}
	return append(out, "max="+strconv.FormatUint(max, 10))
}
