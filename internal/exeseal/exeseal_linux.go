package exeseal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Seals is what every copy carries. F_SEAL_WRITE refuses write(2) and new
// shared writable mappings; F_SEAL_FUTURE_WRITE would add nothing to it
// (it only spares mappings that already exist, and there are none) and
// made private writable mappings, the ELF loader's data segments, fail
// before Linux 5.5 (commit 05d351102dbe; runc dropped it for that).
const Seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE

// mode is the copy's mode, as runc's: executable by anyone (a container
// with its own host UID range execs it as that range's root), readable
// and writable by no one but host root, who needs neither.
const mode = 0o511

// Self returns a sealed copy of the running executable, or the executable
// itself when it already is one (a process started from a copy). The
// file is close-on-exec; the caller closes it.
func Self() (*os.File, error) {
	exe, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("opening own executable: %w", err)
	}
	if Sealed(exe) {
		return exe, nil
	}
	defer exe.Close()
	return Copy(exe, "govz")
}

// Copy returns a sealed memfd copy of src's whole content, named name in
// /proc/PID/exe links ("/memfd:NAME (deleted)").
func Copy(src *os.File, name string) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return nil, fmt.Errorf("sealed copy of %s: %w", src.Name(), err)
	}
	// MFD_EXEC (Linux 6.3): with vm.memfd_noexec=1 a memfd made without it
	// is sealed non-executable; older kernels reject the flag.
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("sealed copy of %s: memfd_create: %w", src.Name(), err)
	}
	f := os.NewFile(uintptr(fd), "memfd:"+name)
	if err := fill(f, src, st.Size); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealed copy of %s: %w", src.Name(), err)
	}
	if err := seal(fd); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealed copy of %s: %w", src.Name(), err)
	}
	return f, nil
}

// fill copies size bytes of src into dst inside the kernel:
// copy_file_range(2), which refuses to cross file system types since
// Linux 5.19 (EXDEV, the usual case from ext4 or btrfs into the memfd's
// tmpfs), else sendfile(2), which takes any file as destination since
// 2.6.33; read and write only if neither works.
func fill(dst, src *os.File, size int64) error {
	var off int64
	in, out := int(src.Fd()), int(dst.Fd())
	for off < size {
		n, err := unix.CopyFileRange(in, &off, out, nil, int(size-off), 0)
		if err != nil || n == 0 {
			break
		}
	}
	for off < size {
		n, err := unix.Sendfile(out, in, &off, int(size-off))
		if err != nil || n == 0 {
			break
		}
	}
	if off < size {
		n, err := io.Copy(dst, io.NewSectionReader(src, off, size-off))
		if err != nil {
			return fmt.Errorf("copying: %w", err)
		}
		off += n
	}
	if off != size {
		return fmt.Errorf("copied %d of %d bytes", off, size)
	}
	return nil
}

func seal(fd int) error {
	if err := unix.Fchmod(fd, mode); err != nil {
		return fmt.Errorf("fchmod: %w", err)
	}
	// F_SEAL_EXEC (Linux 6.3) freezes the mode's exec bits; older
	// kernels do not know it, and the copy is safe without it.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_EXEC); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("fcntl(F_ADD_SEALS, F_SEAL_EXEC): %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, Seals); err != nil {
		return fmt.Errorf("fcntl(F_ADD_SEALS): %w", err)
	}
	return nil
}

// Sealed reports whether f is a memfd that carries every seal of Seals.
func Sealed(f *os.File) bool {
	s, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	return err == nil && s&Seals == Seals
}

// Path is the name execve(2) takes for a copy the new process inherits as
// descriptor fd. The new process resolves it itself, after the standard
// library has arranged its descriptors: pass the copy among them
// (exec.Cmd.ExtraFiles, os.ProcAttr.Files) and name its number there.
func Path(fd int) string {
	return "/proc/self/fd/" + strconv.Itoa(fd)
}
