// Package link is the kernel side of container networking: the few
// netlink operations (veth pairs, addresses, routes, proxy neighbour
// entries, bridge ports) that net/venet and net/bridge need, behind one
// interface bound to a network namespace. The netlink implementation
// (Open, OpenAt) is thin and root-tested; Fake renders the same
// operations as iproute2 command lines so the policy packages are
// unit-tested without root.
package link

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
)

// Addr is an interface address as `ip addr add` takes it.
type Addr struct {
	Prefix netip.Prefix
	// NoPrefixRoute (IFA_F_NOPREFIXROUTE) keeps the kernel from adding a
	// subnet route for the prefix: a routed container reaches even its
	// "own" subnet through the gateway, since only the host answers on
	// its link.
	NoPrefixRoute bool
	// NoDAD (IFA_F_NODAD, IPv6) makes the address usable at once instead
	// of tentative for a second of duplicate address detection.
	NoDAD bool
}

// String renders a as ip-addr(8) arguments.
func (a Addr) String() string {
	s := a.Prefix.String()
	if a.NoPrefixRoute {
		s += " noprefixroute"
	}
	if a.NoDAD && a.Prefix.Addr().Is6() {
		s += " nodad"
	}
	return s
}

// Route is a route in the main table.
type Route struct {
	Dst    netip.Prefix // 0.0.0.0/0 or ::/0 for a default route
	Dev    string
	Gw     netip.Addr // invalid: a device route
	OnLink bool       // the gateway is on the link even though no prefix covers it
}

// String renders r as ip-route(8) arguments.
func (r Route) String() string {
	dst := r.Dst.String()
	if r.Dst.Bits() == 0 {
		dst = "default"
	}
	s := dst
	if r.Gw.IsValid() {
		s += " via " + r.Gw.String()
	}
	s += " dev " + r.Dev
	if r.OnLink {
		s += " onlink"
	}
	return s
}

// Veth is a veth pair to create. The peer is created directly in the
// namespace PeerNS names (a path such as /proc/PID/ns/net), so the
// container's end never exists in the host namespace, not even briefly.
type Veth struct {
	Name     string
	PeerName string
	PeerNS   string // "" = this namespace
	MAC      net.HardwareAddr
	PeerMAC  net.HardwareAddr
	MTU      int    // 0 = kernel default
	Alias    string // IFLA_IFALIAS of the host end: marks it as govz's
}

// AliasPrefix starts the alias (IFLA_IFALIAS) of every link govz makes, so
// that "all neighbour devices" never includes them and an admin sees whose
// they are.
const AliasPrefix = "govz:"

// RouteInfo is the answer to "ip route get ADDR".
type RouteInfo struct {
	Dev   string
	Local bool // the address belongs to this namespace itself
}

// Stats are a link's traffic counters, as the link itself sees them.
type Stats struct {
	RxBytes, RxPackets, TxBytes, TxPackets uint64
}

// Ops is what container networking asks of one network namespace.
// Adding what exists fails with an error wrapping ErrExist; removing what
// does not exist fails with one wrapping ErrNotExist, so callers can make
// their cleanups idempotent.
type Ops interface {
	AddVeth(v Veth) error
	DelLink(name string) error
	LinkExists(name string) (bool, error)
	SetUp(name string) error
	// SetMaster enslaves name to bridge.
	SetMaster(name, bridge string) error
	// LockPort makes bridge port name accept only frames whose source MAC
	// has a static FDB entry on it (kernel "locked" port, learning off)
	// and adds that entry for mac.
	LockPort(name string, mac net.HardwareAddr) error
	AddAddr(dev string, a Addr) error
	DelAddr(dev string, p netip.Prefix) error
	AddRoute(r Route) error
	ReplaceRoute(r Route) error
	DelRoute(r Route) error
	// AddProxy adds a proxy ARP (IPv4) or proxy NDP (IPv6) entry: dev
	// answers neighbour solicitations for a. Adding an existing entry
	// succeeds (the kernel does not report it).
	AddProxy(dev string, a netip.Addr) error
	DelProxy(dev string, a netip.Addr) error
	// ProxyDevs lists the devices holding a proxy entry for a.
	ProxyDevs(a netip.Addr) ([]string, error)
	RouteGet(a netip.Addr) (RouteInfo, error)
	// DefaultDevs lists the devices of the default routes of a's family.
	DefaultDevs(v6 bool) ([]string, error)
	// NeighbourDevs lists what vzctl's NEIGHBOUR_DEVS=all means: links
	// that are up, not loopback, not NOARP, not enslaved, not govz's own
	// (by alias prefix), with a global address of the family.
	NeighbourDevs(v6 bool, ownAlias string) ([]string, error)
	LinkStats(name string) (Stats, error)
	Close()
}

var (
	// ErrExist wraps adds of what already exists (EEXIST).
	ErrExist = errors.New("already exists")
	// ErrNotExist wraps removals of what is not there (ENOENT, ESRCH,
	// ENODEV, EADDRNOTAVAIL).
	ErrNotExist = errors.New("does not exist")
)

// IgnoreNotExist returns nil for an error wrapping ErrNotExist.
func IgnoreNotExist(err error) error {
	if errors.Is(err, ErrNotExist) {
		return nil
	}
	return err
}

// StableMAC derives a MAC from seed words (container ID, interface
// name, which end of the pair), so an interface keeps its MAC across
// restarts and the LAN's neighbour caches stay valid. The address is
// locally administered (02:...) and unicast; the other 40 bits are an
// FNV-1a hash of the seed.
func StableMAC(seed ...string) net.HardwareAddr {
	h := fnv.New64a()
	for _, s := range seed {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	v := h.Sum64()
	return net.HardwareAddr{0x02, byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// CheckName refuses interface names the kernel would refuse.
func CheckName(name string) error {
	if name == "" || len(name) > 15 || name == "." || name == ".." {
		return fmt.Errorf("interface name %q must have 1 to 15 characters", name)
	}
	for _, c := range name {
		if c == '/' || c == ':' || c <= ' ' || c > '~' {
			return fmt.Errorf("interface name %q has a character interfaces cannot have (%q)", name, c)
		}
	}
	return nil
}
