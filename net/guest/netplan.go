package guest

import (
	"fmt"
	"strings"
)

// netplan is Ubuntu's /etc/netplan/*.yaml (netplan's YAML reference,
// "netplan-yaml"): one file, /etc/netplan/60-govz.yaml, mode 0600 (netplan
// warns about group- or world-readable files). netplan has no
// "noprefixroute", so venet0 gets its addresses as host routes (see
// hostPrefix), and the IPv4 gateway is reached "on-link".
type netplan struct{}

// NetplanFile is govz's netplan file.
const NetplanFile = "/etc/netplan/60-govz.yaml"

func (netplan) name() string { return "netplan" }

func hasNetplan(t tree) bool {
	return t.anyExists("/usr/sbin/netplan", "/sbin/netplan", "/usr/share/netplan/netplan.script")
}

func (netplan) present(t tree, _ Guest) bool { return hasNetplan(t) && t.isDir("/etc/netplan") }

func (netplan) apply(t tree, c Config) error {
	// netplan renders networkd's units: ours from before netplan was
	// installed would shadow its (same names sort first in /etc).
	err := t.sync(NetworkdDir, "10-govz-", nil, 0)
	if len(c.Addrs) == 0 && len(c.NetIfs) == 0 {
		return joinLine([]error{err, t.removeOwned(NetplanFile)})
	}
	return joinLine([]error{err, t.writeOwned(NetplanFile, Netplan(c), 0o600)})
}

// Netplan returns govz's netplan file for c. Strings are quoted: YAML
// would read some IPv6 addresses otherwise.
func Netplan(c Config) string {
	var b strings.Builder
	b.WriteString(Marker + "\nnetwork:\n  version: 2\n  ethernets:\n")
	if len(c.Addrs) > 0 {
		fmt.Fprintf(&b, "    %s:\n      dhcp4: false\n      dhcp6: false\n      accept-ra: false\n      addresses:\n", c.Iface)
		for _, p := range c.Addrs {
			fmt.Fprintf(&b, "        - %q\n", hostPrefix(p).String())
		}
		fmt.Fprintf(&b, "      routes:\n        - to: default\n          via: %q\n          on-link: true\n", c.GatewayV4.String())
		if c.IPv6 {
			fmt.Fprintf(&b, "        - to: default\n          via: %q\n", c.GatewayV6.String())
		}
	}
	for _, n := range c.NetIfs {
		fmt.Fprintf(&b, "    %s:\n", n.Name)
		if n.DHCP() {
			b.WriteString("      dhcp4: true\n")
			continue
		}
		b.WriteString("      dhcp4: false\n      addresses:\n")
		for _, p := range n.Addrs {
			fmt.Fprintf(&b, "        - %q\n", p.String())
		}
	}
	return b.String()
}
