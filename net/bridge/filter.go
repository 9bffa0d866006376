package bridge

import (
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"strings"
)

// Anti-spoofing on bridge ports. A bridged container is a host of the
// bridge's LAN, so whatever it sends reaches its neighbours without the
// node's routing (and its rp_filter) in between: only filtering the
// frames as they enter the bridge from the container's port stops it
// from sending from a neighbour's address, poisoning their ARP and
// neighbour caches, or handing them a default route. The rules are
// nftables' bridge family (the hook sees every frame a port receives,
// before the bridge forwards or delivers it): one table for the node, a
// verdict map from input port to that port's chain, one chain per port.
//
// What a port gets (NetIf.MACFilter, NetIf.IPFilter, NetIf.IPs):
//
//   - mac_filter: Ethernet source, ARP sender MAC and the link-layer
//     address options of neighbour solicitations/advertisements must be
//     the container's MAC (the locked bridge port already drops foreign
//     Ethernet sources; ARP and NDP carry the MAC again in the payload,
//     which is what neighbours learn).
//   - ip_filter, always: no router advertisements or redirects (ICMPv6
//     134, 137; ICMP 5), no DHCP or DHCPv6 server/relay traffic (UDP
//     source port 67, 547), and only IPv4, ARP and IPv6 frames (a VLAN
//     tag or another ethertype would carry any of these past the rules).
//   - ip_filter, for a family the entry has static addresses of (ip=):
//     IPv4 sources and ARP sender addresses are those addresses, or
//     0.0.0.0 in ARP probes (RFC 5227) and DHCP requests (a guest may
//     take its address from a DHCP server that reserves it); IPv6
//     sources are those addresses, the link-local address the kernel
//     derives from the container's MAC (EUI-64) and :: for duplicate
//     address detection and MLD only; the target of a neighbour
//     advertisement, the address it claims, is one of those too.
//   - ip_filter, for a family without static addresses (the guest uses
//     DHCP, SLAAC or sets addresses itself): sources are not filtered,
//     since the node does not know the lease. The MAC checks and the
//     router/DHCP-server drops still hold, so the container can neither
//     impersonate another MAC in ARP/NDP nor act as router or DHCP
//     server; it can claim a free or foreign IP address with its own
//     MAC. Give the entry its addresses (--ifname IF --ipadd) to close
//     that.

// FilterTable is the node's nftables table of bridge port filters.
const FilterTable = "govz"

// filterMap maps an input port's name to a jump to its chain.
const filterMap = "ports"

// Netfilter applies nftables scripts in the caller's namespace.
type Netfilter interface {
	// Apply runs script (nft syntax) as one transaction: all of it or
	// nothing.
	Apply(script string) error
	// MapKeys lists the keys of map name of table (family "bridge");
	// exists is false when the table does not exist.
	MapKeys(family, table, name string) (keys []string, exists bool, err error)
	// Lock serializes the changes of the node's vzctl processes, so that
	// the table is removed with its last port and never under a port
	// being added; unlock releases it.
	Lock() (unlock func(), err error)
}

// FilterChain is the name of host port hostName's chain: nft identifiers
// allow fewer characters than interface names, so others become "_" and a
// hash keeps the names apart.
func FilterChain(hostName string) string {
	var b strings.Builder
	clean := true
	for _, c := range hostName {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
			clean = false
		}
	}
	name := "port_" + b.String()
	if !clean {
		h := fnv.New32a()
		h.Write([]byte(hostName))
		name += fmt.Sprintf("_%08x", h.Sum32())
	}
	return name
}

// Filtered reports whether n's host port gets a chain: only bridge ports
// pass the bridge family's hook, and only with a filter on.
func (n NetIf) Filtered() bool {
	return n.Bridge != "" && (n.MACFilter || n.IPFilter)
}

// LinkLocal is the IPv6 link-local address the kernel gives an interface
// with MAC mac (addr_gen_mode eui64, the default): fe80::/64 with the
// modified EUI-64 interface identifier (RFC 4291 appendix A).
func LinkLocal(mac net.HardwareAddr) netip.Addr {
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	a[8], a[9], a[10] = mac[0]^0x02, mac[1], mac[2]
	a[11], a[12] = 0xff, 0xfe
	a[13], a[14], a[15] = mac[3], mac[4], mac[5]
	return netip.AddrFrom16(a)
}

// FilterRules are the rules of n's port chain, in order (the first
// matching drop ends the frame; what passes them all is accepted). n must
// be Complete.
func FilterRules(n NetIf) []string {
	mac := n.MAC.String()
	macHex := "0x" + hex.EncodeToString(n.MAC)
	var r []string
	if n.MACFilter {
		r = append(r,
			"ether saddr != "+mac+" drop",
			"arp saddr ether != "+mac+" drop",
			// The source (1) and target (2) link-layer address options,
			// when first after the fixed 24 bytes of a solicitation or
			// advertisement (where every stack puts them): type, length
			// 1 (8 bytes), then the MAC.
			"icmpv6 type nd-neighbor-solicit @nh,512,16 0x0101 @nh,528,48 != "+macHex+" drop",
			"icmpv6 type nd-neighbor-advert @nh,512,16 0x0201 @nh,528,48 != "+macHex+" drop")
	}
	if !n.IPFilter {
		return r
	}
	r = append(r,
		"ether type != { ip, arp, ip6 } drop",
		"icmp type redirect drop",
		"icmpv6 type { nd-router-advert, nd-redirect } drop",
		"udp sport { 67, 547 } drop")
	var v4, v6 []string
	for _, p := range n.IPs {
		if p.Addr().Is4() {
			v4 = append(v4, p.Addr().String())
		} else {
			v6 = append(v6, p.Addr().String())
		}
	}
	if len(v4) > 0 {
		set := "{ " + strings.Join(append([]string{"0.0.0.0"}, v4...), ", ") + " }"
		r = append(r,
			"arp saddr ip != "+set+" drop",
			"ether type ip ip saddr != "+set+" drop",
			// 0.0.0.0 is a DHCP client's before it has its lease (RFC
			// 2131 4.1), a guest whose server hands it its reserved
			// address: only a broadcast to a server's port.
			"ip saddr 0.0.0.0 ip daddr != 255.255.255.255 drop",
			"ip saddr 0.0.0.0 meta l4proto != udp drop",
			"ip saddr 0.0.0.0 udp dport != 67 drop")
	}
	if len(v6) > 0 {
		own := append([]string{LinkLocal(n.MAC).String()}, v6...)
		var targets []string
		for _, s := range own {
			a := netip.MustParseAddr(s).As16()
			targets = append(targets, "0x"+hex.EncodeToString(a[:]))
		}
		r = append(r,
			"ether type ip6 ip6 saddr != { ::, "+strings.Join(own, ", ")+" } drop",
			// The unspecified source is for duplicate address detection
			// (RFC 4862 5.4.2) and its MLD reports (RFC 3590) only.
			"ip6 saddr :: meta l4proto != ipv6-icmp drop",
			"ip6 saddr :: icmpv6 type != { nd-neighbor-solicit, mld2-listener-report, mld-listener-report } drop",
			// The target of an advertisement is the address it claims.
			"icmpv6 type nd-neighbor-advert @nh,384,128 != { "+strings.Join(targets, ", ")+" } drop")
	}
	return r
}

// filterBase declares the table, its map and the hook chain: "add" is no
// error for what exists, so every script starts with it.
func filterBase() string {
	t := "bridge " + FilterTable
	return "add table " + t + "\n" +
		"add map " + t + " " + filterMap + " { type ifname : verdict; }\n" +
		// priority filter (-200), where ebtables' filter table sat.
		"add chain " + t + " prerouting { type filter hook prerouting priority filter; policy accept; }\n"
}

// FilterAddScript installs or replaces n's port chain in one transaction.
func FilterAddScript(n NetIf) string {
	t := "bridge " + FilterTable
	chain := FilterChain(n.HostName)
	var b strings.Builder
	b.WriteString(filterBase())
	// The dispatch rule is rewritten each time, so there is exactly one.
	b.WriteString("flush chain " + t + " prerouting\n")
	b.WriteString("add rule " + t + " prerouting iifname vmap @" + filterMap + "\n")
	b.WriteString("add chain " + t + " " + chain + "\n")
	b.WriteString("flush chain " + t + " " + chain + "\n")
	for _, rule := range FilterRules(n) {
		b.WriteString("add rule " + t + " " + chain + " " + rule + "\n")
	}
	b.WriteString("add element " + t + " " + filterMap + " { " + quote(n.HostName) + " : jump " + chain + " }\n")
	return b.String()
}

// FilterDelScript removes port hostName's chain and map entry whether or
// not they exist: each is added first ("add" of what exists is no error)
// so that the deletes always find it.
func FilterDelScript(hostName string) string {
	t := "bridge " + FilterTable
	chain := FilterChain(hostName)
	return filterBase() +
		"add chain " + t + " " + chain + "\n" +
		"add element " + t + " " + filterMap + " { " + quote(hostName) + " : jump " + chain + " }\n" +
		"delete element " + t + " " + filterMap + " { " + quote(hostName) + " }\n" +
		"flush chain " + t + " " + chain + "\n" +
		"delete chain " + t + " " + chain + "\n"
}

// filterDropTable removes the whole table (with its last port).
func filterDropTable() string { return "delete table bridge " + FilterTable + "\n" }

// quote makes an nft string; Validate refuses names with `"` or `\`.
func quote(s string) string { return `"` + s + `"` }

// Filter installs (or replaces) n's port filter, or removes it when n is
// not Filtered.
func Filter(nf Netfilter, n NetIf) error {
	if !n.Filtered() {
		return Unfilter(nf, n.HostName)
	}
	unlock, err := nf.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := nf.Apply(FilterAddScript(n)); err != nil {
		return fmt.Errorf("filtering bridge port %s: %w", n.HostName, err)
	}
	return nil
}

// Unfilter removes port hostName's filter, and the table with the node's
// last port. What is already gone is no error.
func Unfilter(nf Netfilter, hostName string) error {
	unlock, err := nf.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	ports, table, err := nf.MapKeys("bridge", FilterTable, filterMap)
	if err != nil {
		return fmt.Errorf("listing filtered bridge ports: %w", err)
	}
	if !table {
		return nil
	}
	script := FilterDelScript(hostName)
	if len(ports) == 0 || len(ports) == 1 && ports[0] == hostName {
		script = filterDropTable()
	}
	if err := nf.Apply(script); err != nil {
		return fmt.Errorf("removing the filter of bridge port %s: %w", hostName, err)
	}
	return nil
}
