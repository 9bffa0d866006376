package ct

import (
	"govz/conf"
	"govz/ct/checkpoint"
	"govz/ct/vzerror"
)

// Live checkpointing (vzmigrate --online): the checks and pre-dumps made
// while the container runs, before the final ChkpntOnto.

// liveTarget is running container id as checkpoint's policy sees it, and
// the CRIU engine to use.
func (n *Node) liveTarget(id int) (*checkpoint.Target, checkpoint.Engine, error) {
	c, err := n.Load(id)
	if err != nil {
		return nil, nil, err
	}
	t, _, path, err := n.chkpntTarget(c)
	if err != nil {
		return nil, nil, err
	}
	return t, n.criu(path), nil
}

// CheckChkpnt refuses, with checkpoint.Preflight's reason, a running
// container id that Chkpnt would refuse, or a node whose CRIU is missing or
// too old; nothing is changed.
func (n *Node) CheckChkpnt(id int) error {
	t, e, err := n.liveTarget(id)
	if err != nil {
		return err
	}
	if err := checkpoint.CheckVersion(e, vzerror.ErrChkpnt); err != nil {
		return err
	}
	return checkpoint.Preflight(t)
}

// CanPreDump reports whether this node pre-dumps (checkpoint.CanPreDump),
// and when not, why.
func (n *Node) CanPreDump() (bool, string) {
	path, err := checkpoint.Locate(conf.Str(n.Global.CRIUPath))
	if err != nil {
		return false, err.Error()
	}
	return checkpoint.CanPreDump(n.criu(path))
}

// PreDump saves running container id's memory into dir (which must not
// exist) and leaves it running; parent is the previous pre-dump relative
// to dir, or "". Not under the container's lock: the caller holds none
// and a pre-dump changes nothing of the container but its soft-dirty
// bits.
func (n *Node) PreDump(id int, dir, parent string) error {
	t, e, err := n.liveTarget(id)
	if err != nil {
		return err
	}
	return checkpoint.PreDump(e, t, dir, parent)
}

// ChkpntOnto is Chkpnt into dir writing only the memory written since the
// pre-dump in parent (relative to dir; "" for all of it).
func (n *Node) ChkpntOnto(id int, dir, parent string) error {
	return n.chkpnt(id, dir, parent)
}

// DumpOwner is the group of the container's root on the host, for a dump
// tree the restored tasks must read (checkpoint.Restore).
func (n *Node) DumpOwner(id int) (int, error) {
	t, _, err := n.liveTarget(id)
	if err != nil {
		return 0, err
	}
	return t.DevOwner[1], nil
}
