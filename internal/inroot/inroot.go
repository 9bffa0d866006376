// Package inroot is how the host touches files inside a directory tree it
// does not trust: a container's root, seen from the host (or from a
// process about to enter it). The guest controls every name in that tree,
// so every open here
//
//   - resolves the path with openat2(2) RESOLVE_IN_ROOT: absolute symlinks
//     and ".." stay inside the root, as if it were "/", and
//     RESOLVE_NO_MAGICLINKS refuses /proc/self/root-style links out of it;
//   - opens an O_PATH handle first and fstats it: a FIFO, socket or device
//     where the host expects a regular file is refused by name before it
//     is ever opened for reading or writing, so the host never blocks on a
//     FIFO (with the container's lock held) nor triggers a device's open;
//   - reopens the handle through /proc/self/fd with O_NONBLOCK (cleared
//     again for a regular file), so the file checked is the file used;
//   - retries openat2's EAGAIN, which the kernel returns when a rename or
//     mount anywhere raced with a ".." step (openat2(2)), a bounded number
//     of times;
//   - caps what it reads (the guest chooses the size);
//   - writes by a new file in the same directory renamed over the old one,
//     replacing a symlink rather than following it, and never creates a
//     setuid or setgid file.
//
// runc's internal/pathrs and Incus's use of openat2 are the models.
package inroot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Type is the file type a caller expects (the S_IFMT bits of st_mode).
type Type uint32

// Types callers ask for; Any takes whatever is there.
const (
	Any     Type = 0
	Regular Type = unix.S_IFREG
	Dir     Type = unix.S_IFDIR
	FIFO    Type = unix.S_IFIFO
)

func (t Type) String() string {
	switch uint32(t) {
	case 0:
		return "file of any type"
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	case unix.S_IFLNK:
		return "symlink"
	}
	return "file of type " + strconv.FormatUint(uint64(t), 8)
}

// ErrWrongType is wrapped by every refusal of a file for its type.
var ErrWrongType = errors.New("refused: unexpected file type")

// TypeError is a file in the tree that is not of the type the host
// expected, so the host refused it.
type TypeError struct {
	Path      string // as the host sees it
	Got, Want Type
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("%s is a %s, not a %s: refused", e.Path, e.Got, e.Want)
}

// Unwrap returns ErrWrongType.
func (e *TypeError) Unwrap() error { return ErrWrongType }

// Option changes how a root resolves paths.
type Option int

// SameMount adds RESOLVE_NO_XDEV: no path may cross into another mount.
// Right for a container's tree seen from the host, which has no mounts
// inside (the container's own live in its mount namespace); wrong through
// /proc/PID/root, where the guest's /run, /dev and /proc are mounts.
const SameMount Option = 1

// Root is a directory tree opened from the host.
type Root struct {
	fd      int
	path    string
	resolve uint64
}

// Open opens dir, a host path the caller trusts (a container's mount
// point, or /proc/PID/root), as a root.
func Open(dir string, opts ...Option) (*Root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return newRoot(fd, dir, opts), nil
}

func newRoot(fd int, path string, opts []Option) *Root {
	r := &Root{fd: fd, path: path, resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	for _, o := range opts {
		if o == SameMount {
			r.resolve |= unix.RESOLVE_NO_XDEV
		}
	}
	return r
}

// OpenDir is Open for a directory the caller holds open already (its
// handle stays the caller's).
func OpenDir(dir *os.File, opts ...Option) (*Root, error) {
	fd, err := unix.Openat(int(dir.Fd()), ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir.Name(), Err: err}
	}
	return newRoot(fd, dir.Name(), opts), nil
}

// Close releases the root.
func (r *Root) Close() error { return unix.Close(r.fd) }

// Path is the host path the root was opened at.
func (r *Root) Path() string { return r.path }

// Show is how errors name p, a path inside the root: the host path.
func (r *Root) Show(p string) string {
	return r.path + path.Clean("/"+p)
}

// maxRetries bounds openat2's EAGAIN retries: a guest that renames in a
// loop can make each try fail, and a refusal beats a spin.
const maxRetries = 128

// Openat2 is openat2(2) with the one retry policy: EINTR and EAGAIN (a
// rename or mount raced with a ".." step of a RESOLVE_IN_ROOT or
// RESOLVE_BENEATH resolution) are retried, at most maxRetries times.
func Openat2(dirfd int, p string, how *unix.OpenHow) (int, error) {
	return retry(func() (int, error) { return unix.Openat2(dirfd, p, how) })
}

// retry runs open until it returns something other than EAGAIN or EINTR,
// at most maxRetries times; after that it gives up with EAGAIN. open is a
// parameter so that the policy is testable without a racing guest.
func retry(open func() (int, error)) (int, error) {
	for range maxRetries {
		fd, err := open()
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		return fd, err
	}
	return -1, unix.EAGAIN
}

// openPath resolves p (inside the root; O_NOFOLLOW in flags leaves a
// final symlink unfollowed) to an O_PATH handle and its status, refusing
// a file that is not of type want.
func (r *Root) openPath(p string, flags uint64, want Type) (int, *unix.Stat_t, error) {
	if p == "" {
		p = "/"
	}
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC | flags&unix.O_NOFOLLOW,
		Resolve: r.resolve,
	}
	if want == Dir {
		how.Flags |= unix.O_DIRECTORY
	}
	fd, err := Openat2(r.fd, p, &how)
	if err != nil {
		return -1, nil, &os.PathError{Op: "openat2", Path: r.Show(p), Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, nil, &os.PathError{Op: "fstat", Path: r.Show(p), Err: err}
	}
	if got := Type(st.Mode & unix.S_IFMT); want != Any && got != want {
		unix.Close(fd)
		return -1, nil, &TypeError{Path: r.Show(p), Got: got, Want: want}
	}
	return fd, &st, nil
}

// Stat returns the status of p, following symlinks inside the root.
func (r *Root) Stat(p string) (*unix.Stat_t, error) {
	fd, st, err := r.openPath(p, 0, Any)
	if err != nil {
		return nil, err
	}
	unix.Close(fd)
	return st, nil
}

// Lstat returns the status of p itself, a symlink not followed (symlinks
// before its last component are followed inside the root).
func (r *Root) Lstat(p string) (*unix.Stat_t, error) {
	fd, st, err := r.openPath(p, unix.O_NOFOLLOW, Any)
	if err != nil {
		return nil, err
	}
	unix.Close(fd)
	return st, nil
}

// Exists reports whether p exists (a dangling symlink does not).
func (r *Root) Exists(p string) bool {
	_, err := r.Stat(p)
	return err == nil
}

// OpenPath returns an O_PATH handle on p, which must be of type want: for
// fstat, for move_mount(2) or fspick(2) onto it, or as a directory fd.
func (r *Root) OpenPath(p string, want Type) (*os.File, error) {
	fd, _, err := r.openPath(p, 0, want)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), r.Show(p)), nil
}

// OpenFile opens p with flags (O_RDONLY, O_WRONLY or O_RDWR, and
// O_NOFOLLOW to refuse a final symlink), which must be of type want (not
// Any). Creating is WriteFile's job: O_CREAT and O_TRUNC are refused. The
// file is opened O_NONBLOCK; for a regular file that is cleared again.
func (r *Root) OpenFile(p string, flags int, want Type) (*os.File, error) {
	if want == Any || flags&(unix.O_CREAT|unix.O_TRUNC|unix.O_PATH) != 0 {
		return nil, fmt.Errorf("opening %s: flags %#o for a %s: %w", r.Show(p), flags, want, unix.EINVAL)
	}
	pfd, _, err := r.openPath(p, uint64(flags), want)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pfd)
	// Reopening the handle opens the very inode that was checked: a guest
	// that swaps the name for a FIFO now is not followed.
	acc := flags &^ (unix.O_NOFOLLOW | unix.O_DIRECTORY)
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(pfd), acc|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: r.Show(p), Err: err}
	}
	if want == Regular {
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err == nil {
			_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
		}
		if err != nil {
			unix.Close(fd)
			return nil, &os.PathError{Op: "fcntl", Path: r.Show(p), Err: err}
		}
	}
	return os.NewFile(uintptr(fd), r.Show(p)), nil
}

// ErrTooLarge is returned by ReadFile for a file over its limit.
var ErrTooLarge = errors.New("file too large")

// ReadFile reads the regular file p, following symlinks inside the root,
// and refuses one larger than max bytes. A missing file is an error
// wrapping os.ErrNotExist.
func (r *Root) ReadFile(p string, max int64) ([]byte, error) {
	f, err := r.OpenFile(p, unix.O_RDONLY, Regular)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", r.Show(p), err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes: %w", r.Show(p), max, ErrTooLarge)
	}
	return b, nil
}

// parent opens the directory holding p and returns it with p's last
// component, which must be a plain name.
func (r *Root) parent(p string) (int, string, error) {
	p = path.Clean("/" + p)
	base := path.Base(p)
	if base == "/" || base == "." || base == ".." {
		return -1, "", fmt.Errorf("%q names no file in %s: %w", p, r.path, unix.EINVAL)
	}
	fd, _, err := r.openPath(path.Dir(p), 0, Dir)
	return fd, base, err
}

// WriteFile replaces p with data atomically: a new file in the same
// directory, synced and renamed over p. A symlink at p is replaced, not
// followed; a FIFO, socket, device or directory at p is refused. A
// regular file being replaced keeps its owner and permission bits, else
// perm applies; either way without setuid, setgid or sticky bits, and
// whatever the umask says.
func (r *Root) WriteFile(p string, data []byte, perm os.FileMode) error {
	return r.WriteFileAs(p, data, perm, -1, -1)
}

// WriteFileAs is WriteFile where a new file (none at p, or a symlink)
// gets owner uid and group gid (-1: the caller's), as a guest in a user
// namespace sees its own files only when their host IDs map into it.
func (r *Root) WriteFileAs(p string, data []byte, perm os.FileMode, uid, gid int) error {
	dfd, base, err := r.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	mode := uint32(perm.Perm())
	var st unix.Stat_t
	switch err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG:
		mode, uid, gid = st.Mode, int(st.Uid), int(st.Gid)
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK:
	case err == nil:
		return &TypeError{Path: r.Show(p), Got: Type(st.Mode & unix.S_IFMT), Want: Regular}
	case err != unix.ENOENT:
		return &os.PathError{Op: "fstatat", Path: r.Show(p), Err: err}
	}
	mode &= 0o777
	tmp := ".govz-" + base + "." + strconv.Itoa(os.Getpid()) + "." + strconv.FormatInt(time.Now().UnixNano(), 36)
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "create", Path: r.Show(path.Join(path.Dir(p), tmp)), Err: err}
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(data)
	if err == nil && (uid >= 0 || gid >= 0) {
		err = f.Chown(uid, gid)
	}
	if err == nil {
		err = unix.Fchmod(fd, mode) // after the chown, which would clear setuid bits anyway
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, base)
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return fmt.Errorf("writing %s: %w", r.Show(p), err)
	}
	return nil
}

// Mkdir makes directory p (its parent must exist) with permission bits
// perm, whatever the umask, owned by uid and gid (-1: the caller's). A
// directory already at p is left as it is; a symlink (even to a
// directory), or any other file, at p is refused with a *TypeError, so
// the caller never puts files where a guest's link points.
func (r *Root) Mkdir(p string, perm os.FileMode, uid, gid int) error {
	dfd, base, err := r.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	// 0700 until the owner and mode are right: nobody else can enter it
	// meanwhile.
	if err := unix.Mkdirat(dfd, base, 0o700); err == unix.EEXIST {
		var st unix.Stat_t
		if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "fstatat", Path: r.Show(p), Err: err}
		}
		if got := Type(st.Mode & unix.S_IFMT); got != Dir {
			return &TypeError{Path: r.Show(p), Got: got, Want: Dir}
		}
		return nil
	} else if err != nil {
		return &os.PathError{Op: "mkdir", Path: r.Show(p), Err: err}
	}
	fd, err := unix.Openat(dfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: r.Show(p), Err: err}
	}
	defer unix.Close(fd)
	if uid >= 0 || gid >= 0 {
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return &os.PathError{Op: "chown", Path: r.Show(p), Err: err}
		}
	}
	if err := unix.Fchmod(fd, uint32(perm.Perm())); err != nil {
		return &os.PathError{Op: "chmod", Path: r.Show(p), Err: err}
	}
	return nil
}

// Remove deletes p (not what a symlink at p points to, nor a directory);
// a missing p is no error.
func (r *Root) Remove(p string) error {
	dfd, base, err := r.parent(p)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if err := unix.Unlinkat(dfd, base, 0); err != nil && err != unix.ENOENT {
		return &os.PathError{Op: "unlink", Path: r.Show(p), Err: err}
	}
	return nil
}
