package ct

import (
	"fmt"
	"os"

	"govz/ct/runstate"
)

// Status is what `vzctl status` reports.
type Status struct {
	ID      int
	Exists  bool
	Mounted bool
	Running bool
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
	st.Running = n.Running(id)
	return st, nil
}

// Running reports whether container id's init is alive.
func (n *Node) Running(id int) bool {
	s, err := runstate.Read(n.RunDir(id))
	return err == nil && s.Alive()
}
