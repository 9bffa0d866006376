package guest

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// OS is what a guest says it is (os-release(5)), or what its OSTEMPLATE
// name says when it has no os-release.
type OS struct {
	ID      string   // "debian", "ubuntu", "almalinux", "alpine", ...
	Like    []string // ID_LIKE
	Version string   // VERSION_ID
}

// Is reports whether the guest is id or like it.
func (o OS) Is(id string) bool { return o.ID == id || slices.Contains(o.Like, id) }

// Major is VERSION_ID's leading number, 0 when there is none.
func (o OS) Major() int {
	v, _, _ := strings.Cut(o.Version, ".")
	n, _ := strconv.Atoi(v)
	return n
}

// parseOSRelease reads os-release(5): KEY=VALUE lines, values optionally
// quoted.
func parseOSRelease(s string) OS {
	var o OS
	for _, l := range splitLines(s) {
		k, v, ok := strings.Cut(strings.TrimSpace(l), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			o.ID = strings.ToLower(v)
		case "ID_LIKE":
			o.Like = strings.Fields(strings.ToLower(v))
		case "VERSION_ID":
			o.Version = v
		}
	}
	return o
}

// templateOS is the fallback for a guest without os-release: vzctl's
// template names are distro-version-arch[-flavour] (centos-7-x86_64,
// almalinux-9-x86_64, alpine-3.19-x86_64).
// Compiled on first use: package init runs in every vzctl process.
var templateName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([a-z]+)-([0-9][0-9.]*)`) })

// templateFamilies maps template distro names to the families os-release
// would name in ID_LIKE.
var templateFamilies = map[string][]string{
	"centos": {"rhel", "fedora"}, "almalinux": {"rhel", "centos", "fedora"}, "rocky": {"rhel", "centos", "fedora"},
	"fedora": nil, "rhel": {"fedora"}, "oracle": {"rhel", "fedora"},
	"ubuntu": {"debian"}, "debian": nil, "devuan": {"debian"},
	"opensuse": {"suse"}, "sles": {"suse"}, "suse": nil,
	"alpine": nil, "arch": nil, "gentoo": nil,
}

func templateOS(name string) OS {
	m := templateName().FindStringSubmatch(name)
	if m == nil {
		return OS{}
	}
	like, ok := templateFamilies[m[1]]
	if !ok {
		return OS{}
	}
	return OS{ID: m[1], Like: like, Version: m[2]}
}

// Guest is what the host found in a container's tree: the facts the
// configurators choose by.
type Guest struct {
	OS   OS
	Init string // "systemd", "sysvinit", "openrc", "busybox" or "" (unknown)
	// Network names the network configurations written for it, in the
	// order Apply runs them.
	Network []string
}

// findInit names the guest's init from what /sbin/init is.
func (t tree) findInit() string {
	target := ""
	for _, p := range []string{"/sbin/init", "/usr/sbin/init"} {
		if l := t.readlink(p); l != "" {
			target = l
			break
		}
	}
	switch {
	case strings.Contains(target, "systemd"):
		return "systemd"
	case strings.Contains(target, "busybox"):
		return "busybox"
	case strings.Contains(target, "openrc-init"):
		return "openrc"
	}
	if !t.anyExists("/sbin/init", "/usr/sbin/init") {
		return ""
	}
	// sysvinit is PID 1 of Debian's and Alpine's OpenRC systems too
	// (openrc runs from inittab): the rc system decides.
	if t.anyExists("/sbin/openrc", "/usr/sbin/openrc", "/sbin/rc-service", "/usr/sbin/rc-service") {
		return "openrc"
	}
	if t.anyExists("/etc/inittab") {
		return "sysvinit"
	}
	return ""
}

// Detect looks at the tree at root (osTemplate is the container's
// OSTEMPLATE, the fallback for a tree without os-release) and says what
// the guest is and which network configurations Apply would write.
func Detect(root, osTemplate string) (Guest, error) {
	t, closeTree, err := openTree(root)
	if err != nil {
		return Guest{}, err
	}
	defer closeTree()
	g, _ := t.detect(osTemplate)
	return g, nil
}

func (t tree) detect(osTemplate string) (Guest, []configurator) {
	var o OS
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		if s, err := t.read(p); err == nil && s != "" {
			o = parseOSRelease(s)
			break
		}
	}
	if o.ID == "" {
		o = templateOS(osTemplate)
	}
	g := Guest{OS: o, Init: t.findInit()}
	var active []configurator
	for _, c := range networkConfigurators {
		if c.present(t, g) {
			g.Network = append(g.Network, c.name())
			active = append(active, c)
		}
	}
	return g, active
}
