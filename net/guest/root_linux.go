package guest

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

// Root is a container's root directory opened from the host. Every path
// is resolved by openat2(RESOLVE_IN_ROOT) as if the root were "/", so a
// symlink the guest planted (/etc -> /host/etc, resolv.conf -> ../../..)
// cannot lead a host-side write out of the container.
type Root struct {
	fd   int
	path string
}

// OpenRoot opens dir, the host path of a container's root.
func OpenRoot(dir string) (*Root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening container root %s: %w", dir, err)
	}
	return &Root{fd: fd, path: dir}, nil
}

// Close releases the root.
func (r *Root) Close() { unix.Close(r.fd) }

func (r *Root) open(p string, flags uint64, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat2(r.fd, p, &unix.OpenHow{
			Flags:   flags | unix.O_CLOEXEC,
			Mode:    uint64(mode),
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "openat2", Path: r.path + p, Err: err}
		}
		return fd, nil
	}
}

// ReadFile reads p (absolute inside the container); a missing file is
// an error wrapping os.ErrNotExist.
func (r *Root) ReadFile(p string) ([]byte, error) {
	fd, err := r.open(p, unix.O_RDONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), r.path+p)
	defer f.Close()
	if st, err := f.Stat(); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s%s is not a regular file", r.path, p)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s%s: %w", r.path, p, err)
	}
	if len(b) > maxFile {
		return nil, fmt.Errorf("%s%s is larger than %d bytes", r.path, p, maxFile)
	}
	return b, nil
}

// maxFile bounds what is read from a guest's file: the guest controls it.
const maxFile = 1 << 20

// Exists reports whether p exists (a dangling symlink does not).
func (r *Root) Exists(p string) bool {
	fd, err := r.open(p, unix.O_PATH, 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// dir opens the directory holding p and returns it with p's last
// component, which must be a plain name.
func (r *Root) dir(p string) (int, string, error) {
	p = path.Clean("/" + p)
	base := path.Base(p)
	if base == "/" || base == "." || base == ".." {
		return -1, "", fmt.Errorf("%q names no file", p)
	}
	fd, err := r.open(path.Dir(p), unix.O_PATH|unix.O_DIRECTORY, 0)
	return fd, base, err
}

// WriteFile replaces p with data atomically: a new file in the same
// directory, renamed over p. A symlink at p is replaced, not followed.
// The mode of a regular file being replaced is kept, else perm applies.
func (r *Root) WriteFile(p string, data []byte, perm os.FileMode) error {
	dfd, base, err := r.dir(p)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	if unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		perm = os.FileMode(st.Mode & 0o7777)
	}
	tmp := ".govz-" + base + "." + strconv.FormatInt(time.Now().UnixNano(), 36)
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm))
	if err != nil {
		return &os.PathError{Op: "create", Path: r.path + path.Join(path.Dir(p), tmp), Err: err}
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm) // the umask does not get a say
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
		return fmt.Errorf("writing %s%s: %w", r.path, p, err)
	}
	return nil
}

// Remove deletes p (not what a symlink at p points to); a missing p is
// no error.
func (r *Root) Remove(p string) error {
	dfd, base, err := r.dir(p)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if err := unix.Unlinkat(dfd, base, 0); err != nil && err != unix.ENOENT {
		return fmt.Errorf("removing %s%s: %w", r.path, p, err)
	}
	return nil
}
