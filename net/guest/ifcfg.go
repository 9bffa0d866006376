package guest

import (
	"fmt"
	"strings"
)

// ifcfgRH is the RHEL family's network-scripts: ifcfg-IF, route-IF and
// route6-IF in /etc/sysconfig/network-scripts, read by initscripts' ifup
// (CentOS 7 and older; sysconfig.txt in initscripts) and by
// NetworkManager's ifcfg-rh plugin (RHEL 8, nm-settings-ifcfg-rh(5)).
// Addresses are host routes (neither reader has "noprefixroute"); the
// route files are in "ip route" form, which both read.
type ifcfgRH struct{}

// IfcfgDir holds the RHEL family's ifcfg files.
const IfcfgDir = "/etc/sysconfig/network-scripts"

func (ifcfgRH) name() string { return "ifcfg-rh" }

func (ifcfgRH) present(t tree, g Guest) bool {
	if !t.isDir(IfcfgDir) {
		return false
	}
	// NetworkManager without the ifcfg-rh plugin reads only keyfiles.
	return !hasNetworkManager(t) || usesIfcfgRH(t, g)
}

func (ifcfgRH) apply(t tree, c Config) error {
	files := map[string]string{}
	if len(c.Addrs) > 0 {
		files["ifcfg-"+c.Iface] = IfcfgRH(c)
		files["route-"+c.Iface] = fmt.Sprintf("%s\n%s/32 dev %s\ndefault via %s dev %s\n",
			Marker, c.GatewayV4, c.Iface, c.GatewayV4, c.Iface)
		if c.IPv6 {
			files["route6-"+c.Iface] = fmt.Sprintf("%s\ndefault via %s dev %s\n", Marker, c.GatewayV6, c.Iface)
		}
	}
	for _, n := range c.NetIfs {
		files["ifcfg-"+n.Name] = IfcfgRHNetIf(n)
	}
	var errs []error
	for _, prefix := range []string{"ifcfg-", "route-", "route6-"} {
		sub := map[string]string{}
		for k, v := range files {
			if strings.HasPrefix(k, prefix) {
				sub[k] = v
			}
		}
		errs = append(errs, t.sync(IfcfgDir, prefix, sub, 0o644))
	}
	return joinLine(errs)
}

// IfcfgRH returns venet0's ifcfg file.
func IfcfgRH(c Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nDEVICE=%s\nNAME=%s\nTYPE=Ethernet\nONBOOT=yes\nBOOTPROTO=none\nDEFROUTE=yes\n", Marker, c.Iface, c.Iface)
	n4 := 0
	var v6 []string
	for _, p := range c.Addrs {
		if p.Addr().Is4() {
			fmt.Fprintf(&b, "IPADDR%d=%s\nPREFIX%d=32\n", n4, p.Addr(), n4)
			n4++
		} else {
			v6 = append(v6, hostPrefix(p).String())
		}
	}
	if len(v6) > 0 && c.IPv6 {
		fmt.Fprintf(&b, "IPV6INIT=yes\nIPV6_AUTOCONF=no\nIPV6_DEFROUTE=yes\nIPV6ADDR=%s\n", v6[0])
		if len(v6) > 1 {
			fmt.Fprintf(&b, "IPV6ADDR_SECONDARIES=%q\n", strings.Join(v6[1:], " "))
		}
	} else {
		b.WriteString("IPV6INIT=no\n")
	}
	// initscripts and NetworkManager write resolv.conf from these.
	for i, s := range c.Nameservers {
		fmt.Fprintf(&b, "DNS%d=%s\n", i+1, s)
	}
	if len(c.Search) > 0 {
		fmt.Fprintf(&b, "DOMAIN=%q\n", strings.Join(c.Search, " "))
	}
	return b.String()
}

// IfcfgRHNetIf returns a bridged interface's ifcfg file.
func IfcfgRHNetIf(n NetIf) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nDEVICE=%s\nNAME=%s\nTYPE=Ethernet\nONBOOT=yes\n", Marker, n.Name, n.Name)
	if n.MAC != nil {
		fmt.Fprintf(&b, "HWADDR=%s\n", n.MAC)
	}
	if n.DHCP() {
		b.WriteString("BOOTPROTO=dhcp\nIPV6INIT=yes\nIPV6_AUTOCONF=yes\n")
		return b.String()
	}
	b.WriteString("BOOTPROTO=none\n")
	n4 := 0
	var v6 []string
	for _, p := range n.Addrs {
		if p.Addr().Is4() {
			fmt.Fprintf(&b, "IPADDR%d=%s\nPREFIX%d=%d\n", n4, p.Addr(), n4, p.Bits())
			n4++
		} else {
			v6 = append(v6, p.String())
		}
	}
	if len(v6) > 0 {
		fmt.Fprintf(&b, "IPV6INIT=yes\nIPV6_AUTOCONF=no\nIPV6ADDR=%s\n", v6[0])
		if len(v6) > 1 {
			fmt.Fprintf(&b, "IPV6ADDR_SECONDARIES=%q\n", strings.Join(v6[1:], " "))
		}
	} else {
		b.WriteString("IPV6INIT=yes\nIPV6_AUTOCONF=yes\n")
	}
	return b.String()
}
