package ct

import (
	"fmt"
	"os"

	"govz/conf"
	"govz/ct/inventory"
	"govz/ct/vzerror"
)

// Retire takes stopped container id off this node without destroying it:
// its config is renamed CTID.toml+suffix and its name link removed, so the
// node no longer lists it, and its name cannot come back to life pointing
// at a later container with the same CTID (vzmigrate -r no on the source,
// ".migrated", as OpenVZ's CTID.conf.migrated). With setAside the private
// area is renamed PRIVATE+suffix as well, so a new container may take the
// CTID (vzmigrate --keep-dst on the destination, ".kept").
func (n *Node) Retire(id int, suffix string, setAside bool) error {
	l, err := n.lock(id, "retire")
	if err != nil {
		return err
	}
	defer l.Release()
	c, err := n.loadStopped(id)
	if err != nil {
		return err
	}
	if busy, err := inventory.MountedUnder(c.Private, c.Root); err != nil {
		return fmt.Errorf("reading mount table: %w: %w", err, vzerror.ErrSystem)
	} else if busy {
		return fmt.Errorf("container %d is mounted, unmount it first: %w", id, vzerror.ErrMounted)
	}
	// Nothing is overwritten: a second retired copy under the same suffix
	// is the admin's to sort out.
	targets := []string{c.ConfFile + suffix}
	if setAside {
		targets = append(targets, c.Private+suffix)
	}
	for _, t := range targets {
		if _, err := os.Lstat(t); err == nil {
			return fmt.Errorf("retiring container %d: %s already exists: %w", id, t, vzerror.ErrPrivateExists)
		}
	}
	if setAside {
		if err := os.Rename(c.Private, c.Private+suffix); err != nil {
			return fmt.Errorf("setting aside %s: %w: %w", c.Private, err, vzerror.ErrSystem)
		}
		os.Remove(c.Root)
	}
	if err := os.Rename(c.ConfFile, c.ConfFile+suffix); err != nil {
		return fmt.Errorf("retiring config %s: %w: %w", c.ConfFile, err, vzerror.ErrConfigSave)
	}
	if nm := conf.Str(c.Layer.Name); nm != "" {
		n.unregisterName(id, nm)
	}
	os.RemoveAll(c.RunDir)
	n.markRunning(id, false)
	return nil
}
