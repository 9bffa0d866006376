package link

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nlOps is Ops over a netlink handle bound to one namespace.
type nlOps struct {
	h *netlink.Handle
	// host is true for the caller's own namespace, where the few requests
	// the handle cannot send (bridge port locking) go out on a fresh
	// socket, which is created in the caller's namespace.
	host bool
}

// Open returns Ops for the caller's own network namespace.
func Open() (Ops, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("opening a netlink socket: %w", err)
	}
	return &nlOps{h: h, host: true}, nil
}

// OpenAt returns Ops for the network namespace at path (such as
// /proc/PID/ns/net). The netlink socket is created inside that namespace
// once; no thread of the caller ever changes namespace.
func OpenAt(path string) (Ops, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("opening a netlink socket in %s: %w", path, err)
	}
	return &nlOps{h: h}, nil
}

func (o *nlOps) Close() { o.h.Close() }

// wrap maps the kernel's errnos onto ErrExist and ErrNotExist.
func wrap(err error, format string, a ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, a...)
	var lnf netlink.LinkNotFoundError
	switch {
	case errors.As(err, &lnf):
		return fmt.Errorf("%s: %w: %w", msg, err, ErrNotExist)
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%s: %w: %w", msg, err, ErrExist)
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ESRCH), errors.Is(err, unix.ENODEV),
		errors.Is(err, unix.EADDRNOTAVAIL):
		return fmt.Errorf("%s: %w: %w", msg, err, ErrNotExist)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

func (o *nlOps) link(name string) (netlink.Link, error) {
	l, err := o.h.LinkByName(name)
	if err != nil {
		return nil, wrap(err, "finding link %s", name)
	}
	return l, nil
}

func (o *nlOps) AddVeth(v Veth) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = v.Name
	attrs.HardwareAddr = v.MAC
	attrs.MTU = v.MTU
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: v.PeerName, PeerHardwareAddr: v.PeerMAC}
	if v.MTU > 0 {
		veth.PeerMTU = uint32(v.MTU)
	}
	if v.PeerNS != "" {
		ns, err := netns.GetFromPath(v.PeerNS)
		if err != nil {
			return fmt.Errorf("opening network namespace %s: %w", v.PeerNS, err)
		}
		defer ns.Close()
		veth.PeerNamespace = netlink.NsFd(int(ns))
	}
	if err := o.h.LinkAdd(veth); err != nil {
		return wrap(err, "adding veth pair %s/%s", v.Name, v.PeerName)
	}
	if v.Alias != "" {
		l, err := o.link(v.Name)
		if err == nil {
			err = wrap(o.h.LinkSetAlias(l, v.Alias), "naming link %s", v.Name)
		}
		if err != nil {
			o.DelLink(v.Name)
			return err
		}
	}
	return nil
}

func (o *nlOps) DelLink(name string) error {
	l, err := o.link(name)
	if err != nil {
		return err
	}
	return wrap(o.h.LinkDel(l), "deleting link %s", name)
}

func (o *nlOps) LinkExists(name string) (bool, error) {
	_, err := o.link(name)
	if errors.Is(err, ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (o *nlOps) SetUp(name string) error {
	l, err := o.link(name)
	if err != nil {
		return err
	}
	return wrap(o.h.LinkSetUp(l), "setting %s up", name)
}

func (o *nlOps) SetMaster(name, bridge string) error {
	l, err := o.link(name)
	if err != nil {
		return err
	}
	br, err := o.link(bridge)
	if err != nil {
		return err
	}
	if br.Type() != "bridge" {
		return fmt.Errorf("adding %s to %s: %s is a %s, not a bridge", name, bridge, bridge, br.Type())
	}
	return wrap(o.h.LinkSetMaster(l, br), "adding %s to bridge %s", name, bridge)
}

// LockPort uses the bridge's "locked port" (Linux 5.18, IFLA_BRPORT_LOCKED):
// a locked port forwards and delivers only frames whose source MAC has an
// FDB entry pointing at it, so with learning off and one static entry the
// container can send with its own MAC only. netlink's Handle has no setter
// for the flag, so the request goes out on a socket of the caller's
// namespace, which is why only host Ops can do it.
func (o *nlOps) LockPort(name string, mac net.HardwareAddr) error {
	if !o.host {
		return fmt.Errorf("locking bridge port %s: only possible in the caller's namespace", name)
	}
	l, err := o.link(name)
	if err != nil {
		return err
	}
	fdb := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_BRIDGE, Flags: netlink.NTF_MASTER,
		State: netlink.NUD_NOARP, HardwareAddr: mac}
	// Replace, not add: the bridge may have learned the MAC on another
	// port (the uplink, while the container ran on another node before a
	// migration), and an add of a MAC it knows fails with EEXIST; the
	// replace moves the entry to this port.
	if err := o.h.NeighSet(fdb); err != nil {
		return wrap(err, "adding fdb entry %s on %s", mac, name)
	}
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_BRIDGE)
	msg.Index = int32(l.Attrs().Index)
	req.AddData(msg)
	br := nl.NewRtAttr(unix.IFLA_PROTINFO|unix.NLA_F_NESTED, nil)
	br.AddRtAttr(nl.IFLA_BRPORT_LEARNING, []byte{0})
	br.AddRtAttr(nl.IFLA_BRPORT_LOCKED, []byte{1})
	req.AddData(br)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return wrap(err, "locking bridge port %s", name)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func (o *nlOps) AddAddr(dev string, a Addr) error {
	l, err := o.link(dev)
	if err != nil {
		return err
	}
	na := &netlink.Addr{IPNet: ipNet(a.Prefix)}
	if a.Prefix.Addr().Is4() {
		// No broadcast address (netlink would compute one): as iproute2
		// adds it without "brd", so that the guest's own tools (ifupdown,
		// networkd with Broadcast=no) find the address as they would make
		// it and leave it alone. A routed link has nothing to broadcast to.
		na.Broadcast = net.IPv4zero
	}
	if a.NoPrefixRoute {
		na.Flags |= unix.IFA_F_NOPREFIXROUTE
	}
	if a.NoDAD && a.Prefix.Addr().Is6() {
		na.Flags |= unix.IFA_F_NODAD
	}
	return wrap(o.h.AddrAdd(l, na), "adding address %s to %s", a.Prefix, dev)
}

func (o *nlOps) DelAddr(dev string, p netip.Prefix) error {
	l, err := o.link(dev)
	if err != nil {
		return err
	}
	return wrap(o.h.AddrDel(l, &netlink.Addr{IPNet: ipNet(p)}), "removing address %s from %s", p, dev)
}

func (o *nlOps) route(r Route) (*netlink.Route, error) {
	l, err := o.link(r.Dev)
	if err != nil {
		return nil, err
	}
	nr := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(r.Dst), Table: unix.RT_TABLE_MAIN}
	nr.Family = unix.AF_INET
	if r.Dst.Addr().Is6() {
		nr.Family = unix.AF_INET6
	}
	if r.Gw.IsValid() {
		nr.Gw = net.IP(r.Gw.AsSlice())
	} else {
		// What `ip route add ADDR dev DEV` does: a device route is on
		// the link.
		nr.Scope = netlink.SCOPE_LINK
	}
	if r.OnLink {
		nr.Flags |= int(netlink.FLAG_ONLINK)
	}
	return nr, nil
}

func (o *nlOps) AddRoute(r Route) error {
	nr, err := o.route(r)
	if err != nil {
		return err
	}
	return wrap(o.h.RouteAdd(nr), "adding route %s", r)
}

func (o *nlOps) ReplaceRoute(r Route) error {
	nr, err := o.route(r)
	if err != nil {
		return err
	}
	return wrap(o.h.RouteReplace(nr), "replacing route %s", r)
}

func (o *nlOps) DelRoute(r Route) error {
	nr, err := o.route(r)
	if err != nil {
		return err
	}
	return wrap(o.h.RouteDel(nr), "removing route %s", r)
}

func family(a netip.Addr) int {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

func (o *nlOps) proxy(dev string, a netip.Addr) (*netlink.Neigh, error) {
	l, err := o.link(dev)
	if err != nil {
		return nil, err
	}
	return &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: family(a), Flags: netlink.NTF_PROXY,
		IP: net.IP(a.AsSlice())}, nil
}

func (o *nlOps) AddProxy(dev string, a netip.Addr) error {
	n, err := o.proxy(dev, a)
	if err != nil {
		return err
	}
	return wrap(o.h.NeighAdd(n), "adding proxy neighbour %s on %s", a, dev)
}

func (o *nlOps) DelProxy(dev string, a netip.Addr) error {
	n, err := o.proxy(dev, a)
	if err != nil {
		return err
	}
	return wrap(o.h.NeighDel(n), "removing proxy neighbour %s from %s", a, dev)
}

func (o *nlOps) ProxyDevs(a netip.Addr) ([]string, error) {
	ns, err := o.h.NeighProxyList(0, family(a))
	if err != nil {
		return nil, wrap(err, "listing proxy neighbours")
	}
	var out []string
	for _, n := range ns {
		if na, ok := netip.AddrFromSlice(n.IP); ok && na.Unmap() == a {
			if l, err := o.h.LinkByIndex(n.LinkIndex); err == nil {
				out = append(out, l.Attrs().Name)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func (o *nlOps) RouteGet(a netip.Addr) (RouteInfo, error) {
	rs, err := o.h.RouteGet(net.IP(a.AsSlice()))
	if err != nil {
		return RouteInfo{}, wrap(err, "looking up the route to %s", a)
	}
	if len(rs) == 0 {
		return RouteInfo{}, fmt.Errorf("no route to %s: %w", a, ErrNotExist)
	}
	info := RouteInfo{Local: rs[0].Type == unix.RTN_LOCAL}
	if l, err := o.h.LinkByIndex(rs[0].LinkIndex); err == nil {
		info.Dev = l.Attrs().Name
	}
	return info, nil
}

func (o *nlOps) DefaultDevs(v6 bool) ([]string, error) {
	fam := unix.AF_INET
	if v6 {
		fam = unix.AF_INET6
	}
	rs, err := o.h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, wrap(err, "listing routes")
	}
	var out []string
	for _, r := range rs {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		idx := []int{r.LinkIndex}
		if r.LinkIndex == 0 {
			idx = idx[:0]
			for _, nh := range r.MultiPath {
				idx = append(idx, nh.LinkIndex)
			}
		}
		for _, i := range idx {
			if l, err := o.h.LinkByIndex(i); err == nil {
				out = append(out, l.Attrs().Name)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func (o *nlOps) NeighbourDevs(v6 bool, ownAlias string) ([]string, error) {
	links, err := o.h.LinkList()
	if err != nil {
		return nil, wrap(err, "listing links")
	}
	fam := unix.AF_INET
	if v6 {
		fam = unix.AF_INET6
	}
	var out []string
	for _, l := range links {
		a := l.Attrs()
		if a.Flags&net.FlagUp == 0 || a.Flags&net.FlagLoopback != 0 || a.RawFlags&unix.IFF_NOARP != 0 ||
			a.MasterIndex != 0 || (ownAlias != "" && strings.HasPrefix(a.Alias, ownAlias)) {
			continue
		}
		addrs, err := o.h.AddrList(l, fam)
		if err != nil {
			continue
		}
		if slices.ContainsFunc(addrs, func(ad netlink.Addr) bool { return ad.Scope == int(netlink.SCOPE_UNIVERSE) }) {
			out = append(out, a.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (o *nlOps) LinkStats(name string) (Stats, error) {
	l, err := o.link(name)
	if err != nil {
		return Stats{}, err
	}
	s := l.Attrs().Statistics
	if s == nil {
		return Stats{}, nil
	}
	return Stats{RxBytes: s.RxBytes, RxPackets: s.RxPackets, TxBytes: s.TxBytes, TxPackets: s.TxPackets}, nil
}
