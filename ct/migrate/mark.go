package migrate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// mark tells whether anything in a tree changed since it was made, from
// the inodes' change times: the kernel sets ctime from its own clock on
// every change of a file's data or metadata (write, chmod, chown, xattr,
// link count), and creating, removing or renaming an entry changes its
// directory's; userspace cannot set it. A change in the mark's clock tick
// counts as one after it (>=): at worst a sync that finds nothing.
type mark struct {
	path  string
	ctime unix.Timespec
}

// newMark makes the mark as a file in dir. Its file system's timestamp
// granularity should be the tree's: nanoseconds on every Linux file
// system a private area lives on (ext4, xfs, btrfs, tmpfs).
func newMark(dir string, id int) (*mark, error) {
	p := filepath.Join(dir, ".vzmigrate-mark-"+strconv.Itoa(id))
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		return nil, fmt.Errorf("marking the private area's time: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		os.Remove(p)
		return nil, fmt.Errorf("marking the private area's time: %w", err)
	}
	return &mark{path: p, ctime: st.Ctim}, nil
}

func (m *mark) after(t unix.Timespec) bool {
	return t.Sec > m.ctime.Sec || t.Sec == m.ctime.Sec && t.Nsec >= m.ctime.Nsec
}

// changed reports whether anything under root changed since the mark.
func (m *mark) changed(root string) (bool, error) {
	found := false
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if m.after(st.Ctim) {
			found = true
			return fs.SkipAll
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.SkipAll) {
		return false, fmt.Errorf("looking for changes in %s: %w", root, err)
	}
	return found, nil
}
