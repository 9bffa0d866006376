package link

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Fake is an in-memory network namespace for unit tests. It keeps the
// state the operations build and renders it (State) as the iproute2
// commands that would recreate it, one per line, sorted, so a test
// compares the whole host state with a block of text. Links that existed
// before the test (AddExisting) are not rendered, only what was done to
// them.
type Fake struct {
	links   map[string]*fakeLink
	addrs   map[string]string // "dev|prefix" -> ip-addr arguments
	routes  map[string]Route
	proxies map[string]bool // "dev|addr"
	fdb     map[string]bool // "dev|mac"

	// Peers are the namespaces veth peers go to, by PeerNS path; a peer
	// to a path not listed is only recorded on the host side.
	Peers map[string]*Fake
	// Routes answers RouteGet; absent addresses route through Default.
	RouteTo map[netip.Addr]RouteInfo
	Default map[bool][]string // DefaultDevs by v6
	// Neighbours answers NeighbourDevs (both families).
	Neighbours []string
	// FailOn makes the first operation whose command line contains it
	// fail (then it is cleared), to test undo paths.
	FailOn string
	// Log is every successful operation, in order.
	Log []string
}

type fakeLink struct {
	existing bool
	up       bool
	master   string
	locked   bool
	bridge   bool
	desc     string // "type veth peer name X netns Y address ..."
	alias    string
	peer     string // name of the peer and the Fake holding it
	peerNS   *Fake
	stats    Stats
}

// NewFake returns an empty namespace with a loopback.
func NewFake() *Fake {
	f := &Fake{links: map[string]*fakeLink{}, addrs: map[string]string{}, routes: map[string]Route{},
		proxies: map[string]bool{}, fdb: map[string]bool{}, Peers: map[string]*Fake{},
		RouteTo: map[netip.Addr]RouteInfo{}, Default: map[bool][]string{}}
	f.links["lo"] = &fakeLink{existing: true, up: true}
	return f
}

// AddExisting adds a link that was there before (an uplink, a bridge).
func (f *Fake) AddExisting(name string, bridge bool) {
	f.links[name] = &fakeLink{existing: true, up: true, bridge: bridge}
}

// SetStats sets the counters LinkStats reports for name.
func (f *Fake) SetStats(name string, s Stats) {
	if l, ok := f.links[name]; ok {
		l.stats = s
	}
}

func (f *Fake) op(line string) error {
	if f.FailOn != "" && strings.Contains(line, f.FailOn) {
		f.FailOn = ""
		return fmt.Errorf("%s: injected failure", line)
	}
	f.Log = append(f.Log, line)
	return nil
}

func (f *Fake) need(name string) (*fakeLink, error) {
	l, ok := f.links[name]
	if !ok {
		return nil, fmt.Errorf("link %s: %w", name, ErrNotExist)
	}
	return l, nil
}

func (f *Fake) AddVeth(v Veth) error {
	if _, ok := f.links[v.Name]; ok {
		return fmt.Errorf("adding %s: %w", v.Name, ErrExist)
	}
	desc := "type veth peer name " + v.PeerName
	if v.PeerNS != "" {
		desc += " netns " + v.PeerNS
	}
	peer := f
	if v.PeerNS != "" {
		peer = f.Peers[v.PeerNS]
	}
	if peer != nil {
		if _, ok := peer.links[v.PeerName]; ok {
			return fmt.Errorf("adding peer %s: %w", v.PeerName, ErrExist)
		}
	}
	mac := ""
	if v.MAC != nil {
		mac = " address " + v.MAC.String()
	}
	if v.PeerMAC != nil {
		desc += " address " + v.PeerMAC.String()
	}
	if err := f.op("ip link add " + v.Name + mac + " " + desc); err != nil {
		return err
	}
	f.links[v.Name] = &fakeLink{desc: mac + " " + desc, alias: v.Alias, peer: v.PeerName, peerNS: peer}
	if peer != nil {
		peer.links[v.PeerName] = &fakeLink{peer: v.Name, peerNS: f, desc: "(peer of " + v.Name + ")"}
	}
	return nil
}

func (f *Fake) DelLink(name string) error {
	l, err := f.need(name)
	if err != nil {
		return err
	}
	if err := f.op("ip link del " + name); err != nil {
		return err
	}
	f.drop(name)
	if l.peerNS != nil {
		l.peerNS.drop(l.peer)
	}
	return nil
}

// drop removes a link and what the kernel removes with it.
func (f *Fake) drop(name string) {
	delete(f.links, name)
	for k := range f.addrs {
		if strings.HasPrefix(k, name+"|") {
			delete(f.addrs, k)
		}
	}
	for k, r := range f.routes {
		if r.Dev == name {
			delete(f.routes, k)
		}
	}
	for k := range f.proxies {
		if strings.HasPrefix(k, name+"|") {
			delete(f.proxies, k)
		}
	}
	for k := range f.fdb {
		if strings.HasPrefix(k, name+"|") {
			delete(f.fdb, k)
		}
	}
}

func (f *Fake) LinkExists(name string) (bool, error) {
	_, ok := f.links[name]
	return ok, nil
}

func (f *Fake) SetUp(name string) error {
	l, err := f.need(name)
	if err != nil {
		return err
	}
	if err := f.op("ip link set " + name + " up"); err != nil {
		return err
	}
	l.up = true
	return nil
}

func (f *Fake) SetMaster(name, bridge string) error {
	l, err := f.need(name)
	if err != nil {
		return err
	}
	br, err := f.need(bridge)
	if err != nil {
		return err
	}
	if !br.bridge {
		return fmt.Errorf("%s is not a bridge", bridge)
	}
	if err := f.op("ip link set " + name + " master " + bridge); err != nil {
		return err
	}
	l.master = bridge
	return nil
}

func (f *Fake) LockPort(name string, mac net.HardwareAddr) error {
	l, err := f.need(name)
	if err != nil {
		return err
	}
	if err := f.op("bridge link set dev " + name + " locked on learning off"); err != nil {
		return err
	}
	l.locked = true
	f.fdb[name+"|"+mac.String()] = true
	return nil
}

func (f *Fake) AddAddr(dev string, a Addr) error {
	if _, err := f.need(dev); err != nil {
		return err
	}
	k := dev + "|" + a.Prefix.String()
	if _, ok := f.addrs[k]; ok {
		return fmt.Errorf("address %s on %s: %w", a.Prefix, dev, ErrExist)
	}
	if err := f.op("ip addr add " + a.String() + " dev " + dev); err != nil {
		return err
	}
	f.addrs[k] = a.String()
	return nil
}

func (f *Fake) DelAddr(dev string, p netip.Prefix) error {
	k := dev + "|" + p.String()
	if _, ok := f.addrs[k]; !ok {
		return fmt.Errorf("address %s on %s: %w", p, dev, ErrNotExist)
	}
	if err := f.op("ip addr del " + p.String() + " dev " + dev); err != nil {
		return err
	}
	delete(f.addrs, k)
	return nil
}

func (f *Fake) AddRoute(r Route) error {
	if _, err := f.need(r.Dev); err != nil {
		return err
	}
	k := routeKey(r)
	if _, ok := f.routes[k]; ok {
		return fmt.Errorf("route %s: %w", r, ErrExist)
	}
	if err := f.op("ip route add " + r.String()); err != nil {
		return err
	}
	f.routes[k] = r
	return nil
}

func (f *Fake) ReplaceRoute(r Route) error {
	if _, err := f.need(r.Dev); err != nil {
		return err
	}
	if err := f.op("ip route replace " + r.String()); err != nil {
		return err
	}
	f.routes[routeKey(r)] = r
	return nil
}

func (f *Fake) DelRoute(r Route) error {
	k := routeKey(r)
	if _, ok := f.routes[k]; !ok {
		return fmt.Errorf("route %s: %w", r, ErrNotExist)
	}
	if err := f.op("ip route del " + r.String()); err != nil {
		return err
	}
	delete(f.routes, k)
	return nil
}

// routeKey is what makes a route unique in the main table: its prefix
// (one route per destination, as without metrics).
func routeKey(r Route) string { return r.Dst.String() }

func (f *Fake) AddProxy(dev string, a netip.Addr) error {
	if _, err := f.need(dev); err != nil {
		return err
	}
	// Like the kernel, adding an existing proxy entry succeeds.
	k := dev + "|" + a.String()
	if err := f.op("ip neigh add proxy " + a.String() + " dev " + dev); err != nil {
		return err
	}
	f.proxies[k] = true
	return nil
}

func (f *Fake) DelProxy(dev string, a netip.Addr) error {
	k := dev + "|" + a.String()
	if !f.proxies[k] {
		return fmt.Errorf("proxy %s on %s: %w", a, dev, ErrNotExist)
	}
	if err := f.op("ip neigh del proxy " + a.String() + " dev " + dev); err != nil {
		return err
	}
	delete(f.proxies, k)
	return nil
}

func (f *Fake) ProxyDevs(a netip.Addr) ([]string, error) {
	var out []string
	for k := range f.proxies {
		dev, addr, _ := strings.Cut(k, "|")
		if addr == a.String() {
			out = append(out, dev)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (f *Fake) RouteGet(a netip.Addr) (RouteInfo, error) {
	for _, r := range f.routes {
		if r.Dst.Bits() == a.BitLen() && r.Dst.Addr() == a {
			return RouteInfo{Dev: r.Dev}, nil
		}
	}
	if ri, ok := f.RouteTo[a]; ok {
		return ri, nil
	}
	if d := f.Default[a.Is6()]; len(d) > 0 {
		return RouteInfo{Dev: d[0]}, nil
	}
	return RouteInfo{}, fmt.Errorf("no route to %s: %w", a, ErrNotExist)
}

func (f *Fake) DefaultDevs(v6 bool) ([]string, error) { return f.Default[v6], nil }

func (f *Fake) NeighbourDevs(v6 bool, ownAlias string) ([]string, error) {
	return f.Neighbours, nil
}

func (f *Fake) LinkStats(name string) (Stats, error) {
	l, err := f.need(name)
	if err != nil {
		return Stats{}, err
	}
	return l.stats, nil
}

func (f *Fake) Close() {}

// State renders the namespace as sorted iproute2 commands.
func (f *Fake) State() string {
	var out []string
	for name, l := range f.links {
		if !l.existing && !strings.HasPrefix(l.desc, "(peer of") {
			out = append(out, "ip link add "+name+l.desc)
		}
		if l.alias != "" {
			out = append(out, "ip link set "+name+" alias \""+l.alias+"\"")
		}
		if l.up && !l.existing {
			out = append(out, "ip link set "+name+" up")
		}
		if l.master != "" {
			out = append(out, "ip link set "+name+" master "+l.master)
		}
		if l.locked {
			out = append(out, "bridge link set dev "+name+" locked on learning off")
		}
	}
	for k, a := range f.addrs {
		dev, _, _ := strings.Cut(k, "|")
		out = append(out, "ip addr add "+a+" dev "+dev)
	}
	for _, r := range f.routes {
		out = append(out, "ip route add "+r.String())
	}
	for k := range f.proxies {
		dev, a, _ := strings.Cut(k, "|")
		out = append(out, "ip neigh add proxy "+a+" dev "+dev)
	}
	for k := range f.fdb {
		dev, mac, _ := strings.Cut(k, "|")
		out = append(out, "bridge fdb add "+mac+" dev "+dev+" master static")
	}
	slices.Sort(out)
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}
