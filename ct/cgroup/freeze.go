package cgroup

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"syscall"
	"time"
)

// Freeze stops every task of the container's subtree where it stands, for
// a crash-consistent copy of its disk (a snapshot, a backup): the tasks
// cannot write while frozen, and what they wrote is in the page cache, which
// the caller flushes (syncfs) before copying. It returns once the kernel
// says the subtree is frozen (cgroup.events "frozen 1" on cgroup2,
// freezer.state FROZEN on v1: a task in an uninterruptible sleep delays
// it), or an error after timeout with the subtree thawed again. thaw is
// always to be called; it is safe to call twice. A subtree frozen already
// (vzctl chkpnt --suspend) is left so: its thaw does nothing, as thawing
// it would let a suspended container run on behind its dump.
func (g *Group) Freeze(ctx context.Context, timeout time.Duration) (thaw func() error, err error) {
	f, freeze, unfreeze, frozen, err := g.freezer()
	if err != nil {
		return nil, err
	}
	if ok, err := frozen(); err == nil && ok {
		return func() error { return nil }, nil
	}
	if err := g.k.WriteFile(f, freeze); err != nil {
		return nil, fmt.Errorf("freezing %s: %w", f, err)
	}
	done := false
	thaw = func() error {
		if done {
			return nil
		}
		done = true
		if err := g.k.WriteFile(f, unfreeze); err != nil && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("thawing %s: %w", f, err)
		}
		return nil
	}
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 20*time.Millisecond) {
		ok, err := frozen()
		if err != nil {
			return nil, errors.Join(fmt.Errorf("reading freezer state of %s: %w", f, err), thaw())
		}
		if ok {
			return thaw, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, errors.Join(fmt.Errorf("container cgroup %s did not freeze within %v", g.outer(), timeout), thaw())
		}
		time.Sleep(wait)
	}
}

// FreezerState is a subtree's freezer as the kernel reports it.
type FreezerState int

const (
	Thawed FreezerState = iota
	// Freezing: a freeze was asked for and not every task stopped yet: a
	// task in an uninterruptible sleep, or a freezer that died in
	// between, which left it so.
	Freezing
	Frozen
)

func (s FreezerState) String() string {
	return [...]string{"thawed", "freezing", "frozen"}[s]
}

// FreezerState reports the subtree's freezer. Its state is the kernel's:
// a freeze outlives the command that asked for it (vzctl chkpnt
// --suspend), so it is the record of it.
func (g *Group) FreezerState() (FreezerState, error) {
	f, freeze, _, frozen, err := g.freezer()
	if err != nil {
		return Thawed, err
	}
	ok, err := frozen()
	if err != nil {
		return Thawed, fmt.Errorf("reading freezer state of %s: %w", f, err)
	}
	if ok {
		return Frozen, nil
	}
	b, err := g.k.ReadFile(f)
	if err != nil {
		return Thawed, fmt.Errorf("reading %s: %w", f, err)
	}
	// v1's freezer.state reads FREEZING until every task stopped;
	// cgroup2's cgroup.freeze reads back what was written.
	if s := strings.TrimSpace(string(b)); s == "FREEZING" || s == freeze {
		return Freezing, nil
	}
	return Thawed, nil
}

// Thaw ends a freeze made by Freeze and left in place (vzctl chkpnt
// --resume), or one that never completed.
func (g *Group) Thaw() error {
	f, _, thaw, _, err := g.freezer()
	if err != nil {
		return err
	}
	if err := g.k.WriteFile(f, thaw); err != nil {
		return fmt.Errorf("thawing %s: %w", f, err)
	}
	return nil
}

// FreezerDir is the host directory of the group Freeze freezes, for a
// CRIU dump of a container frozen before it (its freeze_cgroup): CRIU
// finds it frozen, thaws it only once every task is ptrace-stopped and
// freezes it again before letting them go. Given a group below, which
// reads frozen through its parent, CRIU would thaw that one alone and
// wait forever for tasks the parent keeps frozen.
func (g *Group) FreezerDir() (string, error) {
	f, _, _, _, err := g.freezer()
	if err != nil {
		return "", err
	}
	return path.Dir(f), nil
}

// freezer picks the freezer the host has: the v1 freezer controller when
// it is mounted (on a hybrid host a task may have joined only the v1
// groups, out of cgroup2's reach, as Kill knows), else cgroup2's
// cgroup.freeze (Linux 5.2+).
func (g *Group) freezer() (file, freeze, thaw string, frozen func() (bool, error), err error) {
	if h := g.v1("freezer"); h != nil {
		f := h.hostPath(g.outer()) + "/freezer.state"
		return f, "FROZEN", "THAWED", func() (bool, error) {
			b, err := g.k.ReadFile(f)
			return strings.TrimSpace(string(b)) == "FROZEN", err
		}, nil
	}
	if u := g.unified(); u != nil && g.k.Exists(u.hostPath(g.outer())+"/cgroup.freeze") {
		dir := u.hostPath(g.outer())
		return dir + "/cgroup.freeze", "1", "0", func() (bool, error) {
			b, err := g.k.ReadFile(dir + "/cgroup.events")
			return strings.Contains("\n"+string(b), "\nfrozen 1"), err
		}, nil
	}
	return "", "", "", nil, fmt.Errorf("no cgroup freezer for %s (neither the v1 freezer nor cgroup.freeze)", g.outer())
}

// PathsFrozen reports whether a container whose recorded paths (InnerPaths, a
// run record's) are paths is frozen or freezing, by itself or by an
// ancestor: both v1's freezer.state and cgroup2's cgroup.events say the
// effective state. A process that joined it would stop at once, so that
// `vzctl exec` on a suspended container would hang rather than fail.
// Paths without a freezer read as not frozen.
func PathsFrozen(paths map[string]string) (bool, error) {
	if d := paths["freezer"]; d != "" {
		b, err := hostKernel{}.ReadFile(d + "/freezer.state")
		s := strings.TrimSpace(string(b))
		return err == nil && (s == "FROZEN" || s == "FREEZING"), err
	}
	if d := paths[UnifiedName]; d != "" {
		b, err := hostKernel{}.ReadFile(d + "/cgroup.events")
		if errors.Is(err, syscall.ENOENT) {
			return false, nil
		}
		return err == nil && strings.Contains("\n"+string(b), "\nfrozen 1"), err
	}
	return false, nil
}
