package ct

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"govz/ct/vzerror"
	"govz/internal/mountinfo"
)

// mountPoints returns the mount points of this mount namespace.
func mountPoints() ([]string, error) {
	ms, err := mountinfo.Read(0)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.MountPoint
	}
	return out, nil
}

// realPath resolves symlinks in the existing part of p, so it compares
// with mountinfo, which shows resolved paths.
func realPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

func isMountPoint(p string) (bool, error) {
	mps, err := mountPoints()
	if err != nil {
		return false, err
	}
	rp := realPath(p)
	for _, m := range mps {
		if m == rp {
			return true, nil
		}
	}
	return false, nil
}

// mountedUnder reports whether anything is mounted at or below any of dirs.
func (n *Node) mountedUnder(dirs ...string) (bool, error) {
	mps, err := mountPoints()
	if err != nil {
		return false, err
	}
	for _, d := range dirs {
		rd := realPath(d)
		for _, m := range mps {
			if m == rd || strings.HasPrefix(m, rd+"/") {
				return true, nil
			}
		}
	}
	return false, nil
}

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
	layer, err := n.LoadCT(id)
	if err != nil {
		return err
	}
	eff := n.Effective(layer)
	c := n.storageCT(id, eff)
	if c.UIDMap, c.GIDMap, err = storageIDMaps(layer); err != nil {
		return err
	}
	if mp, err := isMountPoint(c.Root); err != nil {
		return fmt.Errorf("reading mount table: %v: %w", err, vzerror.ErrSystem)
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
		return fmt.Errorf("creating mount point %s: %v: %w", c.Root, err, vzerror.ErrMountPoint)
	}
	lay, err := n.layoutOf(eff)
	if err != nil {
		return err
	}
	if err := n.runHostScripts(id, eff, phasePremount); err != nil {
		return err
	}
	if err := lay.Mount(c); err != nil {
		return err
	}
	if err := n.runHostScripts(id, eff, phaseMount); err != nil {
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
	if n.busy(id, n.effectiveOrGlobal(id)) {
		return fmt.Errorf("container %d is running, stop it first: %w", id, vzerror.ErrRunning)
	}
	return n.umount(id)
}

func (n *Node) umount(id int) error {
	layer, err := n.LoadCT(id)
	if err != nil {
		return err
	}
	eff := n.Effective(layer)
	c := n.storageCT(id, eff)
	mp, err := isMountPoint(c.Root)
	if err != nil {
		return fmt.Errorf("reading mount table: %v: %w", err, vzerror.ErrSystem)
	}
	if !mp {
		return fmt.Errorf("container %d is not mounted: %w", id, vzerror.ErrNotMounted)
	}
	lay, err := n.layoutOf(eff)
	if err != nil {
		return err
	}
	if err := n.runHostScripts(id, eff, phaseUmount); err != nil {
		return err
	}
	if err := lay.Umount(c); err != nil {
		return err
	}
	n.Log.Infof("Container is unmounted")
	return n.runHostScripts(id, eff, phasePostumount)
}
