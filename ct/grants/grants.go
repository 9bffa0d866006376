// Package grants reads the options that grant a container facilities of
// the host: --features, --devnodes, --devices and --netfilter (vzctl's
// FEATURES, DEVNODES, DEVICES, NETFILTER). Each value either maps onto
// something a stock kernel enforces or is refused by name: none is saved
// and then ignored.
//
// What a stock kernel gives a container in its own user and network
// namespaces decides the mapping:
//
//   - tun, fuse and ppp need a device node, which an unprivileged guest
//     cannot make (mknod(2) is refused in a user namespace); their drivers
//     check CAP_NET_ADMIN / mount rights against the namespaces the guest
//     owns (tun_set_iff, fuse's FS_USERNS_MOUNT since Linux 4.18,
//     ppp_open). The feature grants the node, as --devnodes would.
//   - bridge, sit, ipip and ipgre devices are made over rtnetlink in the
//     guest's own network namespace, which its root administers; the host
//     autoloads the driver (rtnl-link-KIND). Always available: "on" is
//     what the container has, "off" cannot be enforced and is refused.
//   - sysfs: every container has a read-only /sys; "off" is refused.
//   - nfs and nfsd: neither filesystem may be mounted, nor nfsd run, in a
//     user namespace; "on" is refused.
//   - netfilter: the guest's network namespace has every table of its own
//     (filter, nat, mangle, raw, conntrack), which OpenVZ called full; the
//     kernel has no switch to withhold conntrack or NAT from one namespace,
//     so disabled, stateless and stateful are refused.
package grants

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"govz/ct/rootfs"
)

// Feature is one --features item.
type Feature struct {
	Name string
	On   bool
}

// feature says what a feature name means here.
type feature struct {
	devNode string // /dev node "on" grants
	always  bool   // the container has it whatever the setting: "off" is refused
	never   string // why "on" is refused
}

var features = map[string]feature{
	"tun":    {devNode: "net/tun"},
	"fuse":   {devNode: "fuse"},
	"ppp":    {devNode: "ppp"},
	"bridge": {always: true},
	"sit":    {always: true},
	"ipip":   {always: true},
	"ipgre":  {always: true},
	"sysfs":  {always: true},
	"nfs":    {never: "a stock kernel does not mount NFS in a user namespace"},
	"nfsd":   {never: "a stock kernel does not run nfsd in a user namespace"},
}

// FeatureNames lists the features this package knows, sorted.
func FeatureNames() []string {
	var out []string
	for n := range features {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// ParseFeatures checks FEATURES items ("tun:on", "nfs:off"; several per
// item, comma separated) and returns them, a later item for the same
// feature winning.
func ParseFeatures(list []string) ([]Feature, error) {
	var out []Feature
	for _, f := range items(list) {
		name, val, ok := strings.Cut(f, ":")
		name = strings.ToLower(name)
		on, okv := onOff(val)
		if !ok || !okv {
			return nil, fmt.Errorf("feature %q: want NAME:on or NAME:off: %w", f, ErrBadValue)
		}
		ft, known := features[name]
		switch {
		case !known:
			return nil, fmt.Errorf("unknown feature %q (known: %s): %w", name, strings.Join(FeatureNames(), ", "), ErrBadValue)
		case on && ft.never != "":
			return nil, fmt.Errorf("feature %s:on refused: %s: %w", name, ft.never, ErrBadValue)
		case !on && ft.always:
			return nil, fmt.Errorf("feature %s:off refused: every container has %s on a stock kernel and it cannot be withheld: %w", name, name, ErrBadValue)
		}
		out = slices.DeleteFunc(out, func(x Feature) bool { return x.Name == name })
		out = append(out, Feature{Name: name, On: on})
	}
	return out, nil
}

// FeatureDevNodes returns the DEVNODES items ("net/tun:rw") the features
// that are on grant.
func FeatureDevNodes(fs []Feature) []string {
	var out []string
	for _, f := range fs {
		if d := features[f.Name].devNode; f.On && d != "" {
			out = append(out, d+":rw")
		}
	}
	return out
}

// DevNode is one --devnodes grant: the host's /dev/Name, with Access a
// non-empty subset of "rw".
type DevNode struct {
	Name   string
	Access string
}

// ParseDevNodes checks DEVNODES items ("net/tun:rw", "fuse:none") and
// returns the grants; "none" revokes an earlier grant of the same node.
// vzctl's q (quota management of a block device) has no counterpart and
// is refused.
func ParseDevNodes(list []string) ([]DevNode, error) {
	var out []DevNode
	for _, f := range items(list) {
		name, perm, ok := strings.Cut(f, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("devnode %q: want NAME:[r][w] or NAME:none: %w", f, ErrBadValue)
		}
		clean := path.Clean(name)
		if clean != name || path.IsAbs(name) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
			return nil, fmt.Errorf("devnode %q: want a clean path below /dev: %w", name, ErrBadValue)
		}
		access, err := access(f, perm)
		if err != nil {
			return nil, err
		}
		// The runtime's own nodes and mounts cannot be granted.
		if err := (rootfs.DevNode{Path: name, Type: 'c', Mode: 0o666}).Validate(); err != nil {
			return nil, fmt.Errorf("devnode %q: %w", name, err)
		}
		out = slices.DeleteFunc(out, func(d DevNode) bool { return d.Name == name })
		if access != "" {
			out = append(out, DevNode{Name: name, Access: access})
		}
	}
	return out, nil
}

// ParseDevices checks DEVICES items ("c:10:200:rw", "b:8:all:r",
// "c:10:200:none") and returns the device cgroup rules they add; no node
// is made (vzctl: the admin makes it). vzctl's "all" device (every device
// of the host) is refused: it would hand the guest the host's disks.
func ParseDevices(list []string) ([]rootfs.Rule, error) {
	var out []rootfs.Rule
	for _, f := range items(list) {
		parts := strings.Split(f, ":")
		if len(parts) == 2 && parts[0] == "all" {
			return nil, fmt.Errorf("device %q refused: access to every host device would include its disks; grant devices by number: %w", f, ErrBadValue)
		}
		if len(parts) != 4 || (parts[0] != "c" && parts[0] != "b") {
			return nil, fmt.Errorf("device %q: want b|c:MAJOR:MINOR:[r][w] or :none: %w", f, ErrBadValue)
		}
		major, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || major < 0 || major > 4095 {
			return nil, fmt.Errorf("device %q: bad major %q (0..4095): %w", f, parts[1], ErrBadValue)
		}
		minor := int64(-1)
		if parts[2] != "all" && parts[2] != "*" {
			if minor, err = strconv.ParseInt(parts[2], 10, 64); err != nil || minor < 0 || minor > 1<<20-1 {
				return nil, fmt.Errorf("device %q: bad minor %q (0..1048575 or all): %w", f, parts[2], ErrBadValue)
			}
		}
		acc, err := access(f, parts[3])
		if err != nil {
			return nil, err
		}
		r := rootfs.Rule{Type: parts[0][0], Major: major, Minor: minor}
		out = slices.DeleteFunc(out, func(x rootfs.Rule) bool { return x.Type == r.Type && x.Major == r.Major && x.Minor == r.Minor })
		if acc != "" {
			r.Access = acc
			out = append(out, r)
		}
	}
	return out, nil
}

// Netfilters are NETFILTER's values; only Full is enforced here (see the
// package comment).
const Full = "full"

// CheckNetfilter checks a NETFILTER value.
func CheckNetfilter(v string) error {
	switch v {
	case Full:
		return nil
	case "disabled", "stateless", "stateful":
		return fmt.Errorf("netfilter %s refused: a stock kernel gives each container every netfilter table in its own network namespace and cannot withhold some (only full is enforced; --capability net_admin:off withholds all): %w", v, ErrBadValue)
	}
	return fmt.Errorf("bad netfilter %q (full; disabled, stateless and stateful cannot be enforced): %w", v, ErrBadValue)
}

// access checks a [r][w] permission or "none" ("" then).
func access(item, perm string) (string, error) {
	if perm == "none" {
		return "", nil
	}
	if strings.Contains(perm, "q") {
		return "", fmt.Errorf("%q: q (quota management) has no counterpart on a stock kernel: %w", item, ErrBadValue)
	}
	if perm == "" || strings.Trim(perm, "rw") != "" {
		return "", fmt.Errorf("%q: permission %q: want r, w, rw or none: %w", item, perm, ErrBadValue)
	}
	acc := ""
	for _, c := range "rw" {
		if strings.ContainsRune(perm, c) {
			acc += string(c)
		}
	}
	return acc, nil
}

func onOff(v string) (on, ok bool) {
	switch strings.ToLower(v) {
	case "on":
		return true, true
	case "off":
		return false, true
	}
	return false, false
}

// items splits list entries on commas and blanks (vzctl accepts both).
func items(list []string) []string {
	var out []string
	for _, l := range list {
		out = append(out, strings.FieldsFunc(l, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })...)
	}
	return out
}
