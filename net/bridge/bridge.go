// Package bridge is vzctl's veth mode (--netif_add): a container gets its
// own Ethernet interface, the container end of a veth pair whose host end
// joins a host bridge, so the container is a host of the bridge's LAN and
// configures its addresses itself. MACs are stable (derived from the CTID
// and interface name unless given), and MAC filtering, on by default,
// lets the container send only with its own MAC: the host end is a
// locked bridge port whose only allowed source is that MAC. IP
// filtering, on by default, keeps the container from acting as a router
// or DHCP server and, for the addresses the entry lists, from sending
// from any other (filter.go).
package bridge

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"govz/conf"
	"govz/ct/revert"
	"govz/net/link"
)

// NetIf is one bridged interface, a NETIF entry.
type NetIf struct {
	Name      string // inside the container
	MAC       net.HardwareAddr
	HostName  string
	HostMAC   net.HardwareAddr
	Bridge    string // "" = the host end stays unbridged
	MACFilter bool
	IPFilter  bool
	// IPs are the addresses the container may send from on this
	// interface (IP filtering); none = any (see filter.go).
	IPs []netip.Prefix
}

// String renders n as stored in the container's config.
func (n NetIf) String() string {
	parts := []string{"ifname=" + n.Name}
	if n.MAC != nil {
		parts = append(parts, "mac="+n.MAC.String())
	}
	if n.HostName != "" {
		parts = append(parts, "host_ifname="+n.HostName)
	}
	if n.HostMAC != nil {
		parts = append(parts, "host_mac="+n.HostMAC.String())
	}
	if n.Bridge != "" {
		parts = append(parts, "bridge="+n.Bridge)
	}
	if n.MACFilter {
		parts = append(parts, "mac_filter=on")
	} else {
		parts = append(parts, "mac_filter=off")
	}
	// Only when off, so entries stored before the key existed read back
	// the same.
	if !n.IPFilter {
		parts = append(parts, "ip_filter=off")
	}
	if len(n.IPs) > 0 {
		ips := make([]string, len(n.IPs))
		for i, p := range n.IPs {
			ips[i] = prefixString(p)
		}
		parts = append(parts, "ip="+strings.Join(ips, " "))
	}
	return strings.Join(parts, ",")
}

// Parse reads a stored entry: "ifname=eth0,mac=..,host_ifname=..,
// host_mac=..,bridge=..,mac_filter=on|off,ip_filter=on|off,ip=ADDR[/LEN]
// ...". MAC and IP filtering default to on.
func Parse(s string) (NetIf, error) {
	n := NetIf{MACFilter: true, IPFilter: true}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return NetIf{}, fmt.Errorf("netif %q: %q is not KEY=VALUE", s, kv)
		}
		var err error
		switch k {
		case "ifname":
			n.Name = v
		case "mac":
			n.MAC, err = parseMAC(v)
		case "host_ifname":
			n.HostName = v
		case "host_mac":
			n.HostMAC, err = parseMAC(v)
		case "bridge":
			n.Bridge = v
		case "mac_filter":
			n.MACFilter, err = ParseOnOff(v)
		case "ip_filter":
			n.IPFilter, err = ParseOnOff(v)
		case "ip":
			n.IPs = nil
			for _, a := range strings.Fields(v) {
				var p netip.Prefix
				if p, err = ParseIP(a); err != nil {
					break
				}
				n.IPs = AddIP(n.IPs, p)
			}
		default:
			err = fmt.Errorf("unknown key %q", k)
		}
		if err != nil {
			return NetIf{}, fmt.Errorf("netif %q: %w", s, err)
		}
	}
	if err := n.Validate(); err != nil {
		return NetIf{}, err
	}
	return n, nil
}

// ParseAdd reads vzctl's --netif_add argument:
// IF[,MAC[,HOST_IF[,HOST_MAC[,BRIDGE]]]], empty fields left unset.
func ParseAdd(s string) (NetIf, error) {
	f := strings.Split(s, ",")
	if len(f) > 5 {
		return NetIf{}, fmt.Errorf("--netif_add %q: at most IF,MAC,HOST_IF,HOST_MAC,BRIDGE", s)
	}
	f = append(f, make([]string, 5-len(f))...)
	n := NetIf{Name: f[0], HostName: f[2], Bridge: f[4], MACFilter: true, IPFilter: true}
	var err error
	if f[1] != "" {
		if n.MAC, err = parseMAC(f[1]); err != nil {
			return NetIf{}, fmt.Errorf("--netif_add %q: %w", s, err)
		}
	}
	if f[3] != "" {
		if n.HostMAC, err = parseMAC(f[3]); err != nil {
			return NetIf{}, fmt.Errorf("--netif_add %q: %w", s, err)
		}
	}
	return n, n.Validate()
}

// ParseOnOff reads vzctl's on|off (yes|no too).
func ParseOnOff(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "on", "yes", "true", "1":
		return true, nil
	case "off", "no", "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not on or off", v)
}

func parseMAC(s string) (net.HardwareAddr, error) {
	m, err := net.ParseMAC(s)
	if err != nil || len(m) != 6 {
		return nil, fmt.Errorf("bad MAC address %q", s)
	}
	if m[0]&1 != 0 {
		return nil, fmt.Errorf("MAC address %s is a multicast address", s)
	}
	return m, nil
}

// Validate checks the names.
func (n NetIf) Validate() error {
	if err := link.CheckName(n.Name); err != nil {
		return fmt.Errorf("netif: %w", err)
	}
	if n.Name == "venet0" || n.Name == "lo" { // venet0 is the routed mode's
		return fmt.Errorf("netif: %s is reserved", n.Name)
	}
	for _, name := range []string{n.HostName, n.Bridge} {
		if name != "" {
			if err := link.CheckName(name); err != nil {
				return fmt.Errorf("netif %s: %w", n.Name, err)
			}
		}
	}
	// The host name is a string in the port filter's nft script.
	if strings.ContainsAny(n.HostName, `"\`) {
		return fmt.Errorf("netif %s: host interface name %q has a quote or backslash", n.Name, n.HostName)
	}
	return nil
}

// ParseIP reads an address of an entry, ADDR or ADDR/LEN, one a
// container can be given (conf.ParseIP's rules).
func ParseIP(s string) (netip.Prefix, error) {
	v, err := conf.ParseIP(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p, err := netip.ParsePrefix(v); err == nil {
		return p, nil
	}
	a := netip.MustParseAddr(v)
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// AddIP adds p to list unless its address is there.
func AddIP(list []netip.Prefix, p netip.Prefix) []netip.Prefix {
	for _, q := range list {
		if q.Addr() == p.Addr() {
			return list
		}
	}
	return append(list, p)
}

// DelIP removes the entry of address a from list.
func DelIP(list []netip.Prefix, a netip.Addr) []netip.Prefix {
	return slices.DeleteFunc(slices.Clone(list), func(q netip.Prefix) bool { return q.Addr() == a })
}

// prefixString is ADDR for a host prefix, as given.
func prefixString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// SameLink reports whether a and b differ at most in what the port
// filter does, which changes without re-creating the pair.
func SameLink(a, b NetIf) bool {
	a.IPs, b.IPs, a.IPFilter, b.IPFilter = nil, nil, false, false
	return a.String() == b.String()
}

// Complete fills what n leaves unset for container ct: the host name
// vzctl gives (veth<CTID>.<N>, N the number in the container's name)
// when it fits the kernel's 15 characters, else a hashed "vzb" name; and
// stable MACs.
func Complete(ct int, n NetIf) NetIf {
	id := strconv.Itoa(ct)
	if n.HostName == "" {
		n.HostName = HostName(ct, n.Name)
	}
	if n.MAC == nil {
		n.MAC = link.StableMAC(id, n.Name)
	}
	if n.HostMAC == nil {
		n.HostMAC = link.StableMAC(id, n.Name, "host")
	}
	return n
}

// HostName is the default host end name of container ct's interface
// ifname.
func HostName(ct int, ifname string) string {
	num := strings.TrimLeft(ifname, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-.")
	if _, err := strconv.Atoi(num); err == nil {
		if name := "veth" + strconv.Itoa(ct) + "." + num; len(name) <= 15 {
			return name
		}
	}
	h := fnv.New32a()
	h.Write([]byte(strconv.Itoa(ct) + "/" + ifname))
	return fmt.Sprintf("vzb%08x", h.Sum32())
}

// Alias marks a host end as govz's (see link.AliasPrefix).
func Alias(ct int, ifname string) string {
	return link.AliasPrefix + "veth " + strconv.Itoa(ct) + " " + ifname
}

// Env is what bridged mode drives.
type Env struct {
	CT      int
	Host    link.Ops
	Filter  Netfilter
	GuestNS string // the running container's network namespace
}

// Up creates n's pair for the running container, the host end up and in
// its bridge, locked to the container's MAC when filtering, its port
// filter in place before it comes up. The container end is left to the
// guest to configure. On error nothing stays.
func Up(e *Env, n NetIf) error {
	n = Complete(e.CT, n)
	r := revert.New()
	defer r.Fail()
	if err := e.Host.AddVeth(link.Veth{Name: n.HostName, MAC: n.HostMAC, PeerName: n.Name, PeerMAC: n.MAC,
		PeerNS: e.GuestNS, Alias: Alias(e.CT, n.Name)}); err != nil {
		return err
	}
	r.Add(func() { e.Host.DelLink(n.HostName) })
	if n.Bridge != "" {
		if err := e.Host.SetMaster(n.HostName, n.Bridge); err != nil {
			return err
		}
		if n.MACFilter {
			if err := e.Host.LockPort(n.HostName, n.MAC); err != nil {
				return err
			}
		}
		if n.Filtered() {
			if err := Filter(e.Filter, n); err != nil {
				return err
			}
			r.Add(func() { Unfilter(e.Filter, n.HostName) })
		}
	}
	if err := e.Host.SetUp(n.HostName); err != nil {
		return err
	}
	r.Success()
	return nil
}

// Down removes n's pair (both ends go with the host end) and its port
// filter. What is already gone is no error: the kernel deletes the pair
// with the container's network namespace, the filter stays until here.
// n is the entry as it was brought up (an unfiltered one never needs nft).
func Down(e *Env, n NetIf) error {
	err := link.IgnoreNotExist(e.Host.DelLink(n.HostName))
	if n.Filtered() {
		err = errors.Join(err, Unfilter(e.Filter, n.HostName))
	}
	return err
}

// Refilter applies n's changed port filter to its running pair.
func Refilter(e *Env, n NetIf) error {
	return Filter(e.Filter, Complete(e.CT, n))
}

// ErrNotFound wraps an interface name no entry has.
var ErrNotFound = errors.New("no such interface")

// Find returns the index of the entry named ifname in list.
func Find(list []NetIf, ifname string) int {
	for i, n := range list {
		if n.Name == ifname {
			return i
		}
	}
	return -1
}
