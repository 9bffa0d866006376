package guest

import (
	"crypto/sha1"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// nmKeyfile is NetworkManager's keyfile format, nm-settings-keyfile(5)
// (RHEL 9 and later, Fedora, Debian and Ubuntu desktops with
// NetworkManager): one connection profile per interface,
// /etc/NetworkManager/system-connections/govz-IF.nmconnection, mode 0600
// (NetworkManager ignores a keyfile others can read). RHEL 8 and older
// read ifcfg files through the ifcfg-rh plugin instead (ifcfg.go).
type nmKeyfile struct{}

// NMConnectionsDir holds NetworkManager's keyfiles.
const NMConnectionsDir = "/etc/NetworkManager/system-connections"

func (nmKeyfile) name() string { return "networkmanager-keyfile" }

func hasNetworkManager(t tree) bool {
	return t.anyExists("/usr/sbin/NetworkManager", "/sbin/NetworkManager")
}

// usesIfcfgRH: the RHEL family before 9 keeps NetworkManager's profiles
// as ifcfg files (ifcfg-rh is its first plugin there), as does any
// NetworkManager.conf that asks for the plugin.
func usesIfcfgRH(t tree, g Guest) bool {
	if (g.OS.Is("rhel") || g.OS.Is("fedora") && g.OS.ID != "fedora") && g.OS.Major() > 0 && g.OS.Major() < 9 {
		return true
	}
	conf, _ := t.read("/etc/NetworkManager/NetworkManager.conf")
	for _, l := range splitLines(conf) {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "plugins") && strings.Contains(l, "ifcfg-rh") {
			return true
		}
	}
	return false
}

func (nmKeyfile) present(t tree, g Guest) bool {
	return hasNetworkManager(t) && t.isDir("/etc/NetworkManager") && !usesIfcfgRH(t, g)
}

func (nmKeyfile) apply(t tree, c Config) error {
	if err := t.mkdir(NMConnectionsDir, 0o700); err != nil {
		return err
	}
	files := map[string]string{}
	if len(c.Addrs) > 0 {
		files["govz-"+c.Iface+".nmconnection"] = NMKeyfile(c)
	}
	for _, n := range c.NetIfs {
		files["govz-"+n.Name+".nmconnection"] = NMKeyfileNetIf(n)
	}
	return t.sync(NMConnectionsDir, "govz-", files, 0o600)
}

// nmUUID is a profile's stable UUID (a name-based, version 5 style UUID
// of the interface name): the same profile keeps its identity across
// rewrites.
func nmUUID(iface string) string {
	h := sha1.Sum([]byte("govz:" + iface))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func nmHeader(b *strings.Builder, iface string) {
	fmt.Fprintf(b, "%s\n[connection]\nid=govz-%s\nuuid=%s\ntype=ethernet\ninterface-name=%s\nautoconnect=true\n\n[ethernet]\n",
		Marker, iface, nmUUID(iface), iface)
}

// NMKeyfile returns venet0's profile: host-route addresses (NetworkManager
// has no "noprefixroute"), a device route to each gateway and the default
// routes through them, no DHCP, no router advertisements.
func NMKeyfile(c Config) string {
	var b strings.Builder
	nmHeader(&b, c.Iface)
	var v4, v6 []netip.Prefix
	for _, p := range c.Addrs {
		if p.Addr().Is4() {
			v4 = append(v4, hostPrefix(p))
		} else {
			v6 = append(v6, hostPrefix(p))
		}
	}
	b.WriteString("\n[ipv4]\n")
	if len(v4) == 0 {
		b.WriteString("method=disabled\n")
	} else {
		b.WriteString("method=manual\n")
		for i, p := range v4 {
			fmt.Fprintf(&b, "address%d=%s\n", i+1, p)
		}
		fmt.Fprintf(&b, "route1=%s/32\nroute2=0.0.0.0/0,%s\n", c.GatewayV4, c.GatewayV4)
		nmDNS(&b, c, false)
	}
	b.WriteString("\n[ipv6]\n")
	if len(v6) == 0 || !c.IPv6 {
		b.WriteString("method=disabled\n")
	} else {
		b.WriteString("method=manual\naddr-gen-mode=eui64\n")
		for i, p := range v6 {
			fmt.Fprintf(&b, "address%d=%s\n", i+1, p)
		}
		fmt.Fprintf(&b, "route1=::/0,%s\n", c.GatewayV6)
		nmDNS(&b, c, true)
	}
	return b.String()
}

// NMKeyfileNetIf returns a bridged interface's profile: DHCP (and
// router advertisements), or its static addresses.
func NMKeyfileNetIf(n NetIf) string {
	var b strings.Builder
	nmHeader(&b, n.Name)
	if n.MAC != nil {
		fmt.Fprintf(&b, "mac-address=%s\n", strings.ToUpper(n.MAC.String()))
	}
	if n.DHCP() {
		b.WriteString("\n[ipv4]\nmethod=auto\n\n[ipv6]\nmethod=auto\naddr-gen-mode=eui64\n")
		return b.String()
	}
	var v4, v6 []string
	for _, p := range n.Addrs {
		if p.Addr().Is4() {
			v4 = append(v4, p.String())
		} else {
			v6 = append(v6, p.String())
		}
	}
	b.WriteString("\n[ipv4]\n")
	if len(v4) == 0 {
		b.WriteString("method=disabled\n")
	} else {
		b.WriteString("method=manual\n")
		for i, a := range v4 {
			fmt.Fprintf(&b, "address%d=%s\n", i+1, a)
		}
	}
	b.WriteString("\n[ipv6]\n")
	if len(v6) == 0 {
		b.WriteString("method=auto\naddr-gen-mode=eui64\n")
	} else {
		b.WriteString("method=manual\naddr-gen-mode=eui64\n")
		for i, a := range v6 {
			fmt.Fprintf(&b, "address%d=%s\n", i+1, a)
		}
	}
	return b.String()
}

// nmDNS adds the container's name servers of one family and its search
// domains (with IPv4, or IPv6 when there is no IPv4 section) to a
// section: NetworkManager writes resolv.conf from its active profiles, so
// servers only in resolv.conf would be lost at its next start.
func nmDNS(b *strings.Builder, c Config, v6 bool) {
	var servers []string
	for _, s := range c.Nameservers {
		if a, err := netip.ParseAddr(s); err == nil && a.Is6() == v6 {
			servers = append(servers, s)
		}
	}
	if len(servers) > 0 {
		fmt.Fprintf(b, "dns=%s;\n", strings.Join(servers, ";"))
	}
	hasV4 := slices.ContainsFunc(c.Addrs, func(p netip.Prefix) bool { return p.Addr().Is4() })
	if len(c.Search) > 0 && v6 != hasV4 {
		fmt.Fprintf(b, "dns-search=%s;\n", strings.Join(c.Search, ";"))
	}
}
