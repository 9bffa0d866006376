package storage

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Confine makes dir, a directory above private areas or mount points
// ($VZ_ROOT/private, $VZ_ROOT/root, the dump directory), root's alone:
// owned by root, no access for group or others. The trees below hold
// whatever their guests put there, setuid-root binaries included (an
// identity-mapped or idmapped container's root writes files owned by UID
// 0 on disk), and a host user who can reach one runs it as root. The
// container's own files keep their modes (the guest's "/" must stay 0755),
// so the one closed door is the directory above them, as OpenVZ's
// packages made /vz/private and /vz/root 0700. Every command that makes or
// uses a container's tree calls it: a directory an old install or an admin
// left open (0755) is closed again, not only at `make install`.
func Confine(dir string) error {
	dir = filepath.Clean(dir)
	if dir == "/" {
		return fmt.Errorf("refusing to make / root-only: private areas and mount points need a directory of their own")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return &os.PathError{Op: "confine", Path: dir, Err: unix.ENOTDIR}
	}
	// Chown first: it may clear setgid, and another owner could open the
	// directory again whenever it liked.
	if st.Uid != 0 {
		if err := unix.Chown(dir, 0, -1); err != nil {
			return &os.PathError{Op: "chown", Path: dir, Err: err}
		}
	}
	if mode := st.Mode & 0o7777; mode&0o077 != 0 || st.Uid != 0 {
		if err := unix.Chmod(dir, mode&^0o077); err != nil {
			return &os.PathError{Op: "chmod", Path: dir, Err: err}
		}
	}
	return nil
}
