package inventory

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// mountPoints returns the mount points of this mount namespace.
func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			out = append(out, unescapeMount(fields[4]))
		}
	}
	return out, sc.Err()
}

// unescapeMount undoes the octal escapes mountinfo uses for space, tab,
// newline and backslash.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
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
