//go:build linux

package untar

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	copyBufSize = 256 << 10
	// holeBlock is the granularity at which sparse members get holes back:
	// the page and usual file system block size.
	holeBlock = 4096
)

// extractor holds the state of one extraction. Member handling allocates
// nothing of its own in the common case: the copy buffer is reused and the
// names it keys on are substrings of the tar headers'.
type extractor struct {
	root    int // destDir
	tr      *tar.Reader
	buf     []byte
	zero    []byte
	dirs    dirCache
	delayed []dirTime
	warnf   func(format string, a ...any)

	umask      uint32
	euid, egid int
	// alwaysChmod is set once a default ACL may decide new entries' modes
	// instead of the umask.
	alwaysChmod bool
	warnedAbs   bool
	warnedACL   bool
}

// dirTime is a directory's mtime, set once all members are in: creating
// an entry in a directory updates its mtime.
type dirTime struct {
	path  string
	mtime unix.Timespec
}

func extractTar(r io.Reader, destDir string, warnf func(string, ...any), prog *progress) error {
	root, err := unix.Open(destDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening destination %s: %w: %w", destDir, &os.PathError{Op: "open", Path: destDir, Err: err}, ErrDestination)
	}
	defer unix.Close(root)
	x := &extractor{
		root:  root,
		tr:    tar.NewReader(r),
		buf:   make([]byte, copyBufSize),
		zero:  make([]byte, holeBlock),
		warnf: warnf,
		umask: processUmask(),
		euid:  os.Geteuid(),
		egid:  os.Getegid(),
		dirs:  dirCache{entries: make([]dirEntry, 0, dirCacheSize)},
	}
	defer x.dirs.closeAll()
	var st unix.Stat_t
	if err := unix.Fstat(root, &st); err != nil {
		return fmt.Errorf("opening destination %s: %w: %w", destDir, err, ErrDestination)
	}
	x.dirs.root = x.newEntry("", root, &st)
	// A default ACL inherited by destDir from its parent replaces the umask.
	if _, err := unix.Fgetxattr(root, "system.posix_acl_default", nil); err == nil {
		x.alwaysChmod = true
	}

	for {
		hdr, err := x.tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		// ErrInsecurePath (GODEBUG=tarinsecurepath=0) comes with a usable
		// header; cleanName applies our own, stricter rules.
		if err != nil && (hdr == nil || !errors.Is(err, tar.ErrInsecurePath)) {
			return fmt.Errorf("reading archive: %w: %w", err, ErrCorrupt)
		}
		err = x.member(hdr)
		x.dirs.release()
		if err != nil {
			return err
		}
		prog.update()
	}
	return x.applyDirTimes()
}

func (x *extractor) member(hdr *tar.Header) error {
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeCont, tar.TypeDir, 'D',
		tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	case tar.TypeXGlobalHeader, 'V': // pax global header, GNU volume label
		return nil
	default:
		x.warnf("%s: unknown member type %q, skipped", hdr.Name, hdr.Typeflag)
		return nil
	}
	name, abs, err := cleanName(hdr.Name)
	if err != nil {
		return fmt.Errorf("member %q: %w: %w", hdr.Name, err, ErrCorrupt)
	}
	if abs && !x.warnedAbs {
		x.warnedAbs = true
		x.warnf("removing leading '/' from member names")
	}
	if err := checkHeader(hdr); err != nil {
		return fmt.Errorf("member %q: %w: %w", hdr.Name, err, ErrCorrupt)
	}
	if name == "" {
		if hdr.Typeflag != tar.TypeDir && hdr.Typeflag != 'D' {
			return fmt.Errorf("member %q: a %q member cannot replace the extraction root: %w",
				hdr.Name, hdr.Typeflag, ErrCorrupt)
		}
		return x.rootDir(hdr)
	}
	parent, base := splitName(name)
	p, err := x.dir(parent, true)
	if err != nil {
		return memberError(name, "parent directory", err)
	}
	switch hdr.Typeflag {
	case tar.TypeDir, 'D': // 'D' is a GNU incremental dump directory
		return x.mkdir(p, base, name, hdr)
	case tar.TypeSymlink:
		return x.symlink(p, base, name, hdr)
	case tar.TypeLink:
		return x.hardlink(p, base, name, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return x.mknod(p, base, name, hdr)
	default:
		return x.file(p, base, name, hdr)
	}
}

// checkHeader refuses ids and device numbers the kernel would take for
// something else: -1 means "leave unchanged" to chown(2).
func checkHeader(hdr *tar.Header) error {
	const maxID = 1<<32 - 2
	if hdr.Uid < 0 || hdr.Uid > maxID || hdr.Gid < 0 || hdr.Gid > maxID {
		return fmt.Errorf("owner %d:%d out of range", hdr.Uid, hdr.Gid)
	}
	if hdr.Devmajor < 0 || hdr.Devmajor > 1<<32-1 || hdr.Devminor < 0 || hdr.Devminor > 1<<32-1 {
		return fmt.Errorf("device %d:%d out of range", hdr.Devmajor, hdr.Devminor)
	}
	return nil
}

// removeExisting clears the way for a new entry at base, as GNU tar does:
// whatever is there goes, a directory only if it is empty. Nothing is ever
// opened or followed: unlinkat(2) removes a symlink, not its target.
func (x *extractor) removeExisting(p dirEntry, base string) error {
	err := unix.Unlinkat(p.fd, base, 0)
	if err == unix.EISDIR {
		err = unix.Unlinkat(p.fd, base, unix.AT_REMOVEDIR)
	}
	x.dirs.flush()
	if err == unix.ENOENT {
		return nil
	}
	return err
}

func (x *extractor) file(p dirEntry, base, name string, hdr *tar.Header) error {
	perm := uint32(hdr.Mode) & 0o777
	// O_EXCL never opens an existing entry, so a planted symlink or hard
	// link at this name is replaced, not written through.
	const flags = unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(p.fd, base, flags, perm)
	if errors.Is(err, unix.EEXIST) {
		if err = x.removeExisting(p, base); err == nil {
			fd, err = unix.Openat(p.fd, base, flags, perm)
		}
	}
	if err != nil {
		return memberError(name, "creating file", err)
	}
	err = x.copyData(fd, name, hdr)
	if err == nil {
		err = x.setAttrs(fd, name, hdr, perm&^x.umask, p.gid, true)
	}
	if err == nil {
		ts := mtime(hdr)
		if err = futimens(fd, &ts); err != nil {
			err = memberError(name, "setting times", err)
		}
	}
	if cerr := unix.Close(fd); cerr != nil && err == nil {
		err = memberError(name, "closing", cerr)
	}
	return err
}

// copyData writes the member's data to fd through the reused buffer. A
// sparse member gets its holes back: runs of zero blocks are skipped with
// pwrite offsets and the size fixed with ftruncate, so a sparse file does
// not balloon on disk. Other members are written as they are, as GNU tar
// does (a swap file, for one, must not have holes).
func (x *extractor) copyData(fd int, name string, hdr *tar.Header) error {
	sparse := isSparse(hdr)
	var off, end int64
	for off < hdr.Size {
		b := x.buf[:min(int64(len(x.buf)), hdr.Size-off)]
		if _, err := io.ReadFull(x.tr, b); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("reading %q: %w: %w", name, err, ErrCorrupt)
		}
		var err error
		if sparse {
			var e int64
			if e, err = x.writeSparse(fd, b, off); e > 0 {
				end = e
			}
		} else {
			err = writeAll(fd, b)
		}
		if err != nil {
			return memberError(name, "writing", err)
		}
		off += int64(len(b))
	}
	if sparse && end < hdr.Size {
		if err := unix.Ftruncate(fd, hdr.Size); err != nil {
			return memberError(name, "setting size", err)
		}
	}
	return nil
}

// isSparse says whether the member was stored sparse: an old GNU 'S'
// member or a GNU.sparse.* pax member (archive/tar reads holes as zeros).
func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// writeSparse writes the non-zero holeBlock runs of b, which starts at
// file offset off (a multiple of holeBlock), and returns the end of the
// last run written (0 if none).
func (x *extractor) writeSparse(fd int, b []byte, off int64) (int64, error) {
	var end int64
	for i := 0; i < len(b); {
		j := i
		for j < len(b) && !x.isZero(b[j:min(j+holeBlock, len(b))]) {
			j = min(j+holeBlock, len(b))
		}
		if j > i {
			if err := pwriteAll(fd, b[i:j], off+int64(i)); err != nil {
				return 0, err
			}
			end = off + int64(j)
		}
		for j < len(b) && x.isZero(b[j:min(j+holeBlock, len(b))]) {
			j = min(j+holeBlock, len(b))
		}
		i = j
	}
	return end, nil
}

func (x *extractor) isZero(b []byte) bool {
	return b[0] == 0 && bytes.Equal(b, x.zero[:len(b)])
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b = b[n:]
	}
	return nil
}

func pwriteAll(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// setAttrs gives the open file or directory fd the member's owner, mode
// and xattrs, in that order: chown(2) clears setuid/setgid and the kernel
// drops security.capability on chown, so mode and capabilities come
// after it. When exact is set, fd was just created with mode created and
// group gid, and the calls that would change nothing are skipped.
func (x *extractor) setAttrs(fd int, name string, hdr *tar.Header, created uint32, gid int, exact bool) error {
	mode := uint32(hdr.Mode) & 0o7777
	chowned := false
	if !exact || hdr.Uid != x.euid || hdr.Gid != gid {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return memberError(name, "changing owner", err)
		}
		chowned = true
	}
	if !exact || x.alwaysChmod || mode != created || (chowned && mode&(unix.S_ISUID|unix.S_ISGID) != 0) {
		if err := unix.Fchmod(fd, mode); err != nil {
			return memberError(name, "changing mode", err)
		}
	}
	x.setXattrs(name, hdr, func(attr, value string) error {
		return unix.Fsetxattr(fd, attr, []byte(value), 0)
	})
	return nil
}

// setXattrs applies the member's SCHILY.xattr.* pax records (GNU tar's and
// star's --xattrs). A failure is a warning, as in GNU tar: the file system
// may not support a namespace.
func (x *extractor) setXattrs(name string, hdr *tar.Header, set func(attr, value string) error) {
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			if strings.HasPrefix(k, "SCHILY.acl.") && !x.warnedACL {
				// GNU tar --acls; templates carry ACLs, if any, as
				// system.posix_acl_* xattrs, which are applied.
				x.warnedACL = true
				x.warnf("%s: SCHILY.acl records (tar --acls) are not applied", name)
			}
			continue
		}
		if attr == "system.posix_acl_default" {
			x.alwaysChmod = true
		}
		if err := set(attr, v); err != nil {
			x.warnf("%s: setting xattr %s: %v", name, attr, err)
		}
	}
}

// mtime is the member's modification time for utimensat(2); the access
// time is left as it is, the time of extraction.
func mtime(hdr *tar.Header) [2]unix.Timespec {
	t := hdr.ModTime
	return [2]unix.Timespec{
		{Nsec: unix.UTIME_OMIT},
		{Sec: t.Unix(), Nsec: int64(t.Nanosecond())},
	}
}

// rootDir applies a "./" member's metadata to destDir itself, as GNU tar
// does: the template decides the mode and owner of the container's "/".
func (x *extractor) rootDir(hdr *tar.Header) error {
	if err := x.setAttrs(x.root, ".", hdr, 0, 0, false); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(x.root, &st); err != nil {
		return memberError(".", "reading back", err)
	}
	x.dirs.root = x.newEntry("", x.root, &st)
	x.delayed = append(x.delayed, dirTime{path: "", mtime: mtime(hdr)[1]})
	return nil
}

func (x *extractor) mkdir(p dirEntry, base, name string, hdr *tar.Header) error {
	perm := uint32(hdr.Mode) & 0o777
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	exact := true
	err := unix.Mkdirat(p.fd, base, perm)
	if errors.Is(err, unix.EEXIST) {
		exact = false
	} else if err != nil {
		return memberError(name, "creating directory", err)
	}
	fd, err := unix.Openat(p.fd, base, flags, 0)
	if !exact && (errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP)) {
		// Not a directory (a symlink included): replace it. An existing
		// directory is kept and gets the member's metadata, as with GNU
		// tar's default --overwrite-dir.
		if err = x.removeExisting(p, base); err == nil {
			if err = unix.Mkdirat(p.fd, base, perm); err == nil {
				exact = true
				fd, err = unix.Openat(p.fd, base, flags, 0)
			}
		}
	}
	if err != nil {
		return memberError(name, "creating directory", err)
	}
	created := perm &^ x.umask
	if p.setgid {
		created |= unix.S_ISGID // mkdir(2) in a setgid directory
	}
	if err := x.setAttrs(fd, name, hdr, created, p.gid, exact); err != nil {
		unix.Close(fd)
		return err
	}
	e := dirEntry{path: name, fd: fd, gid: x.egid}
	if hdr.Mode&unix.S_ISGID != 0 {
		e.gid, e.setgid = hdr.Gid, true
	}
	x.dirs.add(e)
	x.delayed = append(x.delayed, dirTime{path: name, mtime: mtime(hdr)[1]})
	return nil
}

func (x *extractor) symlink(p dirEntry, base, name string, hdr *tar.Header) error {
	// The target is stored as it is: it is only ever followed inside the
	// tree (RESOLVE_IN_ROOT here, the container's root later).
	err := unix.Symlinkat(hdr.Linkname, p.fd, base)
	if errors.Is(err, unix.EEXIST) {
		if err = x.removeExisting(p, base); err == nil {
			err = unix.Symlinkat(hdr.Linkname, p.fd, base)
		}
	}
	if err != nil {
		return memberError(name, "creating symlink", err)
	}
	return x.setAttrsAt(p, base, name, hdr, false)
}

func (x *extractor) hardlink(p dirEntry, base, name string, hdr *tar.Header) error {
	target, _, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("member %q: hard link target %q: %w: %w", name, hdr.Linkname, err, ErrCorrupt)
	}
	if target == name {
		return nil
	}
	if target == "" {
		return fmt.Errorf("member %q: hard link to the extraction root: %w", name, ErrCorrupt)
	}
	tdir, tbase := splitName(target)
	t, err := x.dir(tdir, false)
	if err != nil {
		return memberError(name, fmt.Sprintf("hard link target %q", target), err)
	}
	// Without AT_SYMLINK_FOLLOW linkat(2) links a symlink itself, never
	// what it points to; the target's parent was resolved in root.
	err = unix.Linkat(t.fd, tbase, p.fd, base, 0)
	if errors.Is(err, unix.EEXIST) {
		if err = x.removeExisting(p, base); err == nil {
			err = unix.Linkat(t.fd, tbase, p.fd, base, 0)
		}
	}
	if err != nil {
		return memberError(name, fmt.Sprintf("linking to %q", target), err)
	}
	return nil
}

func (x *extractor) mknod(p dirEntry, base, name string, hdr *tar.Header) error {
	perm := uint32(hdr.Mode) & 0o777
	mode, dev := perm|unix.S_IFIFO, 0
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode, dev = perm|unix.S_IFCHR, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	case tar.TypeBlock:
		mode, dev = perm|unix.S_IFBLK, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	}
	err := unix.Mknodat(p.fd, base, mode, dev)
	if errors.Is(err, unix.EEXIST) {
		if err = x.removeExisting(p, base); err == nil {
			err = unix.Mknodat(p.fd, base, mode, dev)
		}
	}
	if err != nil {
		return memberError(name, "creating device node", err)
	}
	return x.setAttrsAt(p, base, name, hdr, true)
}

// setAttrsAt is setAttrs plus the times for an entry that must not be
// opened (a symlink, a device node, a fifo), addressed by name in p and
// never followed.
func (x *extractor) setAttrsAt(p dirEntry, base, name string, hdr *tar.Header, hasMode bool) error {
	chowned := false
	if hdr.Uid != x.euid || hdr.Gid != p.gid {
		if err := unix.Fchownat(p.fd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return memberError(name, "changing owner", err)
		}
		chowned = true
	}
	mode := uint32(hdr.Mode) & 0o7777
	if hasMode && (x.alwaysChmod || mode != mode&0o777&^x.umask || chowned && mode&(unix.S_ISUID|unix.S_ISGID) != 0) {
		err := unix.Fchmodat(p.fd, base, mode, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.EOPNOTSUPP {
			// No fchmodat2(2) (before Linux 6.6). The entry is the node
			// this extractor made a moment ago in a tree nothing else
			// writes to, so following a symlink there is not a concern.
			err = unix.Fchmodat(p.fd, base, mode, 0)
		}
		if err != nil {
			return memberError(name, "changing mode", err)
		}
	}
	x.setXattrs(name, hdr, func(attr, value string) error {
		return setxattrat(p.fd, base, attr, value)
	})
	ts := mtime(hdr)
	if err := unix.UtimesNanoAt(p.fd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return memberError(name, "setting times", err)
	}
	return nil
}

// applyDirTimes sets the directories' mtimes after everything is in. A
// directory a later member replaced is skipped, as GNU tar skips it.
func (x *extractor) applyDirTimes() error {
	for _, d := range x.delayed {
		fd := x.root
		if d.path != "" {
			var err error
			fd, err = openInRoot(x.root, d.path, true)
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
				continue
			}
			if err != nil {
				return memberError(d.path, "setting times", err)
			}
		}
		ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, d.mtime}
		err := futimens(fd, &ts)
		if fd != x.root {
			unix.Close(fd)
		}
		if err != nil {
			return memberError(d.path, "setting times", err)
		}
	}
	return nil
}
