package ct

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"

	"golang.org/x/sys/unix"

	"govz/conf"
	"govz/ct/ctnet"
	"govz/ct/runstate"
	"govz/ct/vzerror"
	"govz/internal/inroot"
	"govz/net/bridge"
	"govz/net/guest"
	"govz/net/venet"
)

// NetSetOptions are vzctl set's bridged-interface options.
type NetSetOptions struct {
	NetIfAdd []string // --netif_add IF[,MAC,HOST_IF,HOST_MAC,BRIDGE]
	NetIfDel []string // --netif_del IF|all
	// IfName (--ifname) selects the interface the options below change.
	IfName                                                string
	MAC, HostIfName, HostMAC, Bridge, MACFilter, IPFilter *string
	// IPAdd and IPDel (--ifname IF --ipadd/--ipdel, as vzctl 7) are the
	// addresses the interface's port filter lets the container send from.
	IPAdd, IPDel []string
}

func (o NetSetOptions) edits() bool {
	return len(o.NetIfAdd) > 0 || len(o.NetIfDel) > 0 || o.IfName != "" || o.changes()
}

func (o NetSetOptions) changes() bool {
	return o.MAC != nil || o.HostIfName != nil || o.HostMAC != nil || o.Bridge != nil || o.MACFilter != nil ||
		o.IPFilter != nil || len(o.IPAdd) > 0 || len(o.IPDel) > 0
}

// editNetIfs applies --netif_del, --netif_add, then --ifname's changes to
// container id's NETIF list. Added entries get their host name and MACs
// filled in, so the config shows what the interface will have.
func editNetIfs(id int, list []string, o NetSetOptions, warnf func(string, ...any)) ([]string, error) {
	var ifs []bridge.NetIf
	for _, s := range list {
		ni, err := bridge.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", err, vzerror.ErrInvalidConfig)
		}
		ifs = append(ifs, ni)
	}
	for _, d := range o.NetIfDel {
		if d == "all" {
			ifs = nil
			continue
		}
		i := bridge.Find(ifs, d)
		if i < 0 {
			warnf("interface %s does not exist, not deleted", d)
			continue
		}
		ifs = slices.Delete(ifs, i, i+1)
	}
	for _, a := range o.NetIfAdd {
		ni, err := bridge.ParseAdd(a)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", err, vzerror.ErrInvalidValue)
		}
		if bridge.Find(ifs, ni.Name) >= 0 {
			return nil, fmt.Errorf("interface %s already exists: %w", ni.Name, vzerror.ErrInvalidValue)
		}
		ifs = append(ifs, bridge.Complete(id, ni))
	}
	if o.changes() && o.IfName == "" {
		return nil, fmt.Errorf("--mac, --host_ifname, --host_mac, --bridge, --mac_filter and --ip_filter need --ifname: %w", vzerror.ErrSyntax)
	}
	if o.IfName != "" {
		i := bridge.Find(ifs, o.IfName)
		if i < 0 {
			return nil, fmt.Errorf("interface %s does not exist (add it with --netif_add): %w", o.IfName, vzerror.ErrInvalidValue)
		}
		ni := ifs[i]
		s := ni.String()
		var err error
		set := func(key string, v *string) {
			if v != nil && err == nil {
				ni, err = bridge.Parse(fmt.Sprintf("%s,%s=%s", ni.String(), key, *v))
			}
		}
		set("mac", o.MAC)
		set("host_ifname", o.HostIfName)
		set("host_mac", o.HostMAC)
		set("bridge", o.Bridge)
		set("mac_filter", o.MACFilter)
		set("ip_filter", o.IPFilter)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", err, vzerror.ErrInvalidValue)
		}
		for _, d := range o.IPDel {
			if d == "all" {
				ni.IPs = nil
				continue
			}
			p, err := bridge.ParseIP(d)
			if err != nil {
				return nil, err
			}
			ni.IPs = bridge.DelIP(ni.IPs, p.Addr())
		}
		for _, a := range o.IPAdd {
			p, err := bridge.ParseIP(a)
			if err != nil {
				return nil, err
			}
			ni.IPs = bridge.AddIP(ni.IPs, p)
		}
		if ni.String() != s {
			ifs[i] = bridge.Complete(id, ni)
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, ni := range ifs {
		if h := bridge.Complete(id, ni).HostName; seen[h] {
			return nil, fmt.Errorf("two interfaces would have host name %s: %w", h, vzerror.ErrInvalidValue)
		} else {
			seen[h] = true
		}
		out = append(out, ni.String())
	}
	return out, nil
}

// setNetwork is vzctl set's networking: it edits next's NETIF list and,
// when the container runs, applies the change of addresses, interfaces,
// host name and DNS to it at once.
func (n *Node) setNetwork(id int, next *conf.Config, o SetOptions) error {
	if o.Net.edits() {
		list, err := editNetIfs(id, next.NetIf, o.Net, n.Log.Warnf)
		if err != nil {
			return err
		}
		next.NetIf = list
	}
	touched := len(o.IPAdd) > 0 || len(o.IPDel) > 0 || o.Net.edits() || o.Layer.Hostname != nil ||
		o.Layer.Nameserver != nil || o.Layer.SearchDomain != nil
	if !touched || !n.running(id, n.Effective(next)) {
		return nil
	}
	return n.netLive(id, next, o)
}

// netLive brings the running container id's networking in line with next.
func (n *Node) netLive(id int, next *conf.Config, o SetOptions) error {
	rd := n.RunDir(id)
	rs, err := runstate.Read(rd)
	if err != nil || !rs.Alive() {
		return fmt.Errorf("container %d: %w", id, vzerror.ErrNotRunning)
	}
	if !ctnet.SameNetNS(rs.SupervisorPID) {
		// Routes, proxy entries and rules belong in the namespace the
		// container's host side lives in, the supervisor's.
		return fmt.Errorf("container %d was started from another network namespace: run vzctl set there: %w", id, vzerror.ErrSystem)
	}
	eff := n.Effective(next)
	nc, err := n.netConf(id, eff, n.Log.Warnf)
	if err != nil {
		return err
	}
	st, err := ctnet.ReadState(rd)
	if err != nil {
		return fmt.Errorf("%w: %w", err, vzerror.ErrSystem)
	}
	// The edits apply to what the container has now, as they apply to
	// its config: a change made earlier without --save stays.
	var cur []netip.Prefix
	var curStr []string
	if st.Venet != nil {
		for _, a := range st.Venet.Addrs {
			cur = append(cur, a.Prefix)
			curStr = append(curStr, a.Prefix.String())
		}
	}
	quiet := func(string, ...any) {}
	wantStr, err := editIPs(curStr, o.IPAdd, o.IPDel, quiet)
	if err != nil {
		return err
	}
	var toAdd, toDel []netip.Prefix
	var want []netip.Prefix
	for _, s := range wantStr {
		p, err := ctnet.Prefix(s)
		if err != nil {
			return err
		}
		if p.Addr().Is6() && !nc.IPv6 {
			continue
		}
		want = append(want, p)
		if !slices.Contains(cur, p) {
			toAdd = append(toAdd, p)
		}
	}
	for _, p := range cur {
		if !slices.Contains(want, p) {
			toDel = append(toDel, p)
		}
	}
	wantIfs := st.NetIfs
	if o.Net.edits() {
		if wantIfs, err = editNetIfs(id, st.NetIfs, o.Net, quiet); err != nil {
			return err
		}
	}
	var ifsUp, ifsFilter []bridge.NetIf
	var ifsDown []string
	for _, s := range wantIfs {
		if !slices.Contains(st.NetIfs, s) {
			ni, err := bridge.Parse(s)
			if err != nil {
				return fmt.Errorf("%w: %w", err, vzerror.ErrInvalidValue)
			}
			ni = bridge.Complete(id, ni)
			if old := netIfNamed(st.NetIfs, ni.Name); old != "" && netIfSameLink(old, ni) {
				// Only the port filter changed: the pair and the guest's
				// configuration of it stay.
				ifsFilter = append(ifsFilter, ni)
				continue
			}
			ifsUp = append(ifsUp, ni)
		}
	}
	for _, s := range st.NetIfs {
		if slices.Contains(wantIfs, s) {
			continue
		}
		if ni, err := bridge.Parse(s); err == nil && slices.ContainsFunc(ifsFilter, func(f bridge.NetIf) bool { return f.Name == ni.Name }) {
			continue
		}
		ifsDown = append(ifsDown, s)
	}
	if err := ctnet.Preflight(n.inv(), id, toAdd, nc.Neighbours); err != nil {
		return err
	}
	if len(toAdd)+len(toDel)+len(ifsUp)+len(ifsDown)+len(ifsFilter) > 0 {
		routed := st.Venet != nil || len(nc.Addrs) > 0
		e, closeEnv, err := ctnet.OpenEnv(id, nc, rs.InitPID, routed, n.Log.Warnf)
		if err != nil {
			return fmt.Errorf("%w: %w", err, vzerror.ErrSystem)
		}
		defer closeEnv()
		err = n.netApplyLive(id, e, st, nc, toAdd, toDel, ifsUp, ifsDown, ifsFilter)
		if werr := ctnet.WriteState(rd, st); werr != nil && err == nil {
			err = fmt.Errorf("recording container %d networking: %w: %w", id, werr, vzerror.ErrSystem)
		}
		if err != nil {
			return err
		}
	}
	// The guest's files describe what it has now.
	nc.Addrs = want
	// A guest file the host refuses (a FIFO, socket or device where the
	// file belongs) fails the set, as a failed distribution script did
	// for vzctl; the live changes above stay.
	gerr := guest.Apply(n.path(eff.VERoot, id), ctnet.GuestConfig(eff, nc))
	if h := conf.Str(o.Layer.Hostname); h != "" {
		if err := setUTSHostname(rs.InitPID, h); err != nil {
			return fmt.Errorf("setting the host name of container %d: %w: %w", id, err, vzerror.ErrSystem)
		}
	}
	if errors.Is(gerr, inroot.ErrWrongType) {
		return fmt.Errorf("writing the guest's network configuration: %w: %w", gerr, vzerror.ErrActionScript)
	}
	if gerr != nil {
		n.Log.Warnf("Warning: writing the guest's network configuration: %v", gerr)
	}
	return nil
}

// netApplyLive does the live changes, recording each in st as it succeeds.
func (n *Node) netApplyLive(id int, e *venet.Env, st *ctnet.State, nc ctnet.Plan, toAdd, toDel []netip.Prefix,
	ifsUp []bridge.NetIf, ifsDown []string, ifsFilter []bridge.NetIf) error {
	var errs []error
	if st.Venet != nil {
		for _, p := range toDel {
			if err := venet.Del(e, st.Venet, p.Addr()); err != nil {
				errs = append(errs, err)
			}
			n.Log.Infof("Deleted IP address %s", p.Addr())
		}
		if len(st.Venet.Addrs) == 0 && len(toAdd) == 0 {
			if err := venet.Down(e, st.Venet); err != nil {
				errs = append(errs, err)
			} else {
				st.Venet = nil
			}
		}
	}
	if len(toAdd) > 0 {
		if st.Venet == nil {
			vs, err := venet.Up(e, toAdd, nc.Neighbours)
			if err != nil {
				return errors.Join(append(errs, ctnet.RoutedErr(err))...)
			}
			st.Venet = vs
		} else {
			for _, p := range toAdd {
				if err := venet.Add(e, st.Venet, p, nc.Neighbours); err != nil {
					return errors.Join(append(errs, ctnet.RoutedErr(err))...)
				}
			}
		}
		for _, p := range toAdd {
			n.Log.Infof("Adding IP address(es): %s", p.Addr())
		}
	}
	be := &bridge.Env{CT: id, Host: e.Host, Filter: n.portFilter(), GuestNS: e.GuestNS}
	for _, s := range ifsDown {
		ni, err := bridge.Parse(s)
		if err == nil {
			err = bridge.Down(be, ni)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st.NetIfs = slices.DeleteFunc(st.NetIfs, func(x string) bool { return x == s })
	}
	for _, ni := range ifsFilter {
		if err := bridge.Refilter(be, ni); err != nil {
			errs = append(errs, fmt.Errorf("interface %s: %w", ni.Name, err))
			continue
		}
		st.NetIfs = slices.DeleteFunc(st.NetIfs, func(x string) bool { return netIfNamed([]string{x}, ni.Name) != "" })
		st.NetIfs = append(st.NetIfs, ni.String())
	}
	for _, ni := range ifsUp {
		if err := bridge.Up(be, ni); err != nil {
			return errors.Join(append(errs, fmt.Errorf("interface %s: %w: %w", ni.Name, err, vzerror.ErrVeth))...)
		}
		st.NetIfs = append(st.NetIfs, ni.String())
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", errors.Join(errs...), vzerror.ErrSystem)
	}
	return nil
}

// netIfNamed returns the entry of list for interface name, "" if none.
func netIfNamed(list []string, name string) string {
	for _, s := range list {
		if ni, err := bridge.Parse(s); err == nil && ni.Name == name {
			return s
		}
	}
	return ""
}

func netIfSameLink(old string, ni bridge.NetIf) bool {
	o, err := bridge.Parse(old)
	return err == nil && bridge.SameLink(o, ni)
}

// setUTSHostname sets the host name in the UTS namespace of process pid.
// The namespace is joined by one locked thread, which goes back to its
// own namespace afterwards (or, failing that, stays locked and dies with
// its goroutine instead of returning to the scheduler in the wrong
// namespace). Joining UTS touches nothing else of the thread.
func setUTSHostname(pid int, name string) error {
	target, err := os.Open(fmt.Sprintf("/proc/%d/ns/uts", pid))
	if err != nil {
		return err
	}
	defer target.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/uts")
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWUTS); err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		err = unix.Sethostname([]byte(name))
		if rerr := unix.Setns(int(self.Fd()), unix.CLONE_NEWUTS); rerr == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}
