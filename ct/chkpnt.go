package ct

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	criu "github.com/checkpoint-restore/go-criu/v7"
	"golang.org/x/sys/unix"

	"govz/conf"
	"govz/ct/cgroup"
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
	t, st, path, err := n.chkpntTarget(c)
	if err != nil {
		return err
	}
	// The supervisor is held before its container's tasks go: a pidfd
	// wakes the wait below the moment it exits.
	sup, err := runstate.OpenProcess(st.SupervisorPID)
	if err == nil {
		defer sup.Close()
	}
	n.Log.Infof("Setting up checkpoint...")
	t0 := time.Now()
	if err := checkpoint.DumpOnto(n.criu(path), t, n.DumpPath(id, dumpFile), parent); err != nil {
		return err
	}
	n.Log.Debugf(1, "checkpoint of container %d took %v", id, time.Since(t0))
	// The tasks are gone; the supervisor tears the rest down as after a
	// halt (cgroups, networking, the root's mount) and exits. Its process
	// is waited for, not its lock: while it re-execs (from its idle loop
	// into the Go teardown) the lock's holder can look like no
	// supervisor, and a restore right after found it still at work
	// ("container is running").
	if sup != nil {
		sup.Wait(30 * time.Second)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := runstate.StartTime(st.SupervisorPID); err != nil && !supervisor.Alive(rd) {
			break
		}
	}
	if err := n.killOrphans(id, eff); err != nil {
		return err
	}
	n.markRunning(id, false)
	n.Log.Infof("Checkpointing completed successfully")
	return nil
}

// criu is the CRIU at path for this node's commands: its version is asked
// once per executable, not before every dump (checkpoint.WithVersionCache).
func (n *Node) criu(path string) checkpoint.Engine {
	return checkpoint.WithVersionCache(checkpoint.NewEngine(path), filepath.Join(n.path(n.Global.RunDir, -1), "criu.version"))
}

// chkpntTarget is running container c as checkpoint's policy sees it, its
// run record and the CRIU to run.
func (n *Node) chkpntTarget(c *Container) (*checkpoint.Target, *runstate.State, string, error) {
	id, eff, rd := c.ID, c.Config, c.RunDir
	st, err := runstate.Read(rd)
	if err != nil || !st.Alive() {
		return nil, nil, "", fmt.Errorf("unable to checkpoint: %w", vzerror.ErrNotRunning)
	}
	path, err := checkpoint.Locate(conf.Str(n.Global.CRIUPath))
	if err != nil {
		return nil, nil, "", fmt.Errorf("%w: %w", err, vzerror.ErrChkpnt)
	}
	t, err := checkpoint.Inspect(strconv.Itoa(id), st.InitPID, c.Root, n.inv().Procs(id, eff))
	if err != nil {
		return nil, nil, "", err
	}
	t.Freezer = st.CgroupPaths["freezer"]
	if t.Freezer == "" {
		// cgroup v2: the freezer is the cgroup's own cgroup.freeze, which
		// CRIU uses when the path has one.
		t.Freezer = st.CgroupPaths[cgroup.UnifiedName]
	}
	if f := n.suspendedFreezer(id, eff); f != "" {
		t.Freezer = f // chkpnt --suspend froze it (chkpntsteps.go)
	}
	t.CgroupRoot = n.cgroupRoot(id, eff)
	ns, err := ctnet.ReadState(rd)
	if err != nil {
		return nil, nil, "", fmt.Errorf("container %d: its networking record: %w: %w", id, err, vzerror.ErrChkpnt)
	}
	vs, err := ns.Veths()
	if err != nil {
		return nil, nil, "", fmt.Errorf("container %d: its networking record: %w: %w", id, err, vzerror.ErrChkpnt)
	}
	for _, v := range vs {
		t.Veths = append(t.Veths, checkpoint.Veth{Inside: v[0], Outside: v[1]})
	}
	return t, st, path, nil
}

// cgroupRoot is container id's own cgroup as CRIU names it, when it is
// the same in every hierarchy (govz makes it so: PARENT/CTID/ct), else "".
func (n *Node) cgroupRoot(id int, eff *conf.Config) string {
	g, err := cgroup.Open(n.inv().CgroupParent(id, eff), strconv.Itoa(id))
	if err != nil {
		return ""
	}
	root := ""
	for _, p := range g.InnerCgroupPaths() {
		if root != "" && p != root {
			return ""
		}
		root = p
	}
	return root
}

// Restore brings container id back from dumpFile (DumpPath) under a new
// supervisor; on success the dump is removed. A failed restore leaves the
// dump where it was and the container stopped.
func (n *Node) Restore(id int, dumpFile string) error {
	return n.RestoreWhen(id, dumpFile, nil)
}

// RestoreWhen is Restore that, once the container is locked, loaded and
// its addresses found free, waits for ready (when not nil) and restores
// only if it returns nil: a live migration's destination has done that
// work before the source freezes, and ready returns when the images and
// the private area are there. Nothing is mounted before ready returns,
// as the private area may still be written to until then.
func (n *Node) RestoreWhen(id int, dumpFile string, ready func() error) error {
	l, err := n.lockOrSkip(id, "restore")
	if err != nil {
		return err
	}
	defer l.Release()
	c, err := n.loadStopped(id)
	if err != nil {
		return err
	}
	// As for a start: the addresses free, the node's sysctls in place.
	nc, err := ctnet.HostPlan(id, c.Config, func(string, ...any) {})
	if err != nil {
		return err
	}
	if err := ctnet.Preflight(n.inv(), id, nc.Addrs, nc.Neighbours); err != nil {
		return err
	}
	if ready != nil {
		if err := ready(); err != nil {
			return fmt.Errorf("container %d: restore called off: %w: %w", id, err, vzerror.ErrRestore)
		}
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
	// Network is the boot's network step: its host side is rebuilt
	// around the pairs CRIU recreates (ctnet.Attach).
	Network *ctnet.Step `json:"network,omitempty"`
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
	// As checkpoint.Restore decides it for CRIU.
	m, err := checkpoint.ReadMeta(dir)
	if err != nil {
		return 0, fmt.Errorf("container %d: no usable dump in %s: %w: %w", d.ID, dir, err, vzerror.ErrRestore)
	}
	nets, err := checkpoint.NetNamespaces(dir)
	if err != nil {
		return 0, fmt.Errorf("container %d: %w: %w", d.ID, err, vzerror.ErrRestore)
	}
	nfy := &attachNetwork{id: d.ID, step: d.Network, dir: dir, emptyNS: checkpoint.EmptyNetNS(m.Veths, nets)}
	if d.Network != nil {
		if err := sameVeths(d.ID, dir, d.Network); err != nil {
			return 0, err
		}
	}
	pid, err := checkpoint.Restore(checkpoint.NewEngine(path), t, dir, os.TempDir(), console, nfy)
	if err != nil {
		// CRIU killed the tree: nothing of its networking may stay, as
		// after a stop.
		nfy.undo()
	}
	return pid, err
}

// attachNetwork gives the restored container's network namespace, which
// CRIU restores empty, what the dump saved of it and what a boot's
// network step gives a new one (ctnet.Restore): the pair and the
// container's addresses once the namespace exists (setup-namespaces), the
// host's routes, proxy entries and rules once the tasks are back and CRIU
// still holds their network locked (post-restore; CRIU unlocks it after
// the notification returned). A container without network step gets its
// loopback device's state only (ctnet.RestoreNS), unless CRIU restored its
// namespaces itself (nested ones: checkpoint.EmptyNetNS).
type attachNetwork struct {
	criu.NoNotify
	id   int
	step *ctnet.Step
	dir  string // the dump
	// emptyNS is whether CRIU restores the network namespace empty
	// (checkpoint.EmptyNetNS); if not, CRIU restored its state.
	emptyNS bool
	rst     *ctnet.Restore
}

func (a *attachNetwork) SetupNamespaces(pid int32) error {
	if a.step == nil {
		if !a.emptyNS {
			return nil
		}
		return ctnet.RestoreNS(int(pid), a.dir, ctnet.Warnf(a.id))
	}
	rst, err := ctnet.NewRestore(a.step, int(pid), a.dir, a.emptyNS)
	if err != nil {
		return err
	}
	a.rst = rst
	return rst.Pair()
}

func (a *attachNetwork) PostRestore(int32) error {
	if a.rst == nil {
		return nil
	}
	return a.rst.Route()
}

// undo removes what the notifications made, after a failed restore.
func (a *attachNetwork) undo() {
	if a.rst != nil {
		a.rst.Undo()
	}
}

// sameVeths refuses a dump whose interfaces are not the configuration's
// (an interface added or removed since the checkpoint): CRIU recreates
// the dump's, the host side would be built for the configuration's.
func sameVeths(id int, dir string, ns *ctnet.Step) error {
	m, err := checkpoint.ReadMeta(dir)
	if err != nil {
		return fmt.Errorf("container %d: no usable dump in %s: %w: %w", id, dir, err, vzerror.ErrRestore)
	}
	want, err := ns.Veths()
	if err != nil {
		return fmt.Errorf("container %d: %w: %w", id, err, vzerror.ErrRestore)
	}
	var have [][2]string
	for _, v := range m.Veths {
		have = append(have, [2]string{v.Inside, v.Outside})
	}
	if !slices.Equal(have, want) {
		return fmt.Errorf("container %d: the dump's network interfaces %v are not the configured %v (changed since the checkpoint): %w",
			id, have, want, vzerror.ErrRestore)
	}
	return nil
}
