package guest

import "fmt"

// alpineInterfaces is Alpine's /etc/network/interfaces, read by
// ifupdown-ng (the default since Alpine 3.13, ifupdown-ng-interfaces(5))
// or busybox's ifupdown. Both run "up" commands with /bin/sh and accept
// "inet manual"; busybox's ip knows neither "noprefixroute" nor "addr
// replace", so addresses are host routes added if missing, and the
// gateway gets a device route of its own instead of "onlink".
type alpineInterfaces struct{}

func (alpineInterfaces) name() string { return "alpine-interfaces" }

func isAlpine(t tree, g Guest) bool {
	return g.OS.Is("alpine") || t.exists("/etc/alpine-release")
}

func (alpineInterfaces) present(t tree, g Guest) bool {
	return isAlpine(t, g) && t.isDir(InterfacesDir)
}

func (alpineInterfaces) apply(t tree, c Config) error {
	return applyInterfaces(t, c, AlpineInterfacesFile)
}

// AlpineInterfacesFile returns Alpine's /etc/network/interfaces with
// govz's block for c.
func AlpineInterfacesFile(old string, c Config) string {
	return interfacesFile(old, c, alpineStanzas)
}

func alpineStanzas(c Config) []string {
	var block []string
	if len(c.Addrs) > 0 {
		dev := c.Iface
		block = append(block, "auto "+dev, "iface "+dev+" inet manual", "\tup ip link set dev "+dev+" up")
		for _, p := range c.Addrs {
			fam := "-4"
			if p.Addr().Is6() {
				fam = "-6"
			}
			h := hostPrefix(p)
			block = append(block, fmt.Sprintf("\tup ip %s addr show dev %s | grep -q ' %s ' || ip %s addr add %s dev %s", fam, dev, h, fam, h, dev))
		}
		block = append(block, fmt.Sprintf("\tup ip route replace %s dev %s", c.GatewayV4, dev),
			fmt.Sprintf("\tup ip route replace default via %s dev %s", c.GatewayV4, dev))
		if c.IPv6 {
			block = append(block, fmt.Sprintf("\tup ip -6 route replace default via %s dev %s", c.GatewayV6, dev))
		}
		block = append(block, "\tdown ip addr flush dev "+dev)
	}
	for _, n := range c.NetIfs {
		if n.DHCP() {
			block = append(block, "auto "+n.Name, "iface "+n.Name+" inet dhcp")
			continue
		}
		block = append(block, "auto "+n.Name, "iface "+n.Name+" inet manual", "\tup ip link set dev "+n.Name+" up")
		for _, p := range n.Addrs {
			block = append(block, fmt.Sprintf("\tup ip addr add %s dev %s || true", p, n.Name))
		}
		block = append(block, "\tdown ip addr flush dev "+n.Name)
	}
	return block
}
