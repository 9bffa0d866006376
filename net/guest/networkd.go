package guest

import (
	"fmt"
	"strings"
)

// networkd is systemd-networkd's .network units, systemd.network(5)
// (Arch, Debian with networkd): one file per interface,
// /etc/systemd/network/10-govz-IF.network. On a guest with netplan, which
// renders networkd's units itself, the bridged interfaces go into
// netplan's file, but venet0 keeps its unit here: netplan's schema has no
// AddPrefixRoute=, Broadcast= or DuplicateAddressDetection=, and without
// them networkd fights the addresses the host gave venet0 (a /32 next to
// the host's /24 fails with ERANGE, DAD against the host's proxy times
// out). netplan leaves /etc/systemd/network alone and `netplan apply`
// restarts networkd, which reads both.
type networkd struct{}

func (networkd) name() string { return "networkd" }

func (networkd) present(t tree, _ Guest) bool { return t.isDir(NetworkdDir) }

func (networkd) apply(t tree, c Config) error {
	files := map[string]string{}
	if len(c.Addrs) > 0 {
		files["10-govz-"+c.Iface+".network"] = Networkd(c)
	}
	if hasNetplan(t) && t.isDir("/etc/netplan") {
		return t.sync(NetworkdDir, "10-govz-", files, 0o644)
	}
	for _, n := range c.NetIfs {
		files["10-govz-"+n.Name+".network"] = NetworkdNetIf(n)
	}
	return t.sync(NetworkdDir, "10-govz-", files, 0o644)
}

// Networkd returns the systemd-networkd unit for venet0: the same
// addresses without subnet routes, broadcast or duplicate address
// detection, the gateways, and no DHCP or router advertisements.
func Networkd(c Config) string {
	var b strings.Builder
	b.WriteString(Marker + "\n")
	fmt.Fprintf(&b, "[Match]\nName=%s\n\n[Network]\nDHCP=no\nIPv6AcceptRA=no\n", c.Iface)
	for _, p := range c.Addrs {
		fmt.Fprintf(&b, "\n[Address]\nAddress=%s\nAddPrefixRoute=no\n", p)
		if p.Addr().Is6() {
			b.WriteString("DuplicateAddressDetection=none\n")
		} else {
			// The kernel keeps an address's broadcast on a replace:
			// networkd wanting one the address lacks rewrites it forever.
			b.WriteString("Broadcast=no\n")
		}
	}
	fmt.Fprintf(&b, "\n[Route]\nGateway=%s\nGatewayOnLink=yes\n", c.GatewayV4)
	if c.IPv6 {
		fmt.Fprintf(&b, "\n[Route]\nGateway=%s\n", c.GatewayV6)
	}
	return b.String()
}

// NetworkdNetIf returns the unit of a bridged interface: DHCP, or its
// static addresses (router advertisements as the kernel's default).
func NetworkdNetIf(n NetIf) string {
	var b strings.Builder
	b.WriteString(Marker + "\n")
	fmt.Fprintf(&b, "[Match]\nName=%s\n", n.Name)
	if n.MAC != nil {
		fmt.Fprintf(&b, "MACAddress=%s\n", n.MAC)
	}
	b.WriteString("\n[Network]\n")
	if n.DHCP() {
		b.WriteString("DHCP=yes\n")
		return b.String()
	}
	b.WriteString("DHCP=no\n")
	for _, p := range n.Addrs {
		fmt.Fprintf(&b, "Address=%s\n", p)
	}
	return b.String()
}
