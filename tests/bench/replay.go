package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The lower bound of an unpack is what the file system costs: the same
// tree created with the fewest plain syscalls (open/write/fchown/fchmod/
// futimens per file, mkdir, symlink, link, mknod, xattrs), from members
// already decompressed into memory. No gzip, no archive parsing, no
// path-safety checks, one thread: what any extractor must at least pay to
// the kernel (decompression can overlap with it on a second core).

// member is one archive entry held in memory.
type member struct {
	hdr  *tar.Header
	data []byte
}

// image is a whole template, decompressed.
type image struct {
	members []member
	bytes   int64
}

// loadImage decompresses and parses a .tar.gz template into memory.
func loadImage(path string) (*image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tr := tar.NewReader(zr)
	im := &image{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		m := member{hdr: h}
		if h.Typeflag == tar.TypeReg && h.Size > 0 {
			if m.data, err = io.ReadAll(tr); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, h.Name, err)
			}
			im.bytes += h.Size
		}
		im.members = append(im.members, m)
	}
	return im, nil
}

// replay creates the image's tree under dest (an existing empty directory).
// Directory ownership, modes and times are set last, deepest first, as
// tar does, so that creating entries inside does not disturb them.
func (im *image) replay(dest string) error {
	var dirs []member
	for _, m := range im.members {
		rel := filepath.Clean("/" + m.hdr.Name)
		p := dest + rel
		h := m.hdr
		switch h.Typeflag {
		case tar.TypeDir:
			if rel != "/" {
				if err := unix.Mkdir(p, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
					return fmt.Errorf("mkdir %s: %w", p, err)
				}
			}
			dirs = append(dirs, member{hdr: h})
		case tar.TypeReg:
			if err := writeFile(p, m); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := unix.Symlink(h.Linkname, p); err != nil {
				return fmt.Errorf("symlink %s: %w", p, err)
			}
			if err := unix.Lchown(p, h.Uid, h.Gid); err != nil {
				return err
			}
			if err := setTimes(unix.AT_FDCWD, p, h, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
		case tar.TypeLink:
			if err := unix.Link(dest+filepath.Clean("/"+h.Linkname), p); err != nil {
				return fmt.Errorf("link %s: %w", p, err)
			}
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			mode := uint32(unix.S_IFIFO)
			if h.Typeflag == tar.TypeChar {
				mode = unix.S_IFCHR
			} else if h.Typeflag == tar.TypeBlock {
				mode = unix.S_IFBLK
			}
			dev := int(unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor)))
			if err := unix.Mknod(p, mode|0o600, dev); err != nil {
				return fmt.Errorf("mknod %s: %w", p, err)
			}
			if err := setAttrs(p, h); err != nil {
				return err
			}
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		h := dirs[i].hdr
		if err := setAttrs(dest+filepath.Clean("/"+h.Name), h); err != nil {
			return err
		}
	}
	return nil
}

// writeFile creates one regular file through its descriptor only.
func writeFile(p string, m member) error {
	h := m.hdr
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", p, err)
	}
	defer unix.Close(fd)
	for d := m.data; len(d) > 0; {
		n, err := unix.Write(fd, d)
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		d = d[n:]
	}
	if err := unix.Fchown(fd, h.Uid, h.Gid); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, uint32(h.Mode&0o7777)); err != nil {
		return err
	}
	for k, v := range xattrs(h) {
		if err := unix.Fsetxattr(fd, k, []byte(v), 0); err != nil {
			return fmt.Errorf("setxattr %s %s: %w", p, k, err)
		}
	}
	return futimens(fd, h)
}

// setAttrs sets owner, mode, xattrs and times by path (directories, nodes).
func setAttrs(p string, h *tar.Header) error {
	if err := unix.Lchown(p, h.Uid, h.Gid); err != nil {
		return err
	}
	if err := unix.Chmod(p, uint32(h.Mode&0o7777)); err != nil {
		return err
	}
	for k, v := range xattrs(h) {
		if err := unix.Lsetxattr(p, k, []byte(v), 0); err != nil {
			return fmt.Errorf("setxattr %s %s: %w", p, k, err)
		}
	}
	return setTimes(unix.AT_FDCWD, p, h, unix.AT_SYMLINK_NOFOLLOW)
}

func xattrs(h *tar.Header) map[string]string {
	var out map[string]string
	for k, v := range h.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if out == nil {
				out = map[string]string{}
			}
			out[name] = v
		}
	}
	return out
}

func times(h *tar.Header) [2]unix.Timespec {
	at := h.AccessTime
	if at.IsZero() {
		at = h.ModTime
	}
	return [2]unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(h.ModTime.UnixNano())}
}

func setTimes(dirfd int, p string, h *tar.Header, flags int) error {
	ts := times(h)
	return unix.UtimesNanoAt(dirfd, p, ts[:], flags)
}

// futimens is utimensat(fd, NULL, times, 0): x/sys's Futimes goes through
// /proc/self/fd, a path lookup the bound should not pay.
func futimens(fd int, h *tar.Header) error {
	ts := times(h)
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
