package guest

import (
	"fmt"
	"strings"
)

// ifupdown is Debian's (and pre-netplan Ubuntu's) /etc/network/interfaces,
// interfaces(5): govz keeps one block of it, between ifBegin and ifEnd,
// and leaves the guest's own stanzas alone.
type ifupdown struct{}

func (ifupdown) name() string { return "ifupdown" }

// present: ifupdown installed, or its file there; on a tree with only an
// /etc/network directory, when no other stack claims the guest. Alpine's
// file has its own dialect (alpine.go).
func (ifupdown) present(t tree, g Guest) bool {
	if isAlpine(t, g) {
		return false
	}
	if !t.isDir(InterfacesDir) {
		return false
	}
	if t.anyExists("/sbin/ifup", "/usr/sbin/ifup", Interfaces) {
		return true
	}
	return !t.anyExists("/usr/sbin/netplan", "/etc/netplan", "/usr/sbin/NetworkManager",
		"/etc/sysconfig/network-scripts", "/etc/sysconfig/network/ifcfg.template")
}

func (ifupdown) apply(t tree, c Config) error {
	dhcp := hasDHCPClient(t)
	return applyInterfaces(t, c, func(old string, c Config) string { return ifupdownFile(old, c, dhcp) })
}

// hasDHCPClient: ifupdown's "inet dhcp" runs the first client it finds
// (interfaces(5)); without one, ifup fails and with it the guest's
// networking service, so a bridged interface then only comes up.
func hasDHCPClient(t tree) bool {
	return t.anyExists("/sbin/dhclient", "/usr/sbin/dhclient", "/sbin/dhcpcd", "/usr/sbin/dhcpcd",
		"/sbin/udhcpc", "/usr/sbin/udhcpc", "/usr/sbin/dhcpcd5", "/usr/bin/dhcpcd")
}

func applyInterfaces(t tree, c Config, gen func(string, Config) string) error {
	old, err := t.read(Interfaces)
	if err != nil {
		return err
	}
	if upd := gen(old, c); upd != old {
		return t.r.WriteFile(Interfaces, []byte(upd), 0o644)
	}
	return nil
}

// The block of /etc/network/interfaces govz maintains.
const (
	ifBegin = "# BEGIN govz venet0: written by vzctl from ip_address; changes here are lost"
	ifEnd   = "# END govz venet0"
)

// IfupdownFile returns /etc/network/interfaces with govz's block for c in
// place of the previous one (or none when c has no interfaces). ifupdown
// runs the commands on `ifup`, at boot and on every restart of its
// networking service; "replace" makes them idempotent, so an ifup of an
// interface the host already configured succeeds. A loopback stanza is
// added when the file has none, as vzctl's debian-add_ip did.
func IfupdownFile(old string, c Config) string { return ifupdownFile(old, c, true) }

func ifupdownFile(old string, c Config, dhcp bool) string {
	return interfacesFile(old, c, func(c Config) []string { return ifupdownStanzas(c, dhcp) })
}

func ifupdownStanzas(c Config, dhcp bool) []string {
	var block []string
	if len(c.Addrs) > 0 {
		dev := c.Iface
		block = append(block, "auto "+dev, "iface "+dev+" inet manual", "\tup ip link set dev "+dev+" up")
		for _, p := range c.Addrs {
			if p.Addr().Is4() {
				block = append(block, fmt.Sprintf("\tup ip addr replace %s dev %s noprefixroute", p, dev))
			} else {
				block = append(block, fmt.Sprintf("\tup ip -6 addr replace %s dev %s noprefixroute nodad", p, dev))
			}
		}
		block = append(block, fmt.Sprintf("\tup ip route replace default via %s dev %s onlink", c.GatewayV4, dev))
		if c.IPv6 {
			block = append(block, fmt.Sprintf("\tup ip -6 route replace default via %s dev %s", c.GatewayV6, dev))
		}
		block = append(block, "\tdown ip addr flush dev "+dev+" scope global")
	}
	for _, n := range c.NetIfs {
		if n.DHCP() && dhcp {
			block = append(block, "auto "+n.Name, "iface "+n.Name+" inet dhcp")
			continue
		}
		block = append(block, "auto "+n.Name, "iface "+n.Name+" inet manual", "\tup ip link set dev "+n.Name+" up")
		for _, p := range n.Addrs {
			block = append(block, fmt.Sprintf("\tup ip addr replace %s dev %s", p, n.Name))
		}
		block = append(block, "\tdown ip addr flush dev "+n.Name+" scope global")
	}
	return block
}

// interfacesFile puts the block stanzas(c) makes into old, in place of
// the previous one.
func interfacesFile(old string, c Config, stanzas func(Config) []string) string {
	var lines []string
	in, found := false, false
	hasLo := false
	for _, l := range splitLines(old) {
		switch {
		case l == ifBegin:
			in, found = true, true
			continue
		case l == ifEnd && in:
			in = false
			continue
		case in:
			continue
		}
		if f := strings.Fields(l); len(f) >= 2 && (f[0] == "iface" || f[0] == "auto") && f[1] == "lo" {
			hasLo = true
		}
		lines = append(lines, l)
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	block := stanzas(c)
	if len(block) == 0 {
		if !found {
			return old
		}
		if len(lines) == 0 {
			return ""
		}
		return strings.Join(lines, "\n") + "\n"
	}
	if !hasLo {
		lines = append(lines, "", "auto lo", "iface lo inet loopback")
	}
	block = append(append([]string{"", ifBegin}, block...), ifEnd)
	return strings.Join(append(lines, block...), "\n") + "\n"
}
