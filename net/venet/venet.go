// Package venet is OpenVZ's venet on a stock kernel: routed container
// addresses over one veth pair per container. The container's end,
// venet0, holds its addresses and default routes through link-local
// gateways (169.254.0.1, fe80::1) that sit on the host's end, as Incus's
// routed NIC does (peers.md §1.1): the gateway being a real address on the
// host end keeps neighbour discovery with it instant and reliable. The
// host routes each address (/32, /128) to its end, answers ARP/NDP for it
// on the neighbour devices with a proxy entry (vzctl's NEIGHBOUR_DEVS),
// and announces it with a gratuitous ARP or unsolicited advertisement.
// Anti-spoofing and counters come from net/fw.
//
// Everything done is recorded in a State, kept by the caller in the
// container's run directory, so that whoever tears down (the supervisor
// after the container died, vzctl set --ipdel, a later start after a
// crash) removes exactly what was made.
package venet

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"govz/ct/revert"
	"govz/net/fw"
	"govz/net/link"
	"govz/net/sysctl"
)

// CTIf is the container's end of the pair.
const CTIf = "venet0"

// Gateways on the host end, the containers' default routers.
var (
	GatewayV4 = netip.MustParseAddr("169.254.0.1")
	GatewayV6 = netip.MustParseAddr("fe80::1")
)

// HostIf names container ct's host end. "venet" and a CTID (at most 10
// digits) fit the kernel's 15 characters.
func HostIf(ct int) string { return "venet" + strconv.Itoa(ct) }

// Alias is the alias of container ct's host end.
func Alias(ct int) string { return link.AliasPrefix + "venet " + strconv.Itoa(ct) }

// Neighbours is vzctl's NEIGHBOUR_DEVS: which host devices answer ARP/NDP
// for container addresses.
type Neighbours struct {
	Mode string   // "detect", "all" or "list"
	Devs []string // for "list"
}

// ParseNeighbours parses "detect", "all", or "list:DEV DEV...".
func ParseNeighbours(s string) (Neighbours, error) {
	switch s = strings.TrimSpace(s); {
	case s == "" || s == "detect":
		return Neighbours{Mode: "detect"}, nil
	case s == "all":
		return Neighbours{Mode: "all"}, nil
	case strings.HasPrefix(s, "list:"):
		devs := strings.Fields(strings.ReplaceAll(strings.TrimPrefix(s, "list:"), ",", " "))
		if len(devs) == 0 {
			return Neighbours{}, fmt.Errorf("neighbour_devs %q lists no device", s)
		}
		for _, d := range devs {
			if err := link.CheckName(d); err != nil {
				return Neighbours{}, fmt.Errorf("neighbour_devs: %w", err)
			}
		}
		return Neighbours{Mode: "list", Devs: devs}, nil
	}
	return Neighbours{}, fmt.Errorf("neighbour_devs %q: want detect, all or list:DEV[,DEV]", s)
}

// State is what the routed setup of one container made.
type State struct {
	HostIf string `json:"host_if"`
	Addrs  []Addr `json:"addrs"`
}

// Addr is one routed address and the devices holding its proxy entry.
type Addr struct {
	Prefix netip.Prefix `json:"prefix"` // as the container holds it
	Neigh  []string     `json:"neigh"`
}

// Has reports whether st holds address a.
func (st *State) Has(a netip.Addr) bool {
	return st != nil && slices.ContainsFunc(st.Addrs, func(x Addr) bool { return x.Prefix.Addr() == a })
}

// Filter is the anti-spoofing and accounting rules (net/fw).
type Filter interface {
	SetupRouted(r fw.Routed, addrs []netip.Addr) error
	Allow(r fw.Routed, a netip.Addr) error
	Disallow(r fw.Routed, a netip.Addr) error
	TeardownRouted(r fw.Routed) error
}

// Env is what the routed mode drives.
type Env struct {
	CT       int
	Host     link.Ops       // the node's namespace
	Guest    link.Ops       // the container's namespace; nil when it is not running
	GuestNS  string         // path of the container's namespace, for the veth peer
	Sysctl   sysctl.Sysctls // the node's
	Filter   Filter
	Announce func(dev string, a netip.Addr) error // nil: no announcements
	IPv6     bool                                 // IPv6 enabled: the fe80::1 gateway, v6 default route
	Logf     func(format string, a ...any)        // warnings
}

func (e *Env) routed(hostIf string) fw.Routed { return fw.Routed{CT: e.CT, HostIf: hostIf} }

func (e *Env) warnf(format string, a ...any) {
	if e.Logf != nil {
		e.Logf(format, a...)
	}
}

// HostRoute is the host's route to a.
func HostRoute(hostIf string, a netip.Addr) link.Route {
	return link.Route{Dst: netip.PrefixFrom(a, a.BitLen()), Dev: hostIf}
}

// guestAddr is how the container holds p: with its prefix but no subnet
// route (everything goes through the gateway; a routed container has no
// neighbours but the host), and without duplicate address detection, so
// the address works the moment it is added (the host probed the LAN).
func guestAddr(p netip.Prefix) link.Addr {
	return link.Addr{Prefix: p, NoPrefixRoute: true, NoDAD: true}
}

func defaultRoutes(ipv6 bool) []link.Route {
	rs := []link.Route{{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Dev: CTIf, Gw: GatewayV4, OnLink: true}}
	if ipv6 {
		rs = append(rs, link.Route{Dst: netip.PrefixFrom(netip.IPv6Unspecified(), 0), Dev: CTIf, Gw: GatewayV6})
	}
	return rs
}

// host-end parameters: no router advertisements accepted, strict reverse
// path filtering (the kernel's own IPv4 anti-spoofing, besides net/fw),
// forwarding on.
func hostSysctls(hostIf string, ipv6 bool) [][2]string {
	s := [][2]string{
		{"net/ipv4/conf/" + hostIf + "/forwarding", "1"},
		{"net/ipv4/conf/" + hostIf + "/rp_filter", "1"},
	}
	if ipv6 {
		s = append(s, [2]string{"net/ipv6/conf/" + hostIf + "/accept_ra", "0"},
			[2]string{"net/ipv6/conf/" + hostIf + "/forwarding", "1"})
	}
	return s
}

// Up creates the container's venet pair and routes addrs to it. The
// container must be running (e.Guest set). On error nothing stays.
func Up(e *Env, addrs []netip.Prefix, nb Neighbours) (*State, error) {
	if err := Pair(e, nil); err != nil {
		return nil, err
	}
	st, err := Route(e, addrs, nb)
	if err != nil {
		e.Host.DelLink(HostIf(e.CT))
		return nil, err
	}
	return st, nil
}

// Pair is the first half of Up: the pair, its host end up with the
// gateways, the container's end up with its default routes and addrs
// (Route adds them when nil), but nothing on the host routes to it yet.
// A restore makes the pair before CRIU restores the container's sockets,
// which need their addresses, and routes to it (Route) only once CRIU
// has locked the container's network: a packet from the LAN in between
// would meet no socket and reset the connection. The container must be
// running (e.Guest set). On error nothing stays.
func Pair(e *Env, addrs []netip.Prefix) error {
	if e.Guest == nil {
		return errors.New("setting up venet: the container is not running")
	}
	hostIf := HostIf(e.CT)
	r := revert.New()
	defer r.Fail()
	err := e.Host.AddVeth(link.Veth{Name: hostIf, PeerName: CTIf, PeerNS: e.GuestNS, Alias: Alias(e.CT),
		MAC: link.StableMAC(strconv.Itoa(e.CT), CTIf, "host"), PeerMAC: link.StableMAC(strconv.Itoa(e.CT), CTIf)})
	if err != nil {
		return err
	}
	r.Add(func() { e.Host.DelLink(hostIf) })
	for _, s := range hostSysctls(hostIf, e.IPv6) {
		if err := e.Sysctl.Set(s[0], s[1]); err != nil {
			return err
		}
	}
	if err := e.Host.AddAddr(hostIf, link.Addr{Prefix: netip.PrefixFrom(GatewayV4, 32)}); err != nil {
		return err
	}
	if e.IPv6 {
		if err := e.Host.AddAddr(hostIf, link.Addr{Prefix: netip.PrefixFrom(GatewayV6, 64), NoDAD: true}); err != nil {
			return err
		}
	}
	if err := e.Host.SetUp(hostIf); err != nil {
		return err
	}
	for _, l := range []string{"lo", CTIf} {
		if err := e.Guest.SetUp(l); err != nil {
			return err
		}
	}
	for _, rt := range defaultRoutes(e.IPv6) {
		if err := e.Guest.ReplaceRoute(rt); err != nil {
			return err
		}
	}
	for _, p := range addrs {
		if p.Addr().Is6() && !e.IPv6 {
			return fmt.Errorf("address %s: IPv6 is disabled (ipv6 = false)", p)
		}
		if err := e.Guest.AddAddr(CTIf, guestAddr(p)); err != nil {
			return err
		}
	}
	r.Success()
	return nil
}

// Route is the second half of Up, on the pair Pair made: the
// anti-spoofing rules, and each address's host route and proxy entries
// (and its container address, when e.Guest is set), then the
// announcements. On error what Route did is undone; the pair stays.
func Route(e *Env, addrs []netip.Prefix, nb Neighbours) (*State, error) {
	hostIf := HostIf(e.CT)
	r := revert.New()
	defer r.Fail()
	var plain []netip.Addr
	for _, p := range addrs {
		plain = append(plain, p.Addr())
	}
	if err := e.Filter.SetupRouted(e.routed(hostIf), plain); err != nil {
		return nil, err
	}
	r.Add(func() { e.Filter.TeardownRouted(e.routed(hostIf)) })
	st := &State{HostIf: hostIf}
	for _, p := range addrs {
		if err := addRoute(e, st, p, nb); err != nil {
			return nil, err
		}
		r.Add(func() { unroute(e, st, p.Addr()) })
	}
	for _, a := range st.Addrs {
		e.announce(a)
	}
	r.Success()
	return st, nil
}

// Add routes p to the running container whose venet is st (live
// --ipadd).
func Add(e *Env, st *State, p netip.Prefix, nb Neighbours) error {
	if st.Has(p.Addr()) {
		return nil
	}
	r := revert.New()
	defer r.Fail()
	if err := e.Filter.Allow(e.routed(st.HostIf), p.Addr()); err != nil {
		return err
	}
	r.Add(func() { e.Filter.Disallow(e.routed(st.HostIf), p.Addr()) })
	if err := addRoute(e, st, p, nb); err != nil {
		return err
	}
	r.Success()
	e.announce(st.Addrs[len(st.Addrs)-1])
	return nil
}

// addRoute does an address's host route, proxy entries and container
// address, and records it in st. The neighbour devices are chosen before
// the host route exists (afterwards the route to the address is venet's).
func addRoute(e *Env, st *State, p netip.Prefix, nb Neighbours) error {
	a := p.Addr()
	if a.Is6() && !e.IPv6 {
		return fmt.Errorf("address %s: IPv6 is disabled (ipv6 = false)", p)
	}
	devs, err := NeighbourDevs(e.Host, nb, a, st.HostIf)
	if err != nil {
		return err
	}
	r := revert.New()
	defer r.Fail()
	rt := HostRoute(st.HostIf, a)
	if err := e.Host.AddRoute(rt); err != nil {
		ri, gerr := e.Host.RouteGet(a)
		if !errors.Is(err, link.ErrExist) || gerr != nil || ri.Dev != st.HostIf {
			return err
		}
		// Our own route, left by a run that died: keep it.
	}
	r.Add(func() { e.Host.DelRoute(rt) })
	for _, d := range devs {
		if err := e.Host.AddProxy(d, a); err != nil && !errors.Is(err, link.ErrExist) {
			return err
		}
		r.Add(func() { e.Host.DelProxy(d, a) })
	}
	if e.Guest != nil {
		if err := e.Guest.AddAddr(CTIf, guestAddr(p)); err != nil && !errors.Is(err, link.ErrExist) {
			return err
		}
	}
	r.Success()
	st.Addrs = append(st.Addrs, Addr{Prefix: p, Neigh: devs})
	return nil
}

func (e *Env) announce(a Addr) {
	if e.Announce == nil {
		return
	}
	for _, d := range a.Neigh {
		if err := e.Announce(d, a.Prefix.Addr()); err != nil {
			e.warnf("announcing %s on %s: %v", a.Prefix.Addr(), d, err)
		}
	}
}

// Del takes address a away from the container (live --ipdel): its
// container address, anti-spoofing entry, proxy entries and host route.
func Del(e *Env, st *State, a netip.Addr) error {
	i := slices.IndexFunc(st.Addrs, func(x Addr) bool { return x.Prefix.Addr() == a })
	if i < 0 {
		return nil
	}
	var errs []error
	if e.Guest != nil {
		if err := e.Guest.DelAddr(CTIf, st.Addrs[i].Prefix); link.IgnoreNotExist(err) != nil {
			errs = append(errs, err)
		}
	}
	if err := e.Filter.Disallow(e.routed(st.HostIf), a); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, unroute(e, st, a))
	return errors.Join(errs...)
}

// unroute removes a's proxy entries and host route and drops it from st.
func unroute(e *Env, st *State, a netip.Addr) error {
	i := slices.IndexFunc(st.Addrs, func(x Addr) bool { return x.Prefix.Addr() == a })
	if i < 0 {
		return nil
	}
	var errs []error
	for _, d := range st.Addrs[i].Neigh {
		if err := e.Host.DelProxy(d, a); link.IgnoreNotExist(err) != nil {
			errs = append(errs, err)
		}
	}
	if err := e.Host.DelRoute(HostRoute(st.HostIf, a)); link.IgnoreNotExist(err) != nil {
		errs = append(errs, err)
	}
	st.Addrs = slices.Delete(st.Addrs, i, i+1)
	return errors.Join(errs...)
}

// Down removes everything st records: proxy entries, rules, and the pair
// (with it the host routes and the container's end). What is already
// gone is no error, so Down also finishes a teardown that was
// interrupted.
func Down(e *Env, st *State) error {
	var errs []error
	for _, a := range slices.Clone(st.Addrs) {
		errs = append(errs, unroute(e, st, a.Prefix.Addr()))
	}
	if err := e.Filter.TeardownRouted(e.routed(st.HostIf)); err != nil {
		errs = append(errs, err)
	}
	if err := e.Host.DelLink(st.HostIf); link.IgnoreNotExist(err) != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ErrLocal wraps an address that belongs to the node itself.
var ErrLocal = errors.New("the address belongs to the node itself")

// NeighbourDevs returns the devices that answer for a under nb. With
// "detect" it is the device the node routes a through (vzctl's `ip route
// get`), the default route's device for an address on no connected
// network, never the container's own host end.
func NeighbourDevs(host link.Ops, nb Neighbours, a netip.Addr, hostIf string) ([]string, error) {
	switch nb.Mode {
	case "list":
		return nb.Devs, nil
	case "all":
		return host.NeighbourDevs(a.Is6(), link.AliasPrefix)
	}
	ri, err := host.RouteGet(a)
	if err != nil && !errors.Is(err, link.ErrNotExist) {
		return nil, err
	}
	if ri.Local {
		return nil, fmt.Errorf("address %s: %w", a, ErrLocal)
	}
	if err == nil && ri.Dev != "" && ri.Dev != hostIf && ri.Dev != "lo" {
		return []string{ri.Dev}, nil
	}
	return host.DefaultDevs(a.Is6())
}
