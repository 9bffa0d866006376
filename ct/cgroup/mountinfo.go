package cgroup

import (
	"fmt"
	"path/filepath"
	"strings"

	"govz/internal/mountinfo"
)

// Layout is the host's cgroup arrangement.
type Layout int

const (
	// V1 is the legacy or "hybrid" layout: a tmpfs holding one cgroup v1
	// mount per controller hierarchy (and name=systemd), plus in hybrid mode
	// a mostly empty cgroup2 mount at .../unified.
	V1 Layout = iota + 1
	// V2 is the unified layout: one cgroup2 mount carries every controller.
	V2
)

func (l Layout) String() string {
	switch l {
	case V1:
		return "v1"
	case V2:
		return "v2"
	}
	return "unknown"
}

// UnifiedName is the hierarchy name InnerPaths and OuterPath use for the
// cgroup2 mount. v1 hierarchies are named as in /proc/PID/cgroup: their
// controllers and name= option joined by commas ("cpu,cpuacct",
// "name=systemd").
const UnifiedName = "unified"

const mountinfoPath = mountinfo.SelfPath

// hierarchy is one mounted cgroup hierarchy.
type hierarchy struct {
	name        string   // "cpu,cpuacct", "name=systemd", "unified"
	v2          bool     // cgroup2
	controllers []string // v1 controllers bound to it; empty for v2 and named-only
	mountPoint  string   // host path of the mount
	root        string   // cgroup path of the mount's root (mountinfo field 4)
	options     []string // v1 super options worth repeating in a guest mount
}

// has reports whether the v1 hierarchy binds controller c.
func (h *hierarchy) has(c string) bool {
	for _, x := range h.controllers {
		if x == c {
			return true
		}
	}
	return false
}

// v1Flag reports whether super option o of a cgroup v1 mount is a flag
// rather than a controller (kernel/cgroup/cgroup-v1.c cgroup1_show_options),
// and whether a guest mount should repeat it; rw/ro come from the mount
// flags instead.
func v1Flag(o string) (flag, keep bool) {
	switch o {
	case "rw", "ro", "none":
		return true, false
	case "noprefix", "xattr", "clone_children", "cpuset_v2_mode", "favordynmods":
		return true, true
	}
	return false, false
}

// parseMountinfo returns the cgroup hierarchies in mountinfo order, one
// entry per hierarchy even when it is mounted more than once.
func parseMountinfo(data string) ([]hierarchy, error) {
	ms, err := mountinfo.Parse(data)
	if err != nil {
		return nil, err
	}
	var hs []hierarchy
	index := map[string]int{}
	for _, m := range ms {
		fstype := m.FSType
		if fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		h := hierarchy{
			v2:         fstype == "cgroup2",
			mountPoint: m.MountPoint,
			root:       m.Root,
		}
		if h.v2 {
			h.name = UnifiedName
		} else {
			var ident []string
			for _, o := range m.SuperOptions {
				flag, keep := v1Flag(o)
				switch {
				case flag:
					if keep {
						h.options = append(h.options, o)
					}
				case strings.HasPrefix(o, "name="):
					ident = append(ident, o)
				case strings.Contains(o, "="):
					// release_agent= and the like: host-only, never repeated.
				default:
					h.controllers = append(h.controllers, o)
					ident = append(ident, o)
				}
			}
			if len(ident) == 0 {
				return nil, fmt.Errorf("mountinfo: cgroup mount %d at %s without controllers or name", m.ID, m.MountPoint)
			}
			// The kernel prints controllers before name= in both places,
			// so this matches /proc/PID/cgroup's second field.
			h.name = strings.Join(ident, ",")
			h.options = append(append([]string{}, ident...), h.options...)
		}
		if i, dup := index[h.name]; dup {
			// A bind mount of a sub-tree sees less; prefer the full mount.
			if hs[i].root != "/" && h.root == "/" {
				hs[i] = h
			}
			continue
		}
		index[h.name] = len(hs)
		hs = append(hs, h)
	}
	return hs, nil
}

// layoutOf classifies hierarchies: any v1 hierarchy that binds a controller
// means the controllers are not (all) on cgroup2, i.e. legacy or hybrid.
// Named-only v1 hierarchies next to a cgroup2 mount (left by old container
// tools) do not change that.
func layoutOf(hs []hierarchy) (Layout, error) {
	v2 := false
	for _, h := range hs {
		if !h.v2 && len(h.controllers) > 0 {
			return V1, nil
		}
		v2 = v2 || h.v2
	}
	if v2 {
		return V2, nil
	}
	return 0, fmt.Errorf("no cgroup hierarchy mounted (%s): %w", mountinfoPath, ErrUnsupported)
}

// readHierarchies parses the mountinfo k sees.
func readHierarchies(k kernel) ([]hierarchy, Layout, error) {
	b, err := k.ReadFile(mountinfoPath)
	if err != nil {
		return nil, 0, fmt.Errorf("reading mount table: %w", err)
	}
	hs, err := parseMountinfo(string(b))
	if err != nil {
		return nil, 0, err
	}
	l, err := layoutOf(hs)
	if err != nil {
		return nil, 0, err
	}
	return hs, l, nil
}

// DetectLayout reports the host's cgroup layout from /proc/self/mountinfo.
func DetectLayout() (Layout, error) {
	_, l, err := readHierarchies(hostKernel{})
	return l, err
}

// hostPath is the host path of cgroup rel (relative to the mount's root)
// in h.
func (h *hierarchy) hostPath(rel string) string {
	return filepath.Join(h.mountPoint, rel)
}
