package ct

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"govz/ct/vzerror"
)

// mountPoints returns the mount points of this mount namespace.
func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			out = append(out, unescapeMount(fields[4]))
		}
	}
	return out, sc.Err()
}

// unescapeMount undoes the octal escapes mountinfo uses for space, tab,
// newline and backslash.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
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
	c, err := n.Load(id)
	if err != nil {
		return err
	}
	return n.mountCT(c)
}

// mountCT mounts container c, loaded by the caller.
func (n *Node) mountCT(ct *Container) error {
	id, c := ct.ID, ct.Storage
	if mp, err := isMountPoint(c.Root); err != nil {
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
	c, err := n.Load(id)
	if err != nil {
		return err
	}
	if n.busy(id, c.Config) {
		return fmt.Errorf("container %d is running, stop it first: %w", id, vzerror.ErrRunning)
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
	mp, err := isMountPoint(c.Root)
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
