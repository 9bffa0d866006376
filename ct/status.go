package ct

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"govz/conf"
	"govz/ct/cgroup"
	"govz/ct/runstate"
	"govz/ct/supervisor"
	"govz/ct/vzerror"
)

// Status is what `vzctl status` reports.
type Status struct {
	ID      int
	Exists  bool
	Mounted bool
	Running bool
	// Suspended: stopped, with a dump waiting (vzctl chkpnt).
	Suspended bool
}

// String renders vzctl's one-line format, which scripts parse:
// "CTID 101 exist mounted running".
func (s Status) String() string {
	e, m, r := "deleted", "unmounted", "down"
	if s.Exists {
		e = "exist"
	}
	if s.Mounted {
		m = "mounted"
	}
	if s.Running {
		r = "running"
	}
	if s.Suspended && !s.Running {
		r += " suspended"
	}
	return fmt.Sprintf("CTID %d %s %s %s", s.ID, e, m, r)
}

// Status reports container id's state without taking its lock: it must
// answer while another command holds it. A container exists when both its
// config and its private area do, so a create that died half way never
// looks whole.
func (n *Node) Status(id int) (Status, error) {
	st := Status{ID: id}
	layer, err := n.LoadCT(id)
	if err != nil {
		// No config (or an unreadable one): report what the disk shows.
		layer = nil
	}
	eff := n.Effective(layer)
	private, root := n.path(eff.VEPrivate, id), n.path(eff.VERoot, id)
	if layer != nil {
		if fi, err := os.Stat(private); err == nil && fi.IsDir() {
			st.Exists = true
		}
	}
	st.Mounted, _ = isMountPoint(root)
	st.Running = n.running(id, eff)
	st.Suspended = !st.Running && n.Suspended(id)
	return st, nil
}

// Running reports whether container id runs, as the kernel sees it: its
// recorded init is alive, or its cgroup holds processes. The run record
// alone is not the truth: it can be lost (removed by hand, a full disk)
// while the guest lives on, and a container whose supervisor died keeps
// its processes; either is still running, and its files are in use.
func (n *Node) Running(id int) bool {
	return n.running(id, n.effectiveOrGlobal(id))
}

func (n *Node) running(id int, eff *conf.Config) bool {
	rd := n.RunDir(id)
	if s, err := runstate.Read(rd); err == nil && s.Alive() {
		return true
	}
	// A boot under way has processes before its record: not running yet
	// (exec could not join it), but busy.
	return len(n.procs(id, eff)) > 0 && !supervisor.Booting(rd)
}

// busy reports whether container id runs or its supervisor is alive
// (booting it, or tearing it down): commands that would pull its files
// or its mount from under it refuse then.
func (n *Node) busy(id int, eff *conf.Config) bool {
	return n.running(id, eff) || supervisor.Alive(n.RunDir(id))
}

// procs lists the processes in container id's cgroup; none when it has no
// group or the group cannot be read.
func (n *Node) procs(id int, eff *conf.Config) []int {
	g, err := cgroup.Open(n.cgroupParent(id, eff), strconv.Itoa(id))
	if err != nil {
		return nil
	}
	pids, _ := g.Procs()
	return pids
}

// effectiveOrGlobal is container id's effective config, or the global
// one when its own cannot be read (status must answer anyway).
func (n *Node) effectiveOrGlobal(id int) *conf.Config {
	layer, err := n.LoadCT(id)
	if err != nil {
		layer = nil
	}
	return n.Effective(layer)
}

// killOrphans kills what is left in container id's cgroup once its
// supervisor is gone (it died, or never learned of them) and removes the
// group: vzctl stop must end a container whatever became of its record.
func (n *Node) killOrphans(id int, eff *conf.Config) error {
	g, err := cgroup.Open(n.cgroupParent(id, eff), strconv.Itoa(id))
	if err != nil {
		return err
	}
	if pids, _ := g.Procs(); len(pids) == 0 {
		return nil
	}
	n.Log.Warnf("container %d: killing processes its supervisor did not stop", id)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.Kill(ctx); err != nil {
		return fmt.Errorf("killing container %d: %v: %w", id, err, vzerror.ErrStop)
	}
	if err := g.Destroy(); err != nil {
		return fmt.Errorf("removing cgroup of container %d: %v: %w", id, err, vzerror.ErrStop)
	}
	// What the supervisor's Poststop would have done.
	n.netPoststop(id)
	return nil
}
