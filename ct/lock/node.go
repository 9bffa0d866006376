package lock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/vzerror"
)

// NodeFile is the node-wide allocation lock's file in the lock directory.
// Its name cannot be a container's (those are numeric).
const NodeFile = "node.lck"

// NodeTimeout is how long AcquireNode waits for the holder by default.
// Holders keep the lock only to read configs and write one file.
const NodeTimeout = 30 * time.Second

// NodeLock is the node-wide allocation lock. Everything that must be
// unique on the node (user namespace ID ranges today; addresses, names,
// host interface names and MACs later) is checked against every
// container's config and committed to one config file under it, so two
// commands can never both see a value free and both take it.
//
// Unlike a container lock it waits rather than failing at once: holders
// are brief, and a parallel create must not fail because a neighbour
// was allocating at the same moment. It is taken after a container lock,
// never before, so the two cannot deadlock; and the file stays (no
// unlink race between holders).
type NodeLock struct {
	f *os.File
}

// AcquireNode takes the node-wide allocation lock in dir for op (recorded
// for the error another waiter prints), waiting up to timeout.
func AcquireNode(dir, op string, timeout time.Duration) (*NodeLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating lock directory %s: %w", dir, vzerror.ErrSystem)
	}
	path := filepath.Join(dir, NodeFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w: %w", path, err, vzerror.ErrSystem)
	}
	// Poll rather than block in flock(2): a blocked flock cannot be
	// given a deadline.
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w: %w", path, err, vzerror.ErrSystem)
		}
		if time.Now().After(deadline) {
			holder := readHolder(f)
			f.Close()
			if holder == "" {
				holder = "another process"
			} else {
				pid, what, _ := strings.Cut(holder, " ")
				holder = "pid " + pid + " (" + what + ")"
			}
			return nil, fmt.Errorf("node allocation lock %s held by %s for over %s: %w", path, holder, timeout, vzerror.ErrLocked)
		}
		time.Sleep(wait)
	}
	l := &NodeLock{f: f}
	rec := fmt.Sprintf("%d %s\n", os.Getpid(), op)
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(rec), 0)
	}
	return l, nil
}

// Release clears the record and drops the lock.
func (l *NodeLock) Release() {
	if l == nil || l.f == nil {
		return
	}
	l.f.Truncate(0)
	l.f.Close()
	l.f = nil
}
