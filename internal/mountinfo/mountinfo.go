// Package mountinfo parses the kernel's mount table, /proc/PID/mountinfo
// (proc(5)), the one place govz reads it.
//
// Each line is
//
//	ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
//
// with the optional fields ("shared:5", "master:1") ended by a lone "-".
// The kernel escapes space, tab, newline and backslash in the path and
// string fields as \040, \011, \012 and \134 (fs/proc_namespace.c,
// mangle()), so a field never contains a blank and a line never a
// newline; Parse undoes the escapes, so the paths it returns compare with
// the paths the host uses.
package mountinfo

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Mount is one line of the table.
type Mount struct {
	ID, Parent   int
	Dev          string   // "MAJ:MIN" of the file system
	Root         string   // path of the mount's root inside its file system
	MountPoint   string   // where it is mounted, in the reader's mount namespace
	Options      []string // per-mount options ("rw", "nosuid")
	Optional     []string // propagation ("shared:5", "master:1")
	FSType       string   // "ext4", "cgroup2", "fuse.lxcfs"
	Source       string   // "/dev/sda1", "none"
	SuperOptions []string // the file system's options ("rw", "mode=620")
}

// SelfPath is the caller's own mount table.
const SelfPath = "/proc/self/mountinfo"

// Path is the mount table of process pid; 0 means the caller's own.
func Path(pid int) string {
	if pid == 0 {
		return SelfPath
	}
	return "/proc/" + strconv.Itoa(pid) + "/mountinfo"
}

// Read reads and parses the mount table of process pid (0: the caller).
func Read(pid int) ([]Mount, error) {
	b, err := os.ReadFile(Path(pid))
	if err != nil {
		return nil, err // a *PathError naming the table
	}
	return Parse(string(b))
}

// Parse parses a mount table. A malformed line is an error naming it: the
// format is the kernel's, so a line that does not fit means the reader
// has the wrong file.
func Parse(data string) ([]Mount, error) {
	var ms []Mount
	for n, line := range strings.Split(data, "\n") {
		if line == "" {
			continue
		}
		m, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w: %q", n+1, err, line)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

func parseLine(line string) (Mount, error) {
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 {
		return Mount{}, fmt.Errorf("no separator")
	}
	if len(f) < sep+4 {
		return Mount{}, fmt.Errorf("truncated")
	}
	id, err := strconv.Atoi(f[0])
	if err != nil {
		return Mount{}, fmt.Errorf("mount id %q", f[0])
	}
	parent, err := strconv.Atoi(f[1])
	if err != nil {
		return Mount{}, fmt.Errorf("parent id %q", f[1])
	}
	return Mount{
		ID:           id,
		Parent:       parent,
		Dev:          f[2],
		Root:         Unescape(f[3]),
		MountPoint:   Unescape(f[4]),
		Options:      splitOptions(f[5]),
		Optional:     f[6:sep:sep],
		FSType:       Unescape(f[sep+1]),
		Source:       Unescape(f[sep+2]),
		SuperOptions: splitOptions(f[sep+3]),
	}, nil
}

func splitOptions(s string) []string {
	opts := strings.Split(s, ",")
	for i, o := range opts {
		opts[i] = Unescape(o)
	}
	return opts
}

// Unescape undoes the kernel's octal escapes (\040 space, \011 tab, \012
// newline, \134 backslash). A backslash not followed by three octal
// digits cannot come from the kernel's escaping and is kept as it is.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// IsMountPoint reports whether dir (a cleaned path as the table shows it:
// symlinks resolved) is a mount point in ms.
func IsMountPoint(ms []Mount, dir string) bool {
	for _, m := range ms {
		if m.MountPoint == dir {
			return true
		}
	}
	return false
}

// ByID returns the mount with id, if ms has it.
func ByID(ms []Mount, id int) (Mount, bool) {
	for _, m := range ms {
		if m.ID == id {
			return m, true
		}
	}
	return Mount{}, false
}
