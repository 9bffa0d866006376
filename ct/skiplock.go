package ct

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"govz/ct/lock"
	"govz/ct/vzerror"
)

// lockOrSkip is n.lock honouring --skiplock. vzctl's --skiplock drops the
// container lock altogether; its use is an action script (CTID.mount,
// CTID.start) calling vzctl set/exec on the container whose locked start
// is running the script, which would otherwise fail with "locked". govz
// skips the lock only in that case: when the lock is held by one of this
// process's ancestors. A free lock is taken as usual, and a lock held by an
// unrelated command still refuses (9), so --skiplock cannot race two
// independent operations on one container.
func (n *Node) lockOrSkip(id int, op string) (*lock.Lock, error) {
	l, err := n.lock(id, op)
	if err == nil || !n.SkipLock || !errors.Is(err, vzerror.ErrLocked) {
		return l, err
	}
	holder := lock.Holder(n.LockDir(), id)
	if holder == 0 || !isAncestor(holder, os.Getpid()) {
		return nil, fmt.Errorf("%w (--skiplock skips only a lock held by the command running this one)", err)
	}
	n.Log.Debugf(1, "container %d: lock held by parent pid %d, skipped (--skiplock)", id, holder)
	// A nil *lock.Lock releases nothing: the ancestor keeps its lock.
	return nil, nil
}

// isAncestor reports whether pid is a parent, grandparent, ... of child,
// following the PPid lines of /proc/PID/status.
func isAncestor(pid, child int) bool {
	for p, hops := child, 0; p > 1 && hops < 64; hops++ {
		pp, ok := parentOf(p)
		if !ok {
			return false
		}
		if pp == pid {
			return true
		}
		p = pp
	}
	return false
}

func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			pp, err := strconv.Atoi(strings.TrimSpace(v))
			return pp, err == nil
		}
	}
	return 0, false
}
