package guest

import (
	"fmt"
	"strings"
)

// netplan is Ubuntu's /etc/netplan/*.yaml (netplan's YAML reference,
// "netplan-yaml"): one file, /etc/netplan/60-govz.yaml, mode 0600 (netplan
// warns about group- or world-readable files), for the bridged
// interfaces. venet0 keeps a networkd unit of its own (networkd.go says
// why).
type netplan struct{}

// NetplanFile is govz's netplan file.
const NetplanFile = "/etc/netplan/60-govz.yaml"

func (netplan) name() string { return "netplan" }

func hasNetplan(t tree) bool {
	return t.anyExists("/usr/sbin/netplan", "/sbin/netplan", "/usr/share/netplan/netplan.script")
}

func (netplan) present(t tree, _ Guest) bool { return hasNetplan(t) && t.isDir("/etc/netplan") }

func (netplan) apply(t tree, c Config) error {
	if len(c.NetIfs) == 0 {
		return t.removeOwned(NetplanFile)
	}
	return t.writeOwned(NetplanFile, Netplan(c), 0o600)
}

// Netplan returns govz's netplan file for c's bridged interfaces. Strings
// are quoted: YAML would read some IPv6 addresses otherwise.
func Netplan(c Config) string {
	var b strings.Builder
	b.WriteString(Marker + "\nnetwork:\n  version: 2\n  ethernets:\n")
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
