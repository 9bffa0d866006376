// Package lxcfs shows a container its own resources in /proc: when the
// host runs LXCFS (Debian's lxcfs package, a FUSE filesystem that renders
// /proc/meminfo, cpuinfo, stat, uptime, loadavg ... from the reading
// process's cgroup limits), its files are bound over the container's, the
// way LXC's lxcfs mount hook does, so free and top inside see the
// container's RAM and CPUs instead of the host's.
//
// The binds are made after the container's mount namespace exists (the
// supervisor's Prestart), which takes two steps because no single process
// can do it: open_tree(2) clones the LXCFS files as detached mounts in the
// host's namespace, and a helper born inside the container's mount
// namespace attaches them with move_mount(2). A Go process cannot setns(2)
// into a mount namespace (it is multi-threaded), so util-linux's nsenter
// joins it and execs the helper (this binary, Verb) with the host's root
// as its root, where the binary and /proc/PID/root are reachable.
package lxcfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"govz/ct/vzerror"
	"govz/internal/inroot"
	"govz/internal/mountinfo"
	"govz/internal/reexec"
)

// DefaultDir is where Debian's lxcfs.service mounts LXCFS.
const DefaultDir = "/var/lib/lxcfs"

// Verb is argv[1] of the helper: EXE Verb PID TARGET... with the detached
// mounts for the targets as fds 3, 4, ...
const Verb = reexec.LXCFS

// Files are the LXCFS files bound over the container's, as paths relative
// to both the LXCFS mount and the container's root (LXC's
// share/lxc.mount.hook list).
var Files = []string{
	"proc/cpuinfo", "proc/diskstats", "proc/loadavg", "proc/meminfo",
	"proc/stat", "proc/swaps", "proc/uptime", "proc/slabinfo",
	"sys/devices/system/cpu/online",
}

// Available returns nil when LXCFS is mounted at dir, or an error saying
// why the container's /proc will show the host's figures.
func Available(dir string) error {
	if dir == "" || dir == "off" {
		return fmt.Errorf("lxcfs is turned off in the global config")
	}
	mi, err := mountinfo.Read(0)
	if err != nil {
		return err
	}
	if !mountedAt(mi, filepath.Clean(dir)) {
		if _, err := exec.LookPath("lxcfs"); err != nil {
			return fmt.Errorf("lxcfs is not installed (apt-get install lxcfs)")
		}
		return fmt.Errorf("lxcfs is not running at %s (start lxcfs.service or run: lxcfs %s)", dir, dir)
	}
	return nil
}

// mountedAt reports whether mountinfo has a fuse.lxcfs mount at dir.
func mountedAt(ms []mountinfo.Mount, dir string) bool {
	for _, m := range ms {
		if m.MountPoint == dir && m.FSType == "fuse.lxcfs" {
			return true
		}
	}
	return false
}

// Attach binds the LXCFS files under dir over the same paths in the root
// of process pid (the container's init, before it runs), using exe as the
// helper (this binary; it must dispatch Verb to Main). Files missing on
// either side are skipped: older LXCFS lacks some, a guest may lack a
// mount point. The helper runs the file on disk, not a sealed copy
// (internal/exeseal): it joins only the mount namespace, keeps the host's
// root, user and pid namespaces, so no guest process can see it or its
// /proc/PID/exe.
func Attach(dir string, pid int, exe string) error {
	var fds []*os.File
	defer func() {
		for _, f := range fds {
			f.Close()
		}
	}()
	args := []string{"--mount=/proc/" + strconv.Itoa(pid) + "/ns/mnt", "--root=/", "--wd=/", "--", exe, Verb, strconv.Itoa(pid)}
	for _, f := range Files {
		src := filepath.Join(dir, f)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		// open_tree clones only mounts of the caller's namespace, so the
		// clone is made here, on the host side.
		fd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return fmt.Errorf("lxcfs: cloning %s: %w: %w", src, err, vzerror.ErrMount)
		}
		fds = append(fds, os.NewFile(uintptr(fd), src))
		args = append(args, f)
	}
	if len(fds) == 0 {
		return nil
	}
	cmd := exec.Command("nsenter", args...)
	cmd.ExtraFiles = fds
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("lxcfs: binding into the container: %w: %s: %w", err, strings.TrimSpace(out.String()), vzerror.ErrMount)
	}
	return nil
}

// Main is the helper: it runs in the container's mount namespace (and the
// host's root) and moves detached mount fd 3+i onto args[1+i] inside the
// root of process args[0]. The walk stays inside that root
// (RESOLVE_IN_ROOT): at a reboot the guest has run and may have planted
// symlinks.
func Main(args []string) int {
	if err := attachAll(args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func attachAll(args []string) error {
	if len(args) < 1 {
		return errors.New("usage: " + Verb + " PID TARGET [TARGET]")
	}
	pid, err := strconv.Atoi(args[0])
	if err != nil {
		return fmt.Errorf("bad pid %q", args[0])
	}
	root, err := inroot.Open("/proc/" + strconv.Itoa(pid) + "/root")
	if err != nil {
		return fmt.Errorf("opening the container's root: %w", err)
	}
	defer root.Close()
	var errs []error
	for i, target := range args[1:] {
		dst, err := root.OpenPath(target, inroot.Any)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", target, err))
			continue
		}
		err = unix.MoveMount(3+i, "", int(dst.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
		dst.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("attaching %s: %w", target, err))
		}
	}
	return errors.Join(errs...)
}
