package checkpoint

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	criu "github.com/checkpoint-restore/go-criu/v7"
	"golang.org/x/sys/unix"

	"govz/ct/vzerror"
)

// FailSuffix names where a failed dump's directory goes (vzctl's vps-cpt
// keeps a ".fail" directory too): its logs stay for the admin, and the
// container is not "suspended" on account of a half-written dump.
const FailSuffix = ".fail"

// Dump saves t into dir, which must not exist yet, and kills its tasks
// unless t.LeaveRunning. Preflight refusals and CRIU failures leave the
// container running (CRIU thaws a tree whose dump failed, unless it was
// frozen before).
func Dump(e Engine, t *Target, dir string) error {
	if err := CheckVersion(e, vzerror.ErrChkpnt); err != nil {
		return err
	}
	if err := Preflight(t); err != nil {
		return err
	}
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("container %s: dump %s exists already (restore it or remove it): %w", t.ID, dir, vzerror.ErrChkpnt)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return fmt.Errorf("container %s: %w: %w", t.ID, err, vzerror.ErrChkpnt)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("container %s: %w: %w", t.ID, err, vzerror.ErrChkpnt)
	}
	fail := func(err error) error {
		os.RemoveAll(dir + FailSuffix)
		if rerr := os.Rename(dir, dir+FailSuffix); rerr != nil {
			os.RemoveAll(dir)
		}
		return err
	}
	if err := writeMeta(dir, &Meta{ID: t.ID, Console: t.Console, Veths: t.Veths, Masks: t.Masks, CgroupFS: t.CgroupFS, DevOwner: t.DevOwner}); err != nil {
		return fail(fmt.Errorf("container %s: %w: %w", t.ID, err, vzerror.ErrChkpnt))
	}
	d, err := os.Open(dir)
	if err != nil {
		return fail(fmt.Errorf("container %s: %w: %w", t.ID, err, vzerror.ErrChkpnt))
	}
	defer d.Close()
	if err := e.Dump(DumpOptions(t, int(d.Fd()))); err != nil {
		reason := logReason(filepath.Join(dir, "dump.log"), err)
		if strings.Contains(reason, "Can't get 1:16 opt") {
			// Linux 6.16 refuses SO_PASSCRED on inet sockets; CRIU
			// up to 4.1.1 asks for it on every socket (criu#2718).
			reason += " (CRIU up to 4.1.1 cannot save TCP/UDP sockets on Linux 6.16 and later: checkpoint-restore/criu#2718)"
		}
		return fail(fmt.Errorf("container %s: checkpoint failed: %s (log: %s): %w",
			t.ID, reason, filepath.Join(dir+FailSuffix, "dump.log"), vzerror.ErrChkpnt))
	}
	return nil
}

// Restore recreates the tree saved in dir into t's root, as the caller's
// child, and returns its root's PID; console is the caller's fd of the new
// console pty slave, work a directory (searchable by everyone) for the
// restore's own mounts. nfy
// sees CRIU's notifications. The dump stays whatever happens: the caller
// removes it once the container runs.
//
// CRIU's version is asked only when the restore failed, to name a too old
// one as the reason: asking first costs a worker of its own (an exec of
// CRIU, a twentieth of a second on a loaded 2-CPU host) on every restore,
// and unlike a dump's, a restore's failure has nothing running to keep.
func Restore(e Engine, t *Target, dir, work string, console *os.File, nfy criu.Notify) (int, error) {
	m, err := ReadMeta(dir)
	if err != nil {
		return 0, fmt.Errorf("container %s: no usable dump in %s: %w: %w", t.ID, dir, err, vzerror.ErrRestore)
	}
	t.Veths = m.Veths
	if t.NetNamespaces, err = NetNamespaces(dir); err != nil {
		return 0, fmt.Errorf("container %s: %w: %w", t.ID, err, vzerror.ErrRestore)
	}
	d, err := os.Open(dir)
	if err != nil {
		return 0, fmt.Errorf("container %s: %w: %w", t.ID, err, vzerror.ErrRestore)
	}
	defer d.Close()
	// CRIU reads images both as host root and, from inside the restored
	// user namespace, as the container's root (tty-info): the images are
	// the container's own state, so its root's group may read them.
	if err := shareTree(dir, m.DevOwner[1]); err != nil {
		return 0, fmt.Errorf("container %s: %w: %w", t.ID, err, vzerror.ErrRestore)
	}
	// CRIU binds the external mounts from inside the restored user
	// namespace: their paths must be searchable by the container's root,
	// which the run directory (0700) is not.
	devDir, err := os.MkdirTemp(work, "govz-restore-dev-")
	if err != nil {
		return 0, fmt.Errorf("container %s: %w: %w", t.ID, err, vzerror.ErrRestore)
	}
	undoDev, err := prepareDev(devDir, m.DevOwner[0], m.DevOwner[1])
	if err != nil {
		return 0, fmt.Errorf("container %s: %w: %w", t.ID, err, vzerror.ErrRestore)
	}
	// The container's /dev is a bind of it: the host's mount can go.
	defer undoDev()
	maskDir := ""
	if len(m.Masks) > 0 {
		maskDir, err = os.MkdirTemp(work, "govz-restore-mask-")
		if err != nil {
			return 0, fmt.Errorf("container %s: %w: %w", t.ID, err, vzerror.ErrRestore)
		}
		undoMask, err := prepareMask(maskDir)
		if err != nil {
			return 0, fmt.Errorf("container %s: %w: %w", t.ID, err, vzerror.ErrRestore)
		}
		defer undoMask()
	}
	cgDir := ""
	if len(m.CgroupFS) > 0 {
		cgDir, err = os.MkdirTemp(work, "govz-restore-cgroupfs-")
		if err != nil {
			return 0, fmt.Errorf("container %s: %w: %w", t.ID, err, vzerror.ErrRestore)
		}
		undoCg, err := prepareCgroupFS(cgDir, m.CgroupFS, m.DevOwner[0], m.DevOwner[1])
		if err != nil {
			return 0, fmt.Errorf("container %s: %w: %w", t.ID, err, vzerror.ErrRestore)
		}
		defer undoCg()
	}
	if len(t.UIDMap) > 0 {
		root, undoRoot, err := idmappedRoot(t.Rootfs, work, t.UIDMap, t.GIDMap)
		if err != nil {
			return 0, fmt.Errorf("container %s: %w: %w", t.ID, err, vzerror.ErrRestore)
		}
		defer undoRoot()
		t.Rootfs = root
	}
	// CRIU's worker is our child and inherits the console by number: it
	// must survive exec.
	if err := clearCloexec(console); err != nil {
		return 0, fmt.Errorf("container %s: console: %w: %w", t.ID, err, vzerror.ErrRestore)
	}
	defer unix.CloseOnExec(int(console.Fd()))
	consolePath, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", console.Fd()))
	if err != nil {
		return 0, fmt.Errorf("container %s: console: %w: %w", t.ID, err, vzerror.ErrRestore)
	}
	rn := &restoreNotify{Notify: nfy}
	if rn.Notify == nil {
		rn.Notify = criu.NoNotify{}
	}
	opts := RestoreOptions(t, int(d.Fd()), int(console.Fd()), m.Console, devDir, consolePath, maskDir, cgDir)
	if err := e.Restore(opts, rn); err != nil {
		if rn.err != nil {
			// The caller's own step failed (the host side of the
			// network): its reason, not CRIU's consequence of it. A
			// failed restore is vzctl's 17 whatever the cause, so the
			// cause's class does not travel.
			return 0, fmt.Errorf("container %s: restore failed: %s: %w", t.ID, rn.err.Error(), vzerror.ErrRestore)
		}
		if verr := CheckVersion(e, vzerror.ErrRestore); verr != nil {
			return 0, fmt.Errorf("container %s: %w", t.ID, verr)
		}
		return 0, fmt.Errorf("container %s: restore failed: %s (log: %s): %w",
			t.ID, logReason(filepath.Join(dir, "restore.log"), err), filepath.Join(dir, "restore.log"), vzerror.ErrRestore)
	}
	if rn.pid <= 0 {
		return 0, fmt.Errorf("container %s: CRIU restored no init: %w", t.ID, vzerror.ErrRestore)
	}
	return rn.pid, nil
}

// restoreNotify learns the restored root's PID from CRIU's post-restore
// notification (its host PID: CRIU runs in the host's PID namespace),
// and what failed in the caller's.
type restoreNotify struct {
	criu.Notify
	pid int
	err error
}

// PostRestore comes once every task and namespace exists, before CRIU
// unlocks the network and resumes the tasks (criu/cr-restore.c,
// restore_root_task); an error makes CRIU kill the tree.
func (r *restoreNotify) PostRestore(pid int32) error {
	r.pid = int(pid)
	r.err = r.Notify.PostRestore(pid)
	return r.err
}

// SetupNamespaces comes once the restored root's namespaces exist (pid is
// its host PID), before anything is restored into them.
func (r *restoreNotify) SetupNamespaces(pid int32) error {
	r.err = r.Notify.SetupNamespaces(pid)
	return r.err
}

func shareTree(dir string, gid int) error {
	return filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, 0, gid); err != nil {
			return err
		}
		if fi.IsDir() {
			return os.Chmod(p, 0o750)
		}
		return os.Chmod(p, 0o640)
	})
}

func clearCloexec(f *os.File) error {
	fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
	if err != nil {
		return err
	}
	_, err = unix.FcntlInt(f.Fd(), unix.F_SETFD, fl&^unix.FD_CLOEXEC)
	return err
}

// logReason is the first error CRIU logged (later ones tend to be
// consequences), else err's text.
func logReason(log string, err error) string {
	f, ferr := os.Open(log)
	if ferr == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l := sc.Text()
			// CRIU cannot raise its own fd limit inside the container's
			// user namespace; it says so on every run and goes on.
			if i := strings.Index(l, "Error ("); i >= 0 && !strings.Contains(l, "RLIMIT_NOFILE") {
				// "(00.012345) Error (criu/files.c:123): the reason"
				if j := strings.Index(l[i:], "): "); j >= 0 {
					return strings.TrimSpace(l[i+j+3:])
				}
				return strings.TrimSpace(l[i:])
			}
		}
	}
	if err == nil {
		return "unknown error"
	}
	var s = err.Error()
	if errors.Unwrap(err) != nil {
		s = errors.Unwrap(err).Error()
	}
	return strings.ReplaceAll(s, "\n", " ")
}
