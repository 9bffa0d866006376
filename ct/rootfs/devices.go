package rootfs

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"govz/ct/vzerror"
)

// DevNode is a device node in the container's /dev.
type DevNode struct {
	Path         string // relative to /dev: "null", "net/tun"
	Type         byte   // 'c' or 'b'
	Major, Minor uint32
	Mode         uint32 // permission bits of the node
	Access       string // what the device cgroup grants: a subset of "rwm"; "" = "rwm"
}

// DefaultNodes are the nodes every container gets, the set systemd's
// CONTAINER_INTERFACE.md lists and LXC's autodev creates (console and ptmx
// are handled separately: a bind-mounted pty and a link into devpts).
var DefaultNodes = []DevNode{
	{Path: "null", Type: 'c', Major: 1, Minor: 3, Mode: 0o666},
	{Path: "zero", Type: 'c', Major: 1, Minor: 5, Mode: 0o666},
	{Path: "full", Type: 'c', Major: 1, Minor: 7, Mode: 0o666},
	{Path: "random", Type: 'c', Major: 1, Minor: 8, Mode: 0o666},
	{Path: "urandom", Type: 'c', Major: 1, Minor: 9, Mode: 0o666},
	{Path: "tty", Type: 'c', Major: 5, Minor: 0, Mode: 0o666},
}

// Validate checks a node from configuration.
func (d DevNode) Validate() error {
	p := path.Clean(d.Path)
	if d.Path == "" || p != d.Path || path.IsAbs(p) || p == "." || strings.HasPrefix(p, "../") || p == ".." {
		return fmt.Errorf("device node path %q: want a clean path relative to /dev: %w", d.Path, vzerror.ErrInvalidValue)
	}
	switch p {
	case "pts", "shm", "mqueue", "console", "ptmx", "fd", "stdin", "stdout", "stderr":
		return fmt.Errorf("device node path %q is managed by the runtime: %w", d.Path, vzerror.ErrInvalidValue)
	}
	if strings.HasPrefix(p, "pts/") || strings.HasPrefix(p, "shm/") || strings.HasPrefix(p, "mqueue/") {
		return fmt.Errorf("device node path %q is inside a runtime-managed mount: %w", d.Path, vzerror.ErrInvalidValue)
	}
	if d.Type != 'c' && d.Type != 'b' {
		return fmt.Errorf("device node %s: type %q is not c or b: %w", d.Path, d.Type, vzerror.ErrInvalidValue)
	}
	if strings.Trim(d.Access, "rwm") != "" {
		return fmt.Errorf("device node %s: access %q is not a subset of rwm: %w", d.Path, d.Access, vzerror.ErrInvalidValue)
	}
	if d.Mode&^0o777 != 0 {
		return fmt.Errorf("device node %s: mode %o has more than permission bits: %w", d.Path, d.Mode, vzerror.ErrInvalidValue)
	}
	return nil
}

// Rule is one device cgroup exception: Type 'c', 'b' or 'a'; Major or
// Minor -1 means any.
type Rule struct {
	Type         byte
	Major, Minor int64
	Access       string
}

// String renders the rule as cgroup v1's devices.allow/deny line.
func (r Rule) String() string {
	if r.Type == 'a' {
		return "a *:* rwm"
	}
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	return fmt.Sprintf("%c %s:%s %s", r.Type, num(r.Major), num(r.Minor), r.Access)
}

// AllowRules is the device allow-list of a container: the default nodes,
// /dev/console (5:1, the name some programs open even though ours is a pty),
// /dev/ptmx (5:2, opened through the container's own devpts instance),
// every pseudo-terminal slave (136-143:*, the "Unix98 PTY slaves" range in
// Documentation/admin-guide/devices.txt; the console is one of the host's),
// and extra. Everything else is denied: a block device node made with mknod
// cannot be opened.
func AllowRules(extra []DevNode) []Rule {
	var out []Rule
	for _, d := range DefaultNodes {
		out = append(out, Rule{Type: d.Type, Major: int64(d.Major), Minor: int64(d.Minor), Access: "rwm"})
	}
	out = append(out,
		Rule{Type: 'c', Major: 5, Minor: 1, Access: "rwm"},
		Rule{Type: 'c', Major: 5, Minor: 2, Access: "rwm"},
	)
	for m := int64(136); m <= 143; m++ {
		out = append(out, Rule{Type: 'c', Major: m, Minor: -1, Access: "rwm"})
	}
	for _, d := range extra {
		acc := d.Access
		if acc == "" {
			acc = "rwm"
		}
		out = append(out, Rule{Type: d.Type, Major: int64(d.Major), Minor: int64(d.Minor), Access: acc})
	}
	return out
}
