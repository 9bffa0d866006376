package migrate

import (
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

// changes lists what under root changed since the mark, relative to
// root, for rsync --files-from with --dirs --delete: a changed entry by
// its path, a changed directory as "dir/" ("./" for root) so that its
// entries are compared and what is gone from it deleted there. Removing,
// creating or renaming an entry changes its directory's ctime, a hard
// link its inode's, so every change is in a listed directory or entry.
func (m *mark) changes(root string) ([]string, error) {
	var list []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if !m.after(st.Ctim) {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			rel += "/"
		}
		list = append(list, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("looking for changes in %s: %w", root, err)
	}
	return list, nil
}
