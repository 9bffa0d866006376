package ct

import (
	"fmt"
	"os"

	"govz/ct/inventory"
	"govz/ct/vzerror"
)

// Mount mounts container id's private area at its root, the way its
// layout does it (a bind mount, or an image through a loop device).
func (n *Node) Mount(id int) error {
	l, err := n.lockOrSkip(id, "mount")
	if err != nil {
		return err
	}
	defer l.Release()
	return n.mount(id)
}

func (n *Node) mount(id int) error {
	c, err := n.Load(id)
	if err != nil {
		return err
	}
	return n.mountCT(c)
}

// mountCT mounts container c, loaded by the caller.
func (n *Node) mountCT(ct *Container) error {
	id, c := ct.ID, ct.Storage
	var err error
	if c.UIDMap, c.GIDMap, err = storageIDMaps(ct.Layer); err != nil {
		return err
	}
	if mp, err := inventory.IsMountPoint(c.Root); err != nil {
		return fmt.Errorf("reading mount table: %w: %w", err, vzerror.ErrSystem)
	} else if mp {
		return fmt.Errorf("container %d is already mounted at %s: %w", id, c.Root, vzerror.ErrMounted)
	}
	if st, err := os.Stat(c.Private); err != nil || !st.IsDir() {
		return fmt.Errorf("container %d: private area %s not found: %w", id, c.Private, vzerror.ErrNoPrivate)
	}
	if err := n.confine(c); err != nil {
		return err
	}
	if err := os.MkdirAll(c.Root, 0o755); err != nil {
		return fmt.Errorf("creating mount point %s: %w: %w", c.Root, err, vzerror.ErrMountPoint)
	}
	lay, err := n.layoutOf(ct.Config)
	if err != nil {
		return err
	}
	if err := n.runHostScripts(ct, phasePremount); err != nil {
		return err
	}
	if err := lay.Mount(c); err != nil {
		return err
	}
	if err := n.runHostScripts(ct, phaseMount); err != nil {
		if uerr := lay.Umount(c); uerr != nil {
			n.Log.Warnf("undoing the mount: %v", uerr)
		}
		return err
	}
	n.Log.Infof("Container is mounted")
	return nil
}

// Umount unmounts container id's root; it refuses while the container runs.
func (n *Node) Umount(id int) error {
	l, err := n.lockOrSkip(id, "umount")
	if err != nil {
		return err
	}
	defer l.Release()
	c, err := n.loadStopped(id)
	if err != nil {
		return err
	}
	return n.umountCT(c)
}

func (n *Node) umount(id int) error {
	c, err := n.Load(id)
	if err != nil {
		return err
	}
	return n.umountCT(c)
}

// umountCT unmounts container c, loaded by the caller.
func (n *Node) umountCT(ct *Container) error {
	c := ct.Storage
	mp, err := inventory.IsMountPoint(c.Root)
	if err != nil {
		return fmt.Errorf("reading mount table: %w: %w", err, vzerror.ErrSystem)
	}
	if !mp {
		return fmt.Errorf("container %d is not mounted: %w", ct.ID, vzerror.ErrNotMounted)
	}
	lay, err := n.layoutOf(ct.Config)
	if err != nil {
		return err
	}
	if err := n.runHostScripts(ct, phaseUmount); err != nil {
		return err
	}
	if err := lay.Umount(c); err != nil {
		return err
	}
	n.Log.Infof("Container is unmounted")
	return n.runHostScripts(ct, phasePostumount)
}
