//go:build linux

package untar

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"govz/internal/inroot"
)

// errDotDot marks a member name or hard link target with a ".." component.
var errDotDot = errors.New(`name has a ".." component`)

// cleanName turns a member name into a relative slash path without empty,
// "." or trailing components, the form the extractor and its directory
// cache key on. Leading slashes are dropped (abs reports it), as GNU tar
// does; ".." components are refused, as GNU tar refuses them, since they
// could only mean "outside". "" names the extraction root itself.
//
// Names written by `tar -C dir .` ("./usr/bin/ls", "./etc/") come back as
// substrings of name, without allocating.
func cleanName(name string) (clean string, abs bool, err error) {
	s := name
	for {
		switch {
		case strings.HasPrefix(s, "/"):
			s, abs = s[1:], true
			continue
		case strings.HasPrefix(s, "./"):
			s = s[2:]
			continue
		}
		break
	}
	s = strings.TrimRight(s, "/")
	if s == "." {
		s = ""
	}
	tidy := true
	for rest := s; rest != ""; {
		var c string
		c, rest, _ = strings.Cut(rest, "/")
		switch c {
		case "..":
			return "", abs, errDotDot
		case "", ".":
			tidy = false
		}
	}
	if tidy {
		return s, abs, nil
	}
	var b strings.Builder
	for c := range strings.SplitSeq(s, "/") {
		if c == "" || c == "." {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(c)
	}
	return b.String(), abs, nil
}

// splitName splits a clean name into its parent directory and last
// component.
func splitName(name string) (dir, base string) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return "", name
	}
	return name[:i], name[i+1:]
}

// openInRoot opens the directory at path below root, resolving every
// symlink on the way as if root were "/" (RESOLVE_IN_ROOT), refusing
// /proc-style magic links, and refusing a symlink as the last component
// when nofollow is set.
func openInRoot(root int, path string, nofollow bool) (int, error) {
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	if nofollow {
		how.Flags |= unix.O_NOFOLLOW
	}
	if path == "" {
		path = "."
	}
	// The one retry policy for openat2's EAGAIN (a rename or mount raced
	// with a ".." step of the resolution).
	return inroot.Openat2(root, path, &how)
}

// dirEntry is an open directory of the tree being extracted and what a
// file created in it starts out with.
type dirEntry struct {
	path   string // clean name it was reached by
	fd     int
	gid    int  // group a new entry gets (the directory's, if setgid)
	setgid bool // new subdirectories inherit S_ISGID
	used   uint64
}

// dirCache keeps the few directories members are being created in open, so
// that most members cost no path resolution at all: archives list a
// directory's entries together. Entries stay valid because nothing but the
// extractor changes the tree, and it flushes the cache whenever it removes
// something.
//
// Entries are handed out by value. An fd that leaves the cache (evicted or
// flushed) is closed only by release, after the member being extracted is
// done with it.
type dirCache struct {
	root    dirEntry // the extraction root, never closed here
	entries []dirEntry
	stale   []int
	clock   uint64
}

const dirCacheSize = 16

// lookup returns the open directory for path.
func (c *dirCache) lookup(path string) (dirEntry, bool) {
	if path == "" {
		return c.root, true
	}
	c.clock++
	for i := range c.entries {
		if c.entries[i].path == path {
			c.entries[i].used = c.clock
			return c.entries[i], true
		}
	}
	return dirEntry{}, false
}

// add caches e, taking ownership of its fd; the least recently used entry
// makes room.
func (c *dirCache) add(e dirEntry) dirEntry {
	c.clock++
	e.used = c.clock
	for i := range c.entries {
		if c.entries[i].path == e.path {
			c.stale = append(c.stale, c.entries[i].fd)
			c.entries[i] = e
			return e
		}
	}
	if len(c.entries) < dirCacheSize {
		c.entries = append(c.entries, e)
		return e
	}
	victim := 0
	for i := range c.entries {
		if c.entries[i].used < c.entries[victim].used {
			victim = i
		}
	}
	c.stale = append(c.stale, c.entries[victim].fd)
	c.entries[victim] = e
	return e
}

// flush forgets every cached directory: once an entry was removed from
// the tree, a cached path may resolve elsewhere (a symlink on it replaced).
func (c *dirCache) flush() {
	for i := range c.entries {
		c.stale = append(c.stale, c.entries[i].fd)
	}
	c.entries = c.entries[:0]
}

// release closes the fds that left the cache.
func (c *dirCache) release() {
	for _, fd := range c.stale {
		unix.Close(fd)
	}
	c.stale = c.stale[:0]
}

func (c *dirCache) closeAll() {
	c.flush()
	c.release()
}

// dir returns the open directory at path, resolving it in root and, when
// create is set, making missing directories (mode 0755, owned by us) as
// GNU tar does for archives that do not list every parent.
func (x *extractor) dir(path string, create bool) (dirEntry, error) {
	if e, ok := x.dirs.lookup(path); ok {
		return e, nil
	}
	fd, err := openInRoot(x.root, path, false)
	if errors.Is(err, unix.ENOENT) && create {
		if err = x.mkdirAll(path); err == nil {
			fd, err = openInRoot(x.root, path, false)
		}
	}
	if err != nil {
		return dirEntry{}, fmt.Errorf("resolving directory %q: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return dirEntry{}, fmt.Errorf("resolving directory %q: %w", path, err)
	}
	return x.dirs.add(x.newEntry(path, fd, &st)), nil
}

// newEntry describes directory fd (with status st) for the cache.
func (x *extractor) newEntry(path string, fd int, st *unix.Stat_t) dirEntry {
	e := dirEntry{path: path, fd: fd, gid: x.egid}
	if st.Mode&unix.S_ISGID != 0 {
		e.gid, e.setgid = int(st.Gid), true
	}
	return e
}

// mkdirAll creates the missing directories on path one component at a
// time, each resolved in root, so a symlink met on the way is followed
// inside the tree only.
func (x *extractor) mkdirAll(path string) error {
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			continue
		}
		prefix := path[:i]
		fd, err := openInRoot(x.root, prefix, false)
		if err == nil {
			unix.Close(fd)
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return err
		}
		parent, base := splitName(prefix)
		pfd := x.root
		if parent != "" {
			if pfd, err = openInRoot(x.root, parent, false); err != nil {
				return err
			}
		}
		err = unix.Mkdirat(pfd, base, 0o755)
		if parent != "" {
			unix.Close(pfd)
		}
		// EEXIST: a symlink pointing nowhere in the tree; the caller's
		// final open reports ENOENT for it.
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
	}
	return nil
}

// memberError wraps err for member name with the sentinel that says whose
// fault it is: the disk's, the archive's, or the file system's.
func memberError(name, what string, err error) error {
	var sentinel error
	switch {
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EDQUOT):
		sentinel = ErrNoSpace
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.ENOENT),
		errors.Is(err, unix.ENOTEMPTY), errors.Is(err, unix.EXDEV), errors.Is(err, unix.ENAMETOOLONG),
		errors.Is(err, errDotDot):
		// The archive asked for something its own earlier members make
		// impossible (a path through a file, a symlink loop, a hard link
		// to nothing).
		sentinel = ErrCorrupt
	default:
		sentinel = ErrDestination
	}
	return fmt.Errorf("extracting %q: %s: %w: %w", name, what, err, sentinel)
}
