// Package lock serialises commands on one container, with vzctl's
// semantics: LOCKDIR/CTID.lck names the holder's PID and what it is doing,
// a second command fails at once with "locked" (exit 9), and a lock left
// by a dead holder is taken over.
//
// The lock itself is flock(2) on the file, not the file's existence: the
// kernel drops it when the holder dies, even by SIGKILL, so stale locks
// need no PID guessing and no race between two processes removing the same
// stale file. The PID and operation written in the file are for humans
// and for crash recovery: a new holder that finds the previous holder's
// record learns that it died in the middle of that operation.
package lock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"govz/ct/vzerror"
)

// Lock is a held container lock.
type Lock struct {
	f    *os.File
	path string
	// Stale is the record a dead holder left: the operation it did not
	// finish ("create", "destroy", ...), or "" when the lock was clean.
	Stale string
}

// Acquire takes the lock of container id in dir for operation op.
func Acquire(dir string, id int, op string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating lock directory %s: %w", dir, vzerror.ErrSystem)
	}
	path := filepath.Join(dir, strconv.Itoa(id)+".lck")
	for range 10 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, fmt.Errorf("opening lock %s: %w: %w", path, err, vzerror.ErrSystem)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			holder := "another process"
			if rec := readHolder(f); rec != "" {
				pid, op, _ := strings.Cut(rec, " ")
				holder = "pid " + pid + " (" + strings.Fields(op + " ?")[0] + ")"
			}
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("container %d locked by %s: %w", id, holder, vzerror.ErrLocked)
			}
			return nil, fmt.Errorf("locking %s: %w: %w", path, err, vzerror.ErrSystem)
		}
		// The previous holder may have unlinked the file between our open
		// and our flock: then we hold a lock on a dead inode. Retry.
		var st1, st2 unix.Stat_t
		if unix.Fstat(int(f.Fd()), &st1) != nil || unix.Stat(path, &st2) != nil || st1.Ino != st2.Ino {
			f.Close()
			continue
		}
		l := &Lock{f: f, path: path}
		if rec := readHolder(f); rec != "" {
			_, l.Stale, _ = strings.Cut(rec, " ")
		}
		if err := l.write(op); err != nil {
			l.Release()
			return nil, err
		}
		return l, nil
	}
	return nil, fmt.Errorf("locking %s: lock file keeps changing: %w", path, vzerror.ErrSystem)
}

// Update records a new operation for the held lock (a command that
// changes phase, e.g. a finished create that goes on to start).
func (l *Lock) Update(op string) error { return l.write(op) }

func (l *Lock) write(op string) error {
	rec := fmt.Sprintf("%d %s\n", os.Getpid(), op)
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("writing lock %s: %w", l.path, err)
	}
	if _, err := l.f.WriteAt([]byte(rec), 0); err != nil {
		return fmt.Errorf("writing lock %s: %w", l.path, err)
	}
	return nil
}

// Release drops the lock and removes the file: a clean release leaves no
// record, so the next holder knows nothing was left half done.
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	os.Remove(l.path)
	l.f.Close()
	l.f = nil
}

// readHolder reads the record; room for an operation with three paths
// (an import records the private area, the root and where the private
// area came from), each up to PATH_MAX: a cut record would lose the
// paths recovery needs.
func readHolder(f *os.File) string {
	b := make([]byte, 3*4096+64)
	n, _ := f.ReadAt(b, 0)
	return strings.TrimSpace(string(b[:n]))
}
