package image

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Copy makes dst (new) a copy of the image src: a reflink where the file
// system shares extents (btrfs, XFS), otherwise a sparse copy of the data
// ranges only, done in the kernel by copy_file_range. It reports whether
// the copy shares src's extents.
func Copy(dst, src string) (reflinked bool, err error) { return CopyWith(dst, src, nil) }

// CopyWith is Copy reporting how far a sparse copy is (bytes of src,
// holes included) to progress, when set.
func CopyWith(dst, src string, progress func(done, total int64)) (reflinked bool, err error) {
	in, err := os.Open(src)
	if err != nil {
		return false, fmt.Errorf("opening image %s: %w", src, err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return false, err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return false, fmt.Errorf("creating image %s: %w", dst, err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("writing image %s: %w", dst, cerr)
		}
	}()
	if unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) == nil {
		return true, nil
	}
	if err := sparseCopy(out, in, st.Size(), progress); err != nil {
		return false, fmt.Errorf("copying image %s to %s: %w", src, dst, err)
	}
	return false, nil
}

// sparseCopy copies the data ranges of in (size bytes) to the same offsets
// of out and leaves holes as holes, telling progress (when set) the
// offset reached.
func sparseCopy(out, in *os.File, size int64, progress func(done, total int64)) error {
	if progress == nil {
		progress = func(int64, int64) {}
	}
	ifd, ofd := int(in.Fd()), int(out.Fd())
	for off := int64(0); off < size; {
		data, err := unix.Seek(ifd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole remains
		}
		if err != nil {
			return fmt.Errorf("seeking data: %w", err)
		}
		hole, err := unix.Seek(ifd, data, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("seeking hole: %w", err)
		}
		for data < hole {
			roff, woff := data, data
			n, err := unix.CopyFileRange(ifd, &roff, ofd, &woff, int(min(hole-data, copyChunk)), 0)
			if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
				n, err = copyRange(out, in, data, hole-data)
			}
			if err != nil {
				return err
			}
			if n == 0 {
				return io.ErrUnexpectedEOF
			}
			data += int64(n)
			progress(data, size)
		}
		off = hole
	}
	if err := out.Truncate(size); err != nil {
		return err
	}
	progress(size, size)
	return nil
}

// copyChunk is the most one copy_file_range call moves: small enough for
// a progress bar to move on a slow disk.
const copyChunk = 64 << 20

// copyRange is the userspace fallback of copy_file_range.
func copyRange(out, in *os.File, off, n int64) (int, error) {
	buf := make([]byte, min(n, 1<<20))
	r, err := in.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	if _, err := out.WriteAt(buf[:r], off); err != nil {
		return 0, err
	}
	return r, nil
}
