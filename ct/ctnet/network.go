// Package ctnet is a container's networking: the routed addresses
// (net/venet), the bridged interfaces (net/bridge) and the guest's own
// configuration (net/guest), planned from its config (Plan), set up and
// torn down by the supervisor's network step (Step, Up, Down), checked
// before a start (Preflight) and counted for vzlist (Traffic). What one
// boot set up is recorded in the run directory (StateName) so that
// whoever tears it down (the supervisor when the container stops,
// crashes or halts from inside; vzctl set --ipdel; the next start after
// a supervisor was killed) removes exactly that.
package ctnet

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
	"govz/ct/inventory"
	"govz/ct/revert"
	"govz/ct/vzerror"
	"govz/ct/vzlog"
	"govz/net/arp"
	"govz/net/bridge"
	"govz/net/fw"
	"govz/net/guest"
	"govz/net/link"
	"govz/net/sysctl"
	"govz/net/venet"
)

// StateName is the run record of a boot's networking in the run directory.
const StateName = "net.json"

// State is what networking made for the current boot.
type State struct {
	Venet  *venet.State `json:"venet,omitempty"`
	NetIfs []string     `json:"netifs,omitempty"` // completed bridge.NetIf strings
}

func (s *State) Empty() bool { return s.Venet == nil && len(s.NetIfs) == 0 }

func ReadState(runDir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(runDir, StateName))
	if errors.Is(err, os.ErrNotExist) {
		return &State{}, nil
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", filepath.Join(runDir, StateName), err)
	}
	return &s, nil
}

func WriteState(runDir string, s *State) error {
	p := filepath.Join(runDir, StateName)
	if s.Empty() {
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

// Plan is the networking part of a container's effective config.
type Plan struct {
	Addrs      []netip.Prefix   // routed (venet) addresses
	Neighbours venet.Neighbours // where their proxy entries go
	IPv6       bool             // the container has IPv6 (and the host too)
	NetIfs     []bridge.NetIf   // bridged interfaces, completed
}

// Prefix is how an address is held: ADDR alone is a host prefix.
func Prefix(s string) (netip.Prefix, error) {
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

// HostPlan is PlanFor on this host.
func HostPlan(id int, eff *conf.Config, warnf func(string, ...any)) (Plan, error) {
	_, err := os.Stat("/proc/net/if_inet6")
	return PlanFor(id, eff, err == nil, warnf)
}

// PlanFor is the networking part of container id's effective config eff
// on a host with IPv6 on or off (ipv6.disable=1).
func PlanFor(id int, eff *conf.Config, hostIPv6 bool, warnf func(string, ...any)) (Plan, error) {
	nc := Plan{IPv6: conf.Bool(eff.IPv6, true) && hostIPv6}
	nb, err := venet.ParseNeighbours(conf.Str(eff.NeighbourDevs))
	if err != nil {
		return nc, fmt.Errorf("%w: %w", err, vzerror.ErrInvalidConfig)
	}
	nc.Neighbours = nb
	for _, s := range eff.IPAddress {
		p, err := Prefix(s)
		if err != nil {
			return nc, err
		}
		if p.Addr().Is6() && !nc.IPv6 {
			warnf("IPv6 is disabled (ipv6 = false in vz.toml): address %s not added", p)
			continue
		}
		nc.Addrs = append(nc.Addrs, p)
	}
	for _, s := range eff.NetIf {
		ni, err := bridge.Parse(s)
		if err != nil {
			return nc, fmt.Errorf("%w: %w", err, vzerror.ErrInvalidConfig)
		}
		nc.NetIfs = append(nc.NetIfs, bridge.Complete(id, ni))
	}
	return nc, nil
}

// GuestConfig is what the guest's files should say.
func GuestConfig(eff *conf.Config, nc Plan) guest.Config {
	var ns, search []string
	if slices.Contains(eff.Nameserver, "inherit") || slices.Contains(eff.SearchDomain, "inherit") {
		ns, search = guest.HostResolv("/etc/resolv.conf")
	}
	return GuestConfigWith(eff, nc, ns, search)
}

// GuestConfigWith is GuestConfig on a host whose resolv.conf says
// hostNS and hostSearch.
func GuestConfigWith(eff *conf.Config, nc Plan, hostNS, hostSearch []string) guest.Config {
	c := guest.Config{Hostname: conf.Str(eff.Hostname), Addrs: nc.Addrs, IPv6: nc.IPv6,
		GatewayV4: venet.GatewayV4, GatewayV6: venet.GatewayV6, Iface: venet.CTIf, OSTemplate: conf.Str(eff.OSTemplate)}
	for _, ni := range nc.NetIfs {
		c.NetIfs = append(c.NetIfs, guest.NetIf{Name: ni.Name, MAC: ni.MAC, Addrs: ni.IPs})
	}
	for _, s := range eff.Nameserver {
		if s == "inherit" {
			c.Nameservers = append(c.Nameservers, hostNS...)
			continue
		}
		c.Nameservers = append(c.Nameservers, s)
	}
	if eff.SearchDomain != nil {
		c.Search = []string{}
		for _, s := range eff.SearchDomain {
			if s == "inherit" {
				c.Search = append(c.Search, hostSearch...)
				continue
			}
			c.Search = append(c.Search, s)
		}
	}
	return c
}

// OpenEnv opens what the routed mode drives for container id (the rules
// only with routed): guestPID 0 means the container is not running.
// close releases it.
func OpenEnv(id int, nc Plan, guestPID int, routed bool, warnf func(string, ...any)) (e *venet.Env, close func(), err error) {
	host, err := link.Open()
	if err != nil {
		return nil, nil, err
	}
	e = &venet.Env{CT: id, Host: host, Sysctl: sysctl.Proc{}, IPv6: nc.IPv6, Announce: arp.Announce, Logf: warnf}
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

// Warnf is the warning sink of hooks run in the supervisor, whose
// standard error is its log.
func Warnf(id int) func(string, ...any) {
	return func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "%s %d: warning: %s\n", vzlog.Stamp(time.Now()), id, fmt.Sprintf(format, a...))
	}
}

// Step is the network step of a boot's hook plan (hooks.go): what
// the container's networking is to be, computed by the command that
// started it.
type Step struct {
	ID         int              `json:"id"`
	RunDir     string           `json:"run_dir"`
	LockDir    string           `json:"lock_dir"`
	Root       string           `json:"root"`
	Addrs      []netip.Prefix   `json:"addrs,omitempty"`
	Neighbours venet.Neighbours `json:"neighbours"`
	IPv6       bool             `json:"ipv6"`
	NetIfs     []string         `json:"netifs,omitempty"` // completed bridge.NetIf strings
	Guest      guest.Config     `json:"guest"`
}

// plan is the Plan d carries.
func (d *Step) plan() (Plan, error) {
	nc := Plan{Addrs: d.Addrs, Neighbours: d.Neighbours, IPv6: d.IPv6}
	for _, s := range d.NetIfs {
		ni, err := bridge.Parse(s)
		if err != nil {
			return nc, fmt.Errorf("%w: %w", err, vzerror.ErrInvalidConfig)
		}
		nc.NetIfs = append(nc.NetIfs, ni)
	}
	return nc, nil
}

// Up sets up a container's networking before its init runs: the
// supervisor's prestart step, on every boot.
func Up(d *Step, initPID int) error {
	id, rd := d.ID, d.RunDir
	warnf := Warnf(id)
	// A boot whose teardown never ran (its supervisor was killed).
	if err := Teardown(id, rd, d.LockDir, warnf); err != nil {
		warnf("cleaning up the previous boot's networking: %v", err)
	}
	nc, err := d.plan()
	if err != nil {
		return err
	}
	st := &State{}
	if len(nc.Addrs) > 0 || len(nc.NetIfs) > 0 {
		e, closeEnv, err := OpenEnv(id, nc, initPID, len(nc.Addrs) > 0, warnf)
		if err != nil {
			return fmt.Errorf("container %d networking: %w: %w", id, err, vzerror.ErrSystem)
		}
		defer closeEnv()
		// Undone before closeEnv runs (defers run last first).
		r := revert.New()
		defer r.Fail()
		if len(nc.Addrs) > 0 {
			vs, err := venet.Up(e, nc.Addrs, nc.Neighbours)
			if err != nil {
				return RoutedErr(err)
			}
			st.Venet = vs
			r.Add(func() { venet.Down(e, vs) })
		}
		be := &bridge.Env{CT: id, Host: e.Host, Filter: PortFilter(d.LockDir), GuestNS: fmt.Sprintf("/proc/%d/ns/net", initPID)}
		for _, ni := range nc.NetIfs {
			if err := bridge.Up(be, ni); err != nil {
				return fmt.Errorf("interface %s: %w: %w", ni.Name, err, vzerror.ErrVeth)
			}
			st.NetIfs = append(st.NetIfs, ni.String())
			r.Add(func() { bridge.Down(be, ni) })
		}
		if err := WriteState(rd, st); err != nil {
			return fmt.Errorf("recording container %d networking: %w: %w", id, err, vzerror.ErrSystem)
		}
		r.Success()
	}
	if err := guest.Apply(d.Root, d.Guest); err != nil {
		warnf("writing the guest's network configuration: %v", err)
	}
	return nil
}

// Veths are the pairs d plans, as (inside, outside) names: what CRIU is
// to recreate on a restore.
func (d *Step) Veths() ([][2]string, error) {
	nc, err := d.plan()
	if err != nil {
		return nil, err
	}
	var out [][2]string
	if len(nc.Addrs) > 0 {
		out = append(out, [2]string{venet.CTIf, venet.HostIf(d.ID)})
	}
	for _, ni := range nc.NetIfs {
		ni = bridge.Complete(d.ID, ni)
		out = append(out, [2]string{ni.Name, ni.HostName})
	}
	return out, nil
}

// Veths are the pairs a running boot's record st names, as (inside,
// outside): what a checkpoint saves the inside end of.
func (st *State) Veths() ([][2]string, error) {
	var out [][2]string
	if st.Venet != nil {
		out = append(out, [2]string{venet.CTIf, st.Venet.HostIf})
	}
	for _, s := range st.NetIfs {
		ni, err := bridge.Parse(s)
		if err != nil {
			return nil, err
		}
		out = append(out, [2]string{ni.Name, ni.HostName})
	}
	return out, nil
}

// portFilter is what applies the bridge port filters (the nft binary in
// vzctl's namespace), one lock for the node's vzctl processes.
func PortFilter(lockDir string) bridge.Netfilter {
	return fw.NFT{LockPath: filepath.Join(lockDir, "nftables.lock")}
}

func RoutedErr(err error) error {
	if errors.Is(err, venet.ErrLocal) {
		return fmt.Errorf("%w: %w", err, vzerror.ErrIPInUse)
	}
	return fmt.Errorf("%w: %w", err, vzerror.ErrCantAddIP)
}

// netPoststop removes container id's networking once it is down (the
// supervisor's Hooks.Poststop: stop, crash, halt or reboot from inside).
// Down removes a container's networking once it is down (the
// supervisor's poststop step: stop, crash, halt or reboot from inside).
func Down(id int, runDir, lockDir string) {
	warnf := Warnf(id)
	if err := Teardown(id, runDir, lockDir, warnf); err != nil {
		warnf("removing the container's networking: %v", err)
	}
}

// netTeardown removes what the run directory's record says exists, then
// the record; on error the record stays for the next attempt.
func Teardown(id int, rd, lockDir string, warnf func(string, ...any)) error {
	st, err := ReadState(rd)
	if err != nil || st.Empty() {
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
	be := &bridge.Env{CT: id, Host: host, Filter: PortFilter(lockDir)}
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
	if err := WriteState(rd, st); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Preflight checks, in the vzctl process before a start or a live
// --ipadd, what would otherwise fail silently in the supervisor: an
// address that is the node's own (78), the node's sysctls (set them with
// setup_sysctls, else name each missing one), and the LAN probe for
// another host using an address (warning, or 78 with error_on_arpfail).
func Preflight(n *inventory.Node, id int, addrs []netip.Prefix, nb venet.Neighbours) error {
	if len(addrs) == 0 {
		return nil
	}
	if err := LiveIPsFree(n, id, addrs); err != nil {
		return err
	}
	host, err := link.Open()
	if err != nil {
		return fmt.Errorf("%w: %w", err, vzerror.ErrSystem)
	}
	defer host.Close()
	var v4, v6 bool
	var allDevs []string
	devsOf := map[netip.Addr][]string{}
	for _, p := range addrs {
		a := p.Addr()
		devs, err := venet.NeighbourDevs(host, nb, a, venet.HostIf(id))
		if err != nil {
			return RoutedErr(err)
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
			return fmt.Errorf("%w: %w", err, vzerror.ErrSystem)
		}
	} else {
		for _, m := range missing {
			n.Log.Warnf("Warning: %s needs sysctl %s (sysctl -w %s, or setup_sysctls = true in vz.toml)", m.Why, m, m)
		}
	}
	if conf.Bool(n.Global.SkipARPDetect, false) {
		return nil
	}
	return netProbe(n, devsOf)
}

// LiveIPsFree refuses addresses another running container holds,
// also those it was given without --save (checkIPsFree reads configs).
func LiveIPsFree(n *inventory.Node, id int, addrs []netip.Prefix) error {
	ids, err := n.IDs()
	if err != nil {
		return err
	}
	for _, other := range ids {
		if other == id {
			continue
		}
		st, err := ReadState(n.RunDir(other))
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
func netProbe(n *inventory.Node, devsOf map[netip.Addr][]string) error {
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
