package nsenter

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"govz/ct/caps"
	"govz/ct/vzerror"
)

// The constructor's data comes in memfds (EnvEnvFD, EnvSeccompFD): as its
// own environment, LD_* or GLIBC_TUNABLES would act on the host side, and a
// filter does not fit an environment variable. These build them, for the
// exec verb (package attach) and the init verb (package nsinit) alike.

// SealedFile returns a read-only view of data in a memfd whose content can
// no longer change: a guest process reopening it through /proc cannot alter
// it while it is used. The descriptor is close-on-exec and at offset 0.
func SealedFile(name string, data []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w: %w", err, vzerror.ErrSystem)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing memfd: %w: %w", err, vzerror.ErrSystem)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealing memfd: %w: %w", err, vzerror.ErrSystem)
	}
	if _, err := f.Seek(0, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("rewinding memfd: %w: %w", err, vzerror.ErrSystem)
	}
	return f, nil
}

// EnvFile is env as EnvEnvFD wants it: NUL-terminated KEY=VALUE entries.
func EnvFile(env []string) (*os.File, error) {
	var blob []byte
	for _, kv := range env {
		blob = append(append(blob, kv...), 0)
	}
	return SealedFile("govz-env", blob)
}

// SeccompFile is the container's syscall filter (caps.HostFilter) as the
// raw struct sock_filter array EnvSeccompFD wants; nil when this
// architecture has no filter.
func SeccompFile() (*os.File, error) {
	prog, err := caps.HostFilter()
	if err != nil {
		return nil, fmt.Errorf("building the seccomp filter: %w: %w", err, vzerror.ErrSystem)
	}
	if prog == nil {
		return nil, nil
	}
	b := make([]byte, 0, 8*len(prog))
	for _, in := range prog {
		b = binary.NativeEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.NativeEndian.AppendUint32(b, in.K)
	}
	return SealedFile("govz-seccomp", b)
}
