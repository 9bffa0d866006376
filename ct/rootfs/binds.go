package rootfs

import (
	"fmt"
	"path"
	"strings"

	"govz/ct/vzerror"
)

// Bind is a host file or directory mounted into the container at start
// (the container's bindmount key, HOST:CT[:ro|rw]; Virtuozzo 7's vzctl has
// the same idea as BINDMOUNT). The supervisor clones Source on the host as
// a detached mount (nosuid, nodev, read-only when asked) and the container
// attaches it at Target after the pivot, so Target resolves inside the
// container's root whatever symlinks the guest planted, and before the
// mount namespace is locked, so the guest cannot unmount it to look under
// it or remount it writable.
type Bind struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only"`
	Dir      bool   `json:"dir"` // Source is a directory (else a regular file)
	FD       int    `json:"-"`   // the child's detached mount
}

// reservedTargets are the container paths the runtime mounts itself: a bind
// there would be covered (or would cover a mask), so it is refused.
var reservedTargets = []string{"/proc", "/sys", "/dev", "/run"}

// ParseBind parses one bindmount item, HOST:CT[:ro|rw] (rw by default).
// Both paths must be absolute and clean, without "..", and CT may not be
// the container's root or a path the runtime mounts itself. Whether HOST
// exists is the caller's question (it is a host fact, checked at set and at
// start).
func ParseBind(s string) (Bind, error) {
	bad := func(why string) (Bind, error) {
		return Bind{}, fmt.Errorf("bad bindmount %q: %s: %w", s, why, vzerror.ErrInvalidValue)
	}
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return bad("want HOST:CT[:ro|rw]")
	}
	b := Bind{Source: parts[0], Target: parts[1]}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			b.ReadOnly = true
		case "rw":
		default:
			return bad("mode must be ro or rw")
		}
	}
	for _, p := range []string{b.Source, b.Target} {
		if !path.IsAbs(p) || path.Clean(p) != p || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
			return bad(fmt.Sprintf("%q is not an absolute, clean path", p))
		}
	}
	if b.Target == "/" {
		return bad("the container's root cannot be a bind target")
	}
	for _, r := range reservedTargets {
		if b.Target == r || strings.HasPrefix(b.Target, r+"/") {
			return bad(fmt.Sprintf("%s is mounted by govz itself", r))
		}
	}
	return b, nil
}
