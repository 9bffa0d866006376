package ct

import (
	"errors"
	"fmt"
	"os"

	"govz/conf"
	"govz/ct/inventory"
	"govz/ct/recovery"
	"govz/ct/storage"
	"govz/ct/vzerror"
)

// Destroy removes container id: config, name, private area, mount point
// and run directory. The config goes first: from that moment the container
// no longer exists, and if this process dies the next holder of the lock
// removes the rest.
func (n *Node) Destroy(id int) error {
	l, err := n.lock(id, "destroy")
	if err != nil {
		return err
	}
	defer l.Release()
	c, err := n.Load(id)
	if err != nil {
		return err
	}
	layer, eff := c.Layer, c.Config
	if n.busy(id, eff) {
		return fmt.Errorf("container %d is running, stop it first: %w", id, vzerror.ErrRunning)
	}
	private, root := c.Private, c.Root
	// Refuse while anything is mounted in the tree: removing files through
	// a mount would delete whatever the mount shows, host data included.
	if busy, err := inventory.MountedUnder(private, root); err != nil {
		return fmt.Errorf("reading mount table: %w: %w", err, vzerror.ErrSystem)
	} else if busy {
		return fmt.Errorf("container %d is mounted, unmount it first: %w", id, vzerror.ErrMounted)
	}
	lay, err := n.layoutOf(eff)
	if err != nil {
		return err
	}
	if err := l.Update(recovery.Record("destroy", private, root)); err != nil {
		return err
	}
	if err := os.Remove(c.ConfFile); err != nil {
		return fmt.Errorf("removing config %s: %w: %w", c.ConfFile, err, vzerror.ErrDeletePrivate)
	}
	if nm := conf.Str(layer.Name); nm != "" {
		n.unregisterName(id, nm)
	}
	n.retireActionScripts(id)
	n.Log.Infof("Destroying container private area: %s", private)
	// Rename first so a half-removed tree never sits at the private path.
	gone := private + ".destroyed"
	if err := os.Rename(private, gone); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("renaming %s: %w: %w", private, err, vzerror.ErrDeletePrivate)
	}
	if err := lay.Destroy(storage.CT{ID: id, Private: gone, Root: root}); err != nil {
		return err
	}
	if err := storage.RemoveSnapshots(storage.CT{ID: id, Private: private}); err != nil {
		n.Log.Warnf("container %d: removing its snapshots: %v", id, err)
	}
	os.Remove(root)
	os.RemoveAll(c.RunDir)
	n.markRunning(id, false)
	n.Log.Infof("Container private area was destroyed")
	return nil
}
