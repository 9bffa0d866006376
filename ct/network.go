package ct

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"govz/conf"
	"govz/conf/atomicfile"
	"govz/ct/revert"
	"govz/ct/vzerror"
	"govz/net/arp"
	"govz/net/bridge"
	"govz/net/fw"
	"govz/net/guest"
	"govz/net/link"
	"govz/net/sysctl"
	"govz/net/venet"
)

// Networking of a running container: the routed addresses (net/venet),
// the bridged interfaces (net/bridge) and the guest's own configuration
// (net/guest). What one boot set up is recorded in the run directory
// (netStateName) so that whoever tears it down (the supervisor when the
// container stops, crashes or halts from inside; vzctl set --ipdel; the
// next start after a supervisor was killed) removes exactly that.

const netStateName = "net.json"

// netState is what networking made for the current boot.
type netState struct {
	Venet  *venet.State `json:"venet,omitempty"`
	NetIfs []string     `json:"netifs,omitempty"` // completed bridge.NetIf strings
}

func (s *netState) empty() bool { return s.Venet == nil && len(s.NetIfs) == 0 }

func readNetState(runDir string) (*netState, error) {
	b, err := os.ReadFile(filepath.Join(runDir, netStateName))
	if errors.Is(err, os.ErrNotExist) {
		return &netState{}, nil
	}
	if err != nil {
		return nil, err
	}
	var s netState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", filepath.Join(runDir, netStateName), err)
	}
	return &s, nil
}

func writeNetState(runDir string, s *netState) error {
	p := filepath.Join(runDir, netStateName)
	if s.empty() {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(p, append(b, '\n'), 0o600)
}

// netConf is the networking part of a container's effective config.
type netConf struct {
	addrs  []netip.Prefix
	nb     venet.Neighbours
	ipv6   bool
	netifs []bridge.NetIf
}

// netPrefix is how an address is held: ADDR alone is a host prefix.
func netPrefix(s string) (netip.Prefix, error) {
	p, err := conf.ParseIP(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if strings.Contains(p, "/") {
		return netip.MustParsePrefix(p), nil
	}
	a := netip.MustParseAddr(p)
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (n *Node) netConf(id int, eff *conf.Config, warnf func(string, ...any)) (netConf, error) {
	nc := netConf{ipv6: conf.Bool(eff.IPv6, true)}
	if _, err := os.Stat("/proc/net/if_inet6"); err != nil {
		nc.ipv6 = false // the host has IPv6 off (ipv6.disable=1)
	}
	nb, err := venet.ParseNeighbours(conf.Str(eff.NeighbourDevs))
	if err != nil {
		return nc, fmt.Errorf("%v: %w", err, vzerror.ErrInvalidConfig)
	}
	nc.nb = nb
	for _, s := range eff.IPAddress {
		p, err := netPrefix(s)
		if err != nil {
			return nc, err
		}
		if p.Addr().Is6() && !nc.ipv6 {
			warnf("IPv6 is disabled (ipv6 = false in vz.toml): address %s not added", p)
			continue
		}
		nc.addrs = append(nc.addrs, p)
	}
	for _, s := range eff.NetIf {
		ni, err := bridge.Parse(s)
		if err != nil {
			return nc, fmt.Errorf("%v: %w", err, vzerror.ErrInvalidConfig)
		}
		nc.netifs = append(nc.netifs, bridge.Complete(id, ni))
	}
	return nc, nil
}

// netGuestConfig is what the guest's files should say.
func netGuestConfig(eff *conf.Config, nc netConf) guest.Config {
	c := guest.Config{Hostname: conf.Str(eff.Hostname), Addrs: nc.addrs, IPv6: nc.ipv6,
		GatewayV4: venet.GatewayV4, GatewayV6: venet.GatewayV6, Iface: venet.CTIf, OSTemplate: conf.Str(eff.OSTemplate)}
	for _, ni := range nc.netifs {
		c.NetIfs = append(c.NetIfs, guest.NetIf{Name: ni.Name, MAC: ni.MAC, Addrs: ni.IPs})
	}
	var hostNS, hostSearch []string
	inherit := func() {
		if hostNS == nil && hostSearch == nil {
			hostNS, hostSearch = guest.HostResolv("/etc/resolv.conf")
		}
	}
	for _, s := range eff.Nameserver {
		if s == "inherit" {
			inherit()
			c.Nameservers = append(c.Nameservers, hostNS...)
			continue
		}
		c.Nameservers = append(c.Nameservers, s)
	}
	if eff.SearchDomain != nil {
		c.Search = []string{}
		for _, s := range eff.SearchDomain {
			if s == "inherit" {
				inherit()
				c.Search = append(c.Search, hostSearch...)
				continue
			}
			c.Search = append(c.Search, s)
		}
	}
	return c
}

// netEnv opens what the routed mode drives for container id (the rules
// only with routed): guestPID 0 means the container is not running.
// close releases it.
func netEnv(id int, nc netConf, guestPID int, routed bool, warnf func(string, ...any)) (e *venet.Env, close func(), err error) {
	host, err := link.Open()
	if err != nil {
		return nil, nil, err
	}
	e = &venet.Env{CT: id, Host: host, Sysctl: sysctl.Proc{}, IPv6: nc.ipv6, Announce: arp.Announce, Logf: warnf}
	closers := []func(){host.Close}
	close = func() {
		for _, c := range closers {
			c()
		}
	}
	if routed {
		tables, err := fw.Open()
		if err != nil {
			close()
			return nil, nil, err
		}
		e.Filter = tables
	}
	if guestPID > 0 {
		e.GuestNS = fmt.Sprintf("/proc/%d/ns/net", guestPID)
		g, err := link.OpenAt(e.GuestNS)
		if err != nil {
			close()
			return nil, nil, err
		}
		e.Guest = g
		closers = append(closers, g.Close)
	}
	return e, close, nil
}

// netWarnf is the warning sink of hooks run in the supervisor, whose
// standard error is its log.
func netWarnf(id int) func(string, ...any) {
	return func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "%s %d: warning: %s\n", time.Now().Format("2006-01-02T15:04:05.000"), id, fmt.Sprintf(format, a...))
	}
}

// netPrestart sets up container id's networking before its init runs:
// runs in the supervisor (Hooks.Prestart), on every boot.
func (n *Node) netPrestart(id int, eff *conf.Config, initPID int) error {
	warnf := netWarnf(id)
	rd := n.RunDir(id)
	// A boot whose teardown never ran (its supervisor was killed).
	if err := n.netTeardown(id, warnf); err != nil {
		warnf("cleaning up the previous boot's networking: %v", err)
	}
	nc, err := n.netConf(id, eff, warnf)
	if err != nil {
		return err
	}
	st := &netState{}
	if len(nc.addrs) > 0 || len(nc.netifs) > 0 {
		e, closeEnv, err := netEnv(id, nc, initPID, len(nc.addrs) > 0, warnf)
		if err != nil {
			return fmt.Errorf("container %d networking: %v: %w", id, err, vzerror.ErrSystem)
		}
		defer closeEnv()
		// Undone before closeEnv runs (defers run last first).
		r := revert.New()
		defer r.Fail()
		if len(nc.addrs) > 0 {
			vs, err := venet.Up(e, nc.addrs, nc.nb)
			if err != nil {
				return netRoutedErr(err)
			}
			st.Venet = vs
			r.Add(func() { venet.Down(e, vs) })
		}
		be := &bridge.Env{CT: id, Host: e.Host, Filter: n.portFilter(), GuestNS: fmt.Sprintf("/proc/%d/ns/net", initPID)}
		for _, ni := range nc.netifs {
			if err := bridge.Up(be, ni); err != nil {
				return fmt.Errorf("interface %s: %v: %w", ni.Name, err, vzerror.ErrVeth)
			}
			st.NetIfs = append(st.NetIfs, ni.String())
			r.Add(func() { bridge.Down(be, ni) })
		}
		if err := writeNetState(rd, st); err != nil {
			return fmt.Errorf("recording container %d networking: %v: %w", id, err, vzerror.ErrSystem)
		}
		r.Success()
	}
	if err := guest.Apply(n.path(eff.VERoot, id), netGuestConfig(eff, nc)); err != nil {
		warnf("writing the guest's network configuration: %v", err)
	}
	return nil
}

// portFilter is what applies the bridge port filters (the nft binary in
// vzctl's namespace), one lock for the node's vzctl processes.
func (n *Node) portFilter() bridge.Netfilter {
	return fw.NFT{LockPath: filepath.Join(n.LockDir(), "nftables.lock")}
}

func netRoutedErr(err error) error {
	if errors.Is(err, venet.ErrLocal) {
		return fmt.Errorf("%v: %w", err, vzerror.ErrIPInUse)
	}
	return fmt.Errorf("%v: %w", err, vzerror.ErrCantAddIP)
}

// netPoststop removes container id's networking once it is down (the
// supervisor's Hooks.Poststop: stop, crash, halt or reboot from inside).
func (n *Node) netPoststop(id int) {
	warnf := netWarnf(id)
	if err := n.netTeardown(id, warnf); err != nil {
		warnf("removing the container's networking: %v", err)
	}
}

// netTeardown removes what the run directory's record says exists, then
// the record; on error the record stays for the next attempt.
func (n *Node) netTeardown(id int, warnf func(string, ...any)) error {
	rd := n.RunDir(id)
	st, err := readNetState(rd)
	if err != nil || st.empty() {
		return err
	}
	host, err := link.Open()
	if err != nil {
		return err
	}
	defer host.Close()
	var errs []error
	if st.Venet != nil {
		tables, err := fw.Open()
		if err != nil {
			return err
		}
		e := &venet.Env{CT: id, Host: host, Filter: tables, Logf: warnf}
		if err := venet.Down(e, st.Venet); err != nil {
			errs = append(errs, err)
		} else {
			st.Venet = nil
		}
	}
	be := &bridge.Env{CT: id, Host: host, Filter: n.portFilter()}
	var left []string
	for _, s := range st.NetIfs {
		ni, perr := bridge.Parse(s)
		if perr == nil {
			perr = bridge.Down(be, ni)
		}
		if perr != nil {
			errs = append(errs, perr)
			left = append(left, s)
		}
	}
	st.NetIfs = left
	if err := writeNetState(rd, st); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// netPreflight checks, in the vzctl process before a start or a live
// --ipadd, what would otherwise fail silently in the supervisor: an
// address that is the node's own (78), the node's sysctls (set them with
// setup_sysctls, else name each missing one), and the LAN probe for
// another host using an address (warning, or 78 with error_on_arpfail).
func (n *Node) netPreflight(id int, addrs []netip.Prefix, nb venet.Neighbours) error {
	if len(addrs) == 0 {
		return nil
	}
	if err := n.netLiveIPsFree(id, addrs); err != nil {
		return err
	}
	host, err := link.Open()
	if err != nil {
		return fmt.Errorf("%v: %w", err, vzerror.ErrSystem)
	}
	defer host.Close()
	var v4, v6 bool
	var allDevs []string
	devsOf := map[netip.Addr][]string{}
	for _, p := range addrs {
		a := p.Addr()
		devs, err := venet.NeighbourDevs(host, nb, a, venet.HostIf(id))
		if err != nil {
			return netRoutedErr(err)
		}
		devsOf[a] = devs
		allDevs = append(allDevs, devs...)
		v4, v6 = v4 || a.Is4(), v6 || a.Is6()
	}
	slices.Sort(allDevs)
	allDevs = slices.Compact(allDevs)
	missing := venet.Missing(sysctl.Proc{}, venet.Needs(v4, v6, allDevs))
	if conf.Bool(n.Global.SetupSysctls, false) {
		if err := venet.Apply(sysctl.Proc{}, missing); err != nil {
			return fmt.Errorf("%v: %w", err, vzerror.ErrSystem)
		}
	} else {
		for _, m := range missing {
			n.Log.Warnf("Warning: %s needs sysctl %s (sysctl -w %s, or setup_sysctls = true in vz.toml)", m.Why, m, m)
		}
	}
	if conf.Bool(n.Global.SkipARPDetect, false) {
		return nil
	}
	return n.netProbe(devsOf)
}

// netLiveIPsFree refuses addresses another running container holds,
// also those it was given without --save (checkIPsFree reads configs).
func (n *Node) netLiveIPsFree(id int, addrs []netip.Prefix) error {
	ids, err := n.IDs()
	if err != nil {
		return err
	}
	for _, other := range ids {
		if other == id {
			continue
		}
		st, err := readNetState(n.RunDir(other))
		if err != nil || st.Venet == nil {
			continue
		}
		for _, p := range addrs {
			if st.Venet.Has(p.Addr()) {
				return fmt.Errorf("ip address %s is in use by container %d: %w", p.Addr(), other, vzerror.ErrIPInUse)
			}
		}
	}
	return nil
}

// netProbeTimeout bounds the duplicate-address probe: hosts on a LAN answer
// within a millisecond; vzctl waited a second.
const netProbeTimeout = 200 * time.Millisecond

// probe asks every neighbour device, in parallel, whether another host
// answers for the addresses.
func (n *Node) netProbe(devsOf map[netip.Addr][]string) error {
	type hit struct {
		a   netip.Addr
		dev string
		mac string
	}
	var mu sync.Mutex
	var hits []hit
	var wg sync.WaitGroup
	for a, devs := range devsOf {
		for _, d := range devs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mac, err := arp.Probe(d, a, netProbeTimeout)
				if err != nil {
					n.Log.Debugf(1, "probing %s on %s: %v", a, d, err)
					return
				}
				if mac != nil {
					mu.Lock()
					hits = append(hits, hit{a, d, mac.String()})
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	slices.SortFunc(hits, func(x, y hit) int { return x.a.Compare(y.a) })
	for _, h := range hits {
		msg := fmt.Sprintf("ip address %s is in use on %s (answered by %s)", h.a, h.dev, h.mac)
		if conf.Bool(n.Global.ErrorOnARP, false) {
			return fmt.Errorf("%s: %w", msg, vzerror.ErrIPInUse)
		}
		n.Log.Warnf("Warning: %s", msg)
	}
	return nil
}

// netStartPreflight is netPreflight for container id's start.
func (n *Node) netStartPreflight(id int, eff *conf.Config) error {
	nc, err := n.netConf(id, eff, n.Log.Warnf)
	if err != nil {
		return err
	}
	return n.netPreflight(id, nc.addrs, nc.nb)
}
