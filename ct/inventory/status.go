package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"govz/conf"
	"govz/ct/cgroup"
	"govz/ct/runstate"
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

// StatusOf reports container id's state from its layer (nil: it has no
// config, or an unreadable one; report what the disk shows) and effective
// config, without taking its lock: it must answer while another command
// holds it. A container exists when both its config and its private area
// do, so a create that died half way never looks whole.
func (n *Node) StatusOf(id int, layer, eff *conf.Config) Status {
	return n.StatusIn(nil, id, layer, eff)
}

// StatusIn is StatusOf against v, the node's tables read once for many
// containers (nil: read them for this one).
func (n *Node) StatusIn(v *View, id int, layer, eff *conf.Config) Status {
	st := Status{ID: id}
	if layer != nil {
		if fi, err := os.Stat(n.Path(eff.VEPrivate, id)); err == nil && fi.IsDir() {
			st.Exists = true
		}
	}
	if v != nil && v.mounts != nil {
		st.Mounted = v.mounts[realPath(n.Path(eff.VERoot, id))]
	} else {
		st.Mounted, _ = IsMountPoint(n.Path(eff.VERoot, id))
	}
	st.Running = n.running(v, id, eff)
	st.Suspended = !st.Running && n.Suspended(id)
	return st
}

// DumpPath is where container id's dump goes: file when given
// (--dumpfile), else DUMPDIR/Dump.CTID as vzctl names it.
func (n *Node) DumpPath(id int, file string) string {
	if file != "" {
		return file
	}
	return filepath.Join(n.Path(n.Global.DumpDir, id), "Dump."+strconv.Itoa(id))
}

// Suspended reports whether a dump of container id waits to be restored.
func (n *Node) Suspended(id int) bool {
	fi, err := os.Stat(n.DumpPath(id, ""))
	return err == nil && fi.IsDir()
}

// View is the node's mount table and cgroup hierarchies read once, for
// reporting on many containers in one pass: vzlist on a node of a
// thousand containers parsed /proc/self/mountinfo twice per container.
// It is a snapshot: a command that changes mounts or groups must not
// keep one.
type View struct {
	mounts map[string]bool // nil: unreadable, read per container
	cg     *cgroup.Host    // nil: unreadable, opened per container
}

// View reads the node's tables. What cannot be read is read again per
// container, which reports it as StatusOf does.
func (n *Node) View() *View {
	v := &View{}
	if mps, err := mountPoints(); err == nil {
		v.mounts = make(map[string]bool, len(mps))
		for _, m := range mps {
			v.mounts[m] = true
		}
	}
	if h, err := cgroup.ReadHost(); err == nil {
		v.cg = h
	}
	return v
}

// Cgroup opens a container's group through the view's cgroup hierarchies;
// a nil view, or one that could not read them, reads them now.
func (v *View) Cgroup(parent, id string) (*cgroup.Group, error) {
	if v != nil && v.cg != nil {
		return v.cg.Open(parent, id)
	}
	return cgroup.Open(parent, id)
}

// Running reports whether container id runs, as the kernel sees it: its
// recorded init is alive, or its cgroup holds processes. The run record
// alone is not the truth: it can be lost (removed by hand, a full disk)
// while the guest lives on, and a container whose supervisor died keeps
// its processes; either is still running, and its files are in use.
func (n *Node) Running(id int, eff *conf.Config) bool {
	return n.running(nil, id, eff)
}

func (n *Node) running(v *View, id int, eff *conf.Config) bool {
	_, running := n.runningState(v, id, eff)
	return running
}

// RunningState is Running, with the run record it read when that names a
// live init (nil otherwise: a stopped container, or one whose processes
// run without a live record), for a command that acts on the running
// container next and must not read the record again.
func (n *Node) RunningState(id int, eff *conf.Config) (*runstate.State, bool) {
	return n.runningState(nil, id, eff)
}

func (n *Node) runningState(v *View, id int, eff *conf.Config) (*runstate.State, bool) {
	rd := n.RunDir(id)
	if s, err := runstate.Read(rd); err == nil && s.Alive() {
		return s, true
	}
	// A boot under way has processes before its record: not running yet
	// (exec could not join it), but busy.
	return nil, len(n.procs(v, id, eff)) > 0 && !runstate.Booting(rd)
}

// Busy reports whether container id runs or its supervisor is alive
// (booting it, or tearing it down): commands that would pull its files
// or its mount from under it refuse then.
func (n *Node) Busy(id int, eff *conf.Config) bool {
	return n.Running(id, eff) || runstate.Alive(n.RunDir(id))
}

// Procs lists the processes in container id's cgroup; none when it has no
// group or the group cannot be read.
func (n *Node) Procs(id int, eff *conf.Config) []int {
	return n.procs(nil, id, eff)
}

func (n *Node) procs(v *View, id int, eff *conf.Config) []int {
	g, err := v.Cgroup(n.CgroupParent(id, eff), strconv.Itoa(id))
	if err != nil {
		return nil
	}
	pids, _ := g.Procs()
	return pids
}

// CgroupParent is the parent a container's group lives under: what its
// run record says while it runs (the global config may have changed
// since), else the configured one.
func (n *Node) CgroupParent(id int, eff *conf.Config) string {
	if st, err := runstate.Read(n.RunDir(id)); err == nil && st.CgroupParent != "" {
		return st.CgroupParent
	}
	if p := conf.Str(eff.CgroupParent); p != "" {
		return p
	}
	return cgroup.DefaultParent
}
