package ct

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"govz/conf"
	"govz/ct/cgroup"
	"govz/ct/checkpoint"
	"govz/ct/ctnet"
	"govz/ct/supervisor"
	"govz/ct/vzerror"
)

// vzctl chkpnt's phases, which vzmigrate runs as separate commands: a
// live migration freezes the source (--suspend), saves it (--dump),
// copies the dump, restores it on the destination, and only then kills
// the source (--kill), or thaws it again when the destination failed
// (--resume).
//
// Between the commands the container's frozen cgroup is the only record
// of the suspend: the kernel keeps it whatever becomes of vzctl, so a
// crash leaves nothing that --resume or --kill cannot take up, and
// `vzctl status` still says running (the kernel has its processes).

// ChkpntStep is one phase of vzctl chkpnt.
type ChkpntStep string

const (
	StepSuspend ChkpntStep = "suspend" // freeze the container's cgroup
	StepDump    ChkpntStep = "dump"    // save the frozen container, leave it frozen
	StepKill    ChkpntStep = "kill"    // kill the frozen container: the dump now stands for it
	StepResume  ChkpntStep = "resume"  // thaw it; its dump is removed
)

// suspendTimeout bounds the wait for every task to stop (a task in an
// uninterruptible sleep delays a freeze); CRIU's own freeze waits as long.
const suspendTimeout = 10 * time.Second

// ChkpntPlan orders the phases vzctl chkpnt was given: nil when none or
// all three of suspend, dump and kill are (the whole checkpoint, Chkpnt),
// else suspend, dump, then kill or resume. Kill and resume exclude each
// other, and so do dump and resume: a resume removes the dump, which a
// container that ran on no longer matches.
func ChkpntPlan(suspend, dump, kill, resume bool) ([]ChkpntStep, error) {
	switch {
	case kill && resume:
		return nil, fmt.Errorf("--kill and --resume exclude each other: %w", vzerror.ErrInvalidValue)
	case dump && resume:
		return nil, fmt.Errorf("--dump and --resume exclude each other (a resume removes the dump, which the running container no longer matches): %w", vzerror.ErrInvalidValue)
	case !resume && suspend == dump && dump == kill:
		return nil, nil
	}
	var steps []ChkpntStep
	for _, s := range []struct {
		on   bool
		step ChkpntStep
	}{{suspend, StepSuspend}, {dump, StepDump}, {kill, StepKill}, {resume, StepResume}} {
		if s.on {
			steps = append(steps, s.step)
		}
	}
	return steps, nil
}

// ChkpntSteps runs steps (ChkpntPlan's order) on container id under one
// lock; dumpFile is as for Chkpnt. It stops at the first step that fails.
func (n *Node) ChkpntSteps(id int, dumpFile string, steps []ChkpntStep) error {
	l, err := n.lockOrSkip(id, "chkpnt")
	if err != nil {
		return err
	}
	defer l.Release()
	c, err := n.Load(id)
	if err != nil {
		return err
	}
	for _, s := range steps {
		switch s {
		case StepSuspend:
			err = n.suspendCT(c)
		case StepDump:
			err = n.dumpFrozen(c, dumpFile)
		case StepKill:
			err = n.killFrozen(c)
		case StepResume:
			err = n.resumeFrozen(c, dumpFile)
		default:
			err = fmt.Errorf("unknown chkpnt step %q: %w", s, vzerror.ErrInvalidValue)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// freezerOf is running container c's cgroup and its freezer's state;
// op names the step for the error when c does not run.
func (n *Node) freezerOf(c *Container, op string) (*cgroup.Group, cgroup.FreezerState, error) {
	if !n.running(c.ID, c.Config) {
		return nil, 0, fmt.Errorf("unable to %s: %w", op, vzerror.ErrNotRunning)
	}
	g, err := cgroup.Open(n.cgroupParent(c.ID, c.Config), strconv.Itoa(c.ID))
	if err != nil {
		return nil, 0, fmt.Errorf("container %d: %w: %w", c.ID, err, vzerror.ErrChkpnt)
	}
	s, err := g.FreezerState()
	if err != nil {
		return nil, 0, fmt.Errorf("container %d: %w: %w", c.ID, err, vzerror.ErrChkpnt)
	}
	return g, s, nil
}

// needFrozen refuses step op on container c unless it is suspended
// (frozen by chkpnt --suspend).
func (n *Node) needFrozen(c *Container, op string) (*cgroup.Group, error) {
	g, s, err := n.freezerOf(c, op)
	if err != nil {
		return nil, err
	}
	if s != cgroup.Frozen {
		return nil, fmt.Errorf("container %d is running, %s, not suspended: chkpnt --%s needs chkpnt --suspend first: %w", c.ID, s, op, vzerror.ErrChkpnt)
	}
	return g, nil
}

// suspendedFreezer is the freezer of container id when chkpnt --suspend
// froze it, else "": CRIU must be given the group that is frozen
// (cgroup.Group.FreezerDir).
func (n *Node) suspendedFreezer(id int, eff *conf.Config) string {
	g, err := cgroup.Open(n.cgroupParent(id, eff), strconv.Itoa(id))
	if err != nil {
		return ""
	}
	if s, err := g.FreezerState(); err != nil || s != cgroup.Frozen {
		return ""
	}
	d, err := g.FreezerDir()
	if err != nil {
		return ""
	}
	return d
}

// suspendCT freezes running container c (Node.Freeze, which also flushes
// its root's file system: vzmigrate copies the disk while it is frozen)
// and leaves it frozen. A freeze that does not complete is undone.
func (n *Node) suspendCT(c *Container) error {
	_, s, err := n.freezerOf(c, "suspend")
	if err != nil {
		return err
	}
	if s == cgroup.Frozen {
		return fmt.Errorf("container %d is suspended already: %w", c.ID, vzerror.ErrChkpnt)
	}
	n.Log.Infof("Suspending container ...")
	h := &Held{ID: c.ID, Eff: c.Config, CT: c.Storage, Running: true}
	if _, err := n.Freeze(h, suspendTimeout); err != nil {
		return fmt.Errorf("unable to suspend: %w: %w", err, vzerror.ErrChkpnt)
	}
	n.Log.Infof("Container is suspended")
	return nil
}

// dumpFrozen saves suspended container c into its dump (DumpPath) and
// leaves it frozen, its network's host side in place: it still runs on
// this node. CRIU writes into a ".part" directory renamed into place
// once it succeeded, so that a vzctl that dies in the middle leaves no
// dump a restore would take for whole.
func (n *Node) dumpFrozen(c *Container, dumpFile string) error {
	if _, err := n.needFrozen(c, "dump"); err != nil {
		return err
	}
	dir := n.DumpPath(c.ID, dumpFile)
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("container %d: dump %s exists already (restore it or remove it): %w", c.ID, dir, vzerror.ErrChkpnt)
	}
	t, _, path, err := n.chkpntTarget(c)
	if err != nil {
		return err
	}
	t.LeaveRunning = true
	part := dir + ".part"
	// A dump a crashed vzctl left half written; the lock says no other
	// command writes it.
	if err := os.RemoveAll(part); err != nil {
		return fmt.Errorf("container %d: removing the unfinished dump %s: %w: %w", c.ID, part, err, vzerror.ErrChkpnt)
	}
	n.Log.Infof("Dumping container ...")
	t0 := time.Now()
	if err := checkpoint.Dump(n.criu(path), t, part); err != nil {
		return err
	}
	n.Log.Debugf(1, "dump of container %d took %v", c.ID, time.Since(t0))
	// A CRIU that thaws the group it found frozen would let the tasks
	// run on, which the dump then no longer stands for.
	if _, err := n.needFrozen(c, "dump"); err != nil {
		os.RemoveAll(part)
		return fmt.Errorf("container %d: not frozen after the dump (%s thawed it?), dump removed: %w", c.ID, path, vzerror.ErrChkpnt)
	}
	if err := os.Rename(part, dir); err != nil {
		os.RemoveAll(part)
		return fmt.Errorf("container %d: %w: %w", c.ID, err, vzerror.ErrChkpnt)
	}
	syncDir(filepath.Dir(dir))
	n.Log.Infof("Container is dumped to %s", dir)
	return nil
}

// killFrozen kills suspended container c; its supervisor then tears the
// rest down (networking, cgroups, the root's mount) as after a halt, and
// exits, as at the end of a whole chkpnt. The tasks die without running
// again (cgroup.Group.Kill thaws only after the kill), so a dump made by
// --dump still stands for the container: vzctl status says suspended
// and vzctl restore brings it back.
func (n *Node) killFrozen(c *Container) error {
	if _, err := n.needFrozen(c, "kill"); err != nil {
		return err
	}
	n.Log.Infof("Killing container ...")
	// Since the dump the tasks' sockets are live again (CRIU takes the
	// TCP connections of a tree it leaves running out of repair mode and
	// unlocks its network): killed, they would close their connections
	// (FIN, RST) that a restore of the dump carries on. A whole chkpnt
	// kills them with the network locked; here the host side, which the
	// supervisor removes after a kill, goes first, the pairs with it, so
	// that nothing the dying tasks send leaves their namespace.
	if err := ctnet.Teardown(c.ID, c.RunDir, n.LockDir(), n.Log.Warnf); err != nil {
		return fmt.Errorf("container %d: removing its networking before the kill: %w: %w", c.ID, err, vzerror.ErrChkpnt)
	}
	// A fast stop: the supervisor kills the cgroup at once, runs nothing
	// inside, and answers once it is done.
	if err := supervisor.Stop(c.RunDir, 0, true); err != nil && !errors.Is(err, vzerror.ErrNotRunning) {
		return fmt.Errorf("container %d: %w: %w", c.ID, err, vzerror.ErrChkpnt)
	}
	if err := n.killOrphans(c.ID, c.Config); err != nil {
		return err
	}
	n.markRunning(c.ID, false)
	n.Log.Infof("Container is killed")
	return nil
}

// resumeFrozen thaws suspended container c after removing its dump:
// once the tasks run on, the dump no longer stands for them, and a
// restore of it after a stop would bring back a past the files left
// behind. Removed first: a crash in between leaves a frozen container
// without a dump, which a second --resume thaws.
func (n *Node) resumeFrozen(c *Container, dumpFile string) error {
	g, s, err := n.freezerOf(c, "resume")
	if err != nil {
		return err
	}
	// Freezing: a suspend that died before every task stopped.
	if s == cgroup.Thawed {
		return fmt.Errorf("container %d is running, not suspended: nothing to resume: %w", c.ID, vzerror.ErrChkpnt)
	}
	dir := n.DumpPath(c.ID, dumpFile)
	if _, err := os.Lstat(dir); err == nil {
		n.Log.Infof("Removing the dump %s", dir)
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("container %d: removing the dump %s: %w: %w", c.ID, dir, err, vzerror.ErrChkpnt)
		}
		syncDir(filepath.Dir(dir))
	}
	os.RemoveAll(dir + ".part")
	n.Log.Infof("Resuming container ...")
	if err := g.Thaw(); err != nil {
		return fmt.Errorf("container %d: %w: %w", c.ID, err, vzerror.ErrChkpnt)
	}
	n.Log.Infof("Container is resumed")
	return nil
}
