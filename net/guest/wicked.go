package guest

import (
	"fmt"
	"net/netip"
	"strings"
)

// wickedIfcfg is SUSE's /etc/sysconfig/network: ifcfg-IF (ifcfg(5),
// wicked's compat layer reads it) and ifroute-IF (routes(5): DESTINATION
// GATEWAY NETMASK INTERFACE, "-" for none). Addresses are host routes;
// the IPv4 gateway gets a device route of its own.
type wickedIfcfg struct{}

// SUSEIfcfgDir holds SUSE's ifcfg files.
const SUSEIfcfgDir = "/etc/sysconfig/network"

func (wickedIfcfg) name() string { return "wicked-ifcfg" }

func (wickedIfcfg) present(t tree, g Guest) bool {
	if !t.isDir(SUSEIfcfgDir) || hasNetworkManager(t) && !t.anyExists("/usr/sbin/wicked", "/sbin/wicked") {
		return false
	}
	return g.OS.Is("suse") || g.OS.Is("opensuse") || t.anyExists("/usr/sbin/wicked", "/sbin/wicked")
}

func (wickedIfcfg) apply(t tree, c Config) error {
	ifcfg, routes := map[string]string{}, map[string]string{}
	if len(c.Addrs) > 0 {
		ifcfg["ifcfg-"+c.Iface] = WickedIfcfg(nil, c.Addrs, true)
		r := fmt.Sprintf("%s\n%s - - %s\ndefault %s - %s\n", Marker, c.GatewayV4, c.Iface, c.GatewayV4, c.Iface)
		if c.IPv6 {
			r += fmt.Sprintf("default %s - %s\n", c.GatewayV6, c.Iface)
		}
		routes["ifroute-"+c.Iface] = r
	}
	for _, n := range c.NetIfs {
		ifcfg["ifcfg-"+n.Name] = WickedIfcfg(&n, n.Addrs, false)
	}
	return joinLine([]error{t.sync(SUSEIfcfgDir, "ifcfg-", ifcfg, 0o644), t.sync(SUSEIfcfgDir, "ifroute-", routes, 0o644)})
}

// WickedIfcfg returns an ifcfg file: static addresses (venet0's as host
// routes), or DHCP for a bridged interface without any.
func WickedIfcfg(n *NetIf, addrs []netip.Prefix, routed bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nSTARTMODE='auto'\n", Marker)
	if n != nil && n.MAC != nil {
		fmt.Fprintf(&b, "LLADDR='%s'\n", n.MAC)
	}
	if len(addrs) == 0 {
		b.WriteString("BOOTPROTO='dhcp'\n")
		return b.String()
	}
	b.WriteString("BOOTPROTO='static'\n")
	for i, p := range addrs {
		if routed {
			p = hostPrefix(p)
		}
		fmt.Fprintf(&b, "IPADDR_%d='%s'\n", i, p)
	}
	return b.String()
}
