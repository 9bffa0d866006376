package ct

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"govz/conf"
	"govz/ct/checkpoint"
	"govz/ct/ctnet"
	"govz/ct/inventory"
	"govz/ct/runstate"
	"govz/ct/supervisor"
	"govz/ct/vzerror"
)

// Checkpoint and restore (vzctl chkpnt/restore, suspend/resume): the glue
// between the node and ct/checkpoint, which holds the policy.

// DumpPath is where container id's dump goes: file when given
// (--dumpfile), else DUMPDIR/Dump.CTID as vzctl names it.
func (n *Node) DumpPath(id int, file string) string { return n.inv().DumpPath(id, file) }

// Suspended reports whether a dump of container id waits to be restored.
func (n *Node) Suspended(id int) bool { return n.inv().Suspended(id) }

// dropStaleDump removes container id's dump once it booted afresh, as
// vzctl does: its memory no longer matches the files, and restoring it
// later would bring back processes whose files changed under them.
func (n *Node) dropStaleDump(id int) {
	if p := n.DumpPath(id, ""); n.Suspended(id) {
		n.Log.Infof("Removing the stale dump %s", p)
		os.RemoveAll(p)
	}
}

// Chkpnt saves running container id to dumpFile (DumpPath) and stops it.
// Whatever fails before the tasks are saved leaves it running.
func (n *Node) Chkpnt(id int, dumpFile string) error { return n.chkpnt(id, dumpFile, "") }

// chkpnt is Chkpnt onto the pre-dump in parent (checkpoint.DumpOnto).
func (n *Node) chkpnt(id int, dumpFile, parent string) error {
	l, err := n.lockOrSkip(id, "chkpnt")
	if err != nil {
		return err
	}
	defer l.Release()
	c, err := n.Load(id)
	if err != nil {
		return err
	}
	eff, rd := c.Config, c.RunDir
	st, err := runstate.Read(rd)
	if err != nil || !st.Alive() {
		return fmt.Errorf("unable to checkpoint: %w", vzerror.ErrNotRunning)
	}
	path, err := checkpoint.Locate(conf.Str(n.Global.CRIUPath))
	if err != nil {
		return fmt.Errorf("%w: %w", err, vzerror.ErrChkpnt)
	}
	t, err := checkpoint.Inspect(strconv.Itoa(id), st.InitPID, c.Root, n.inv().Procs(id, eff))
	if err != nil {
		return err
	}
	t.Freezer = st.CgroupPaths["freezer"]
	if ns, err := ctnet.ReadState(rd); err != nil || !ns.Empty() {
		t.Network = true
	}
	n.Log.Infof("Setting up checkpoint...")
	t0 := time.Now()
	if err := checkpoint.DumpOnto(checkpoint.NewEngine(path), t, n.DumpPath(id, dumpFile), parent); err != nil {
		return err
	}
	n.Log.Debugf(1, "checkpoint of container %d took %v", id, time.Since(t0))
	// The tasks are gone; the supervisor tears the rest down as after a
	// halt (cgroups, networking, the root's mount).
	for deadline := time.Now().Add(30 * time.Second); supervisor.Alive(rd) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if err := n.killOrphans(id, eff); err != nil {
		return err
	}
	n.markRunning(id, false)
	n.Log.Infof("Checkpointing completed successfully")
	return nil
}

// Restore brings container id back from dumpFile (DumpPath) under a new
// supervisor; on success the dump is removed. A failed restore leaves the
// dump where it was and the container stopped.
func (n *Node) Restore(id int, dumpFile string) error {
	l, err := n.lockOrSkip(id, "restore")
	if err != nil {
		return err
	}
	defer l.Release()
	c, err := n.loadStopped(id)
	if err != nil {
		return err
	}
	dir := n.DumpPath(id, dumpFile)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("container %d: no dump at %s: %w", id, dir, vzerror.ErrRestore)
	}
	root := c.Root
	mounted, err := inventory.IsMountPoint(root)
	if err != nil {
		return fmt.Errorf("reading mount table: %w: %w", err, vzerror.ErrSystem)
	}
	if !mounted {
		if err := n.mountCT(c); err != nil {
			return err
		}
	}
	n.Log.Infof("Restoring container ...")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := supervisor.Start(ctx, func() (*supervisor.Spec, error) { return n.bootOf(c) }, supervisor.StartOptions{Restore: dir}); err != nil {
		if !mounted && !n.Running(id) {
			unix.Unmount(root, unix.MNT_DETACH)
		}
		return err
	}
	os.RemoveAll(dir)
	n.markRunning(id, true)
	n.Log.Infof("Restoring completed successfully")
	return nil
}

// restoreStep is the data of a boot's restorer step: what the supervisor
// needs to bring the guest back from a dump, with nothing loaded there.
type restoreStep struct {
	ID       int    `json:"id"`
	Root     string `json:"root"`
	CRIUPath string `json:"criu_path,omitempty"`
	// CgroupRoot is where this node puts the container's processes
	// (checkpoint.Target.CgroupRoot).
	CgroupRoot string `json:"cgroup_root,omitempty"`
}

// restore is the supervisor's Hooks.Restore for the container.
func (d *restoreStep) restore(dir string, console *os.File, uids, gids []supervisor.IDMap) (int, error) {
	path, err := checkpoint.Locate(d.CRIUPath)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", err, vzerror.ErrRestore)
	}
	t := &checkpoint.Target{ID: strconv.Itoa(d.ID), Rootfs: d.Root, CgroupRoot: d.CgroupRoot}
	for _, m := range uids {
		t.UIDMap = append(t.UIDMap, checkpoint.IDMap(m))
	}
	for _, m := range gids {
		t.GIDMap = append(t.GIDMap, checkpoint.IDMap(m))
	}
	return checkpoint.Restore(checkpoint.NewEngine(path), t, dir, os.TempDir(), console, nil)
}
