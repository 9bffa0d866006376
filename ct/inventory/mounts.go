package inventory

import (
	"path/filepath"
	"strings"

	"govz/internal/mountinfo"
)

// mountPoints returns the mount points of this mount namespace.
func mountPoints() ([]string, error) {
	ms, err := mountinfo.Read(0)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.MountPoint
	}
	return out, nil
}

// realPath resolves symlinks in the existing part of p, so it compares
// with mountinfo, which shows resolved paths.
func realPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

// IsMountPoint reports whether p (symlinks resolved) is a mount point of
// this mount namespace.
func IsMountPoint(p string) (bool, error) {
	mps, err := mountPoints()
	if err != nil {
		return false, err
	}
	rp := realPath(p)
	for _, m := range mps {
		if m == rp {
			return true, nil
		}
	}
	return false, nil
}

// MountedUnder reports whether anything is mounted at or below any of dirs.
func MountedUnder(dirs ...string) (bool, error) {
	mps, err := mountPoints()
	if err != nil {
		return false, err
	}
	for _, d := range dirs {
		rd := realPath(d)
		for _, m := range mps {
			if m == rd || strings.HasPrefix(m, rd+"/") {
				return true, nil
			}
		}
	}
	return false, nil
}
