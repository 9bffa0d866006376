package cgroup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// killMethod is how Kill stops a subtree whose processes may be forking.
type killMethod int

const (
	killAuto       killMethod = iota // the best the host offers
	killCgroupKill                   // cgroup2 cgroup.kill (5.14+), also on hybrid hosts
	killFreezerV1                    // v1 freezer: freeze, SIGKILL each, thaw
	killFreezeV2                     // cgroup2 cgroup.freeze (5.2+), same dance
	killSignals                      // SIGKILL each listed PID; may race with fork
)

func (m killMethod) String() string {
	return [...]string{"auto", "cgroup.kill", "v1 freezer", "cgroup.freeze", "signals"}[m]
}

// freezeWait bounds one wait for a freeze to settle: a task in
// uninterruptible sleep delays it, and then the round kills what it can.
const freezeWait = time.Second

// Kill SIGKILLs every process in OUTER's subtree, round after round, until
// the subtree is empty (nil) or ctx ends (an error wrapping
// ErrKillTimeout). A forking process cannot outrun it: cgroup.kill marks
// the group so new children die at fork (kernel/cgroup/cgroup.c
// cgroup_kill), and a frozen group cannot fork between listing and kill.
//
// cgroup.kill of the cgroup2 hierarchy is used even on hybrid hosts: every
// process is in every hierarchy, and AddProc and Join put the container's
// below OUTER there too.
func (g *Group) Kill(ctx context.Context) error {
	wait := 2 * time.Millisecond
	for {
		pids, err := g.Procs()
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if err := g.killRound(ctx, g.killMethod()); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			if rest, err := g.Procs(); err == nil && len(rest) == 0 {
				return nil
			}
			return fmt.Errorf("killing cgroup %s: %d %w (%w)", g.outer(), len(pids), ErrKillTimeout, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

func (g *Group) killMethod() killMethod {
	if g.kill != killAuto {
		return g.kill
	}
	u := g.unified()
	switch {
	case u != nil && g.k.Exists(u.hostPath(g.outer())+"/cgroup.kill"):
		return killCgroupKill
	case g.v1("freezer") != nil:
		return killFreezerV1
	case u != nil && g.k.Exists(u.hostPath(g.outer())+"/cgroup.freeze"):
		return killFreezeV2
	}
	return killSignals
}

func (g *Group) killRound(ctx context.Context, m killMethod) error {
	switch m {
	case killCgroupKill:
		u := g.unified()
		f := u.hostPath(g.outer()) + "/cgroup.kill"
		if err := g.k.WriteFile(f, "1"); err != nil && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("writing %s: %w", f, err)
		}
		// A task frozen by the v1 freezer dies only once thawed. Thawed
		// after the kill, with SIGKILL pending, it leaves the freezer
		// only to die (kernel/signal.c get_signal): a container frozen
		// for its dump (vzctl chkpnt --suspend --dump, then --kill) does
		// not run again and change its files behind the dump.
		if h := g.v1("freezer"); h != nil {
			fs := h.hostPath(g.outer()) + "/freezer.state"
			if b, err := g.k.ReadFile(fs); err == nil && strings.TrimSpace(string(b)) != "THAWED" {
				if err := g.k.WriteFile(fs, "THAWED"); err != nil {
					return fmt.Errorf("thawing %s: %w", fs, err)
				}
			}
		}
		// A process that joined only the v1 groups is out of cgroup.kill's
		// reach; once the cgroup2 subtree is empty, the rest is killed
		// another way.
		seen := map[int]bool{}
		if err := g.procsIn(u, seen); err != nil {
			return err
		}
		if len(seen) > 0 {
			return nil
		}
		if rest, err := g.Procs(); err != nil || len(rest) == 0 {
			return err
		}
		if g.v1("freezer") != nil {
			return g.killRound(ctx, killFreezerV1)
		}
		return g.killRound(ctx, killSignals)
	case killFreezerV1:
		f := g.v1("freezer").hostPath(g.outer()) + "/freezer.state"
		return g.frozenKill(ctx, f, "FROZEN", "THAWED", func() (bool, error) {
			b, err := g.k.ReadFile(f)
			return strings.TrimSpace(string(b)) == "FROZEN", err
		})
	case killFreezeV2:
		dir := g.unified().hostPath(g.outer())
		return g.frozenKill(ctx, dir+"/cgroup.freeze", "1", "0", func() (bool, error) {
			b, err := g.k.ReadFile(dir + "/cgroup.events")
			return strings.Contains("\n"+string(b), "\nfrozen 1"), err
		})
	}
	return g.signalAll()
}

// frozenKill freezes the subtree through file f, waits (bounded) until
// frozen() says so, SIGKILLs every listed PID, and always thaws: a frozen
// task dies only once thawed.
func (g *Group) frozenKill(ctx context.Context, f, freeze, thaw string, frozen func() (bool, error)) (err error) {
	if err := g.k.WriteFile(f, freeze); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil // the group went away: nothing left to kill
		}
		return fmt.Errorf("freezing %s: %w", f, err)
	}
	defer func() {
		if terr := g.k.WriteFile(f, thaw); terr != nil && !errors.Is(terr, syscall.ENOENT) {
			err = errors.Join(err, fmt.Errorf("thawing %s: %w", f, terr))
		}
	}()
	deadline := time.Now().Add(freezeWait)
	for wait := time.Millisecond; ; wait = min(2*wait, 20*time.Millisecond) {
		ok, err := frozen()
		if err != nil && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("reading freezer state of %s: %w", f, err)
		}
		if ok || err != nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(wait)
	}
	return g.signalAll()
}

// signalAll SIGKILLs every PID now in the subtree. Unfrozen, a PID can exit
// and be reused between listing and kill; callers freeze first when they
// can.
func (g *Group) signalAll() error {
	pids, err := g.Procs()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := g.k.Kill(pid); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("killing pid %d: %w", pid, err)
		}
	}
	return nil
}
