package ct

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"govz/conf"
	"govz/ct/cgroup"
	"govz/ct/inventory"
	"govz/ct/vzerror"
)

// Status is what `vzctl status` reports.
type Status = inventory.Status

// Status reports container id's state without taking its lock: it must
// answer while another command holds it. A container exists when both its
// config and its private area do, so a create that died half way never
// looks whole.
func (n *Node) Status(id int) (Status, error) {
	return n.statusOf(n.loadOrGlobal(id)), nil
}

// statusOf is Status of container c, loaded by the caller.
func (n *Node) statusOf(c *Container) Status { return n.inv().StatusOf(c.ID, c.Layer, c.Config) }

// Running reports whether container id runs, as the kernel sees it
// (inventory.Node.Running).
func (n *Node) Running(id int) bool {
	return n.running(id, n.effectiveOrGlobal(id))
}

func (n *Node) running(id int, eff *conf.Config) bool { return n.inv().Running(id, eff) }

// busy reports whether container id runs or its supervisor is alive.
func (n *Node) busy(id int, eff *conf.Config) bool { return n.inv().Busy(id, eff) }

func (n *Node) cgroupParent(id int, eff *conf.Config) string { return n.inv().CgroupParent(id, eff) }

// effectiveOrGlobal is container id's effective config, or the global
// one when its own cannot be read (status must answer anyway).
func (n *Node) effectiveOrGlobal(id int) *conf.Config { return n.loadOrGlobal(id).Config }

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
		return fmt.Errorf("killing container %d: %w: %w", id, err, vzerror.ErrStop)
	}
	if err := g.Destroy(); err != nil {
		return fmt.Errorf("removing cgroup of container %d: %w: %w", id, err, vzerror.ErrStop)
	}
	// What the supervisor's Poststop would have done.
	n.netPoststop(id)
	return nil
}
