// Package guest writes a container's own network configuration from the
// host, as vzctl's per-distribution scripts did (vzctl.md §5.2): the host
// name (/etc/hostname, a line in /etc/hosts), DNS (resolv.conf, or
// systemd-resolved's or resolvconf's own configuration), the routed venet0
// interface and the bridged interfaces, in the form the guest's own
// network stack reads, so that restarting it inside the container keeps
// the interfaces configured.
//
// Each format is one configurator, in a file of its own: ifupdown
// (Debian, Ubuntu before netplan), Alpine's /etc/network/interfaces
// (busybox ifupdown, ifupdown-ng), systemd-networkd (Arch, Debian),
// netplan (Ubuntu), NetworkManager keyfiles (RHEL 9 family, Fedora),
// ifcfg network-scripts (RHEL 8 and older), and SUSE's ifcfg for wicked.
// Which ones apply is decided from the guest's tree (os-release, what is
// installed), falling back on the OSTEMPLATE name; see Detect. The
// lifecycle code only calls Apply. docs/GUESTS.md lists the sources of
// every format.
//
// Files govz owns start with Marker (the ifupdown block is delimited
// instead) and are rewritten or removed as the config changes; a file at
// the same path without it is the guest's and is left alone. Every file
// is reached through internal/inroot, which keeps paths inside the
// container's root and refuses a FIFO, socket or device where a file
// belongs. The generators are pure functions of the wanted configuration
// (and the old file, for files shared with the guest); only the
// configurators' apply methods touch files.
package guest

import (
	"net"
	"net/netip"

	"govz/internal/inroot"
)

// Config is what the guest should say about its network.
type Config struct {
	Hostname    string         // "" = leave the host name alone
	Addrs       []netip.Prefix // routed addresses on venet0; none = no venet0
	IPv6        bool           // the IPv6 gateway exists
	Nameservers []string       // "" = leave resolv.conf's nameserver lines
	Search      []string       // nil = leave the search line
	GatewayV4   netip.Addr
	GatewayV6   netip.Addr
	Iface       string  // "venet0"
	NetIfs      []NetIf // bridged interfaces
	// OSTemplate is the container's OSTEMPLATE: which guest it is when
	// its tree has no os-release.
	OSTemplate string
}

// NetIf is one bridged interface as the guest configures it: the static
// addresses of its NETIF entry, or DHCP when it lists none.
type NetIf struct {
	Name  string
	MAC   net.HardwareAddr // nil = match by name only
	Addrs []netip.Prefix
}

// DHCP reports whether the guest asks a DHCP server for n's address.
func (n NetIf) DHCP() bool { return len(n.Addrs) == 0 }

// Files the generators own or share.
const (
	HostnameFile  = "/etc/hostname"
	HostsFile     = "/etc/hosts"
	ResolvFile    = "/etc/resolv.conf"
	InterfacesDir = "/etc/network"
	Interfaces    = "/etc/network/interfaces"
	NetworkdDir   = "/etc/systemd/network"
	NetworkdFile  = "/etc/systemd/network/10-govz-venet0.network"
)

// configurator is one network configuration format.
type configurator interface {
	name() string
	// present reports whether the guest reads this format.
	present(t tree, g Guest) bool
	// apply writes, updates or removes the format's files for c.
	apply(t tree, c Config) error
}

// networkConfigurators are tried in this order; every present one is
// applied (a guest may have several stacks installed, as Debian has
// ifupdown and an idle networkd).
var networkConfigurators = []configurator{
	ifupdown{}, alpineInterfaces{}, networkd{}, netplan{}, nmKeyfile{}, ifcfgRH{}, wickedIfcfg{},
}

func openTree(root string) (tree, func(), error) {
	// Nothing is mounted inside a container's tree in the host's mount
	// namespace (the container's own mounts live in its namespace).
	r, err := inroot.Open(root, inroot.SameMount)
	if err != nil {
		return tree{}, nil, err
	}
	return tree{r: r}, func() { r.Close() }, nil
}

// Apply brings the guest's files under root (the container's root on the
// host) in line with c. It writes only what c sets and only the formats
// the guest reads.
func Apply(root string, c Config) error {
	t, closeTree, err := openTree(root)
	if err != nil {
		return err
	}
	defer closeTree()
	_, active := t.detect(c.OSTemplate)
	var errs []error
	if c.Hostname != "" {
		errs = append(errs, applyHostname(t, c))
	}
	if len(c.Nameservers) > 0 || c.Search != nil {
		errs = append(errs, applyDNS(t, c))
	}
	for _, cf := range active {
		errs = append(errs, cf.apply(t, c))
	}
	return joinLine(errs)
}

// hostPrefix is p as a host route (/32, /128). Formats without a
// "noprefixroute" (netplan, NetworkManager, ifcfg, wicked, busybox ip)
// get venet0's addresses so: a subnet prefix would make the guest look
// for its LAN neighbours on venet0, where only the host answers.
func hostPrefix(p netip.Prefix) netip.Prefix {
	return netip.PrefixFrom(p.Addr(), p.Addr().BitLen())
}
