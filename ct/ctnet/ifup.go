package ctnet

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"govz/ct/inventory"
	"govz/ct/lock"
	"govz/ct/runstate"
	"govz/ct/vzerror"
	"govz/net/arp"
	"govz/net/link"
	"govz/net/linkwatch"
	"govz/net/venet"
)

// After a neighbour device comes back up: the kernel deleted every proxy
// ARP/NDP entry on it when it went down (net/venet's RestoreProxies says
// why), so the routed containers are unreachable from the LAN until the
// entries are made again. vzctl shipped vzifup-post DEV for the
// distribution's ifup to run; NetIfUp is it, for every running container;
// NetWatch runs it on its own whenever a link comes up (net/linkwatch);
// NetReproxy does one container.

// netReproxyLockWait bounds the wait for a container's lock, held by a
// vzctl command at work on it (a start holds it for the whole boot).
const netReproxyLockWait = 10 * time.Second

// NetIfUp restores, on every container running from this network
// namespace, the proxy entries of its routed addresses on device dev,
// which came (back) up, records the devices newly chosen for them, and
// announces each address there (dev "" = every device). It logs and
// returns what it restored, by container; a container it could not do is
// one error of the joined error, and the others are still done.
func IfUp(n *inventory.Node, lk Locker, dev string) (map[int][]venet.Reproxy, error) {
	if dev != "" {
		if err := link.CheckName(dev); err != nil {
			return nil, fmt.Errorf("%w: %w", err, vzerror.ErrInvalidValue)
		}
	}
	host, err := link.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, vzerror.ErrSystem)
	}
	defer host.Close()
	return IfUpWith(n, lk, dev, host, arp.Announce, time.Now().Add(netReproxyLockWait))
}

func IfUpWith(n *inventory.Node, lk Locker, dev string, host link.Ops, announce func(string, netip.Addr) error, deadline time.Time) (map[int][]venet.Reproxy, error) {
	ids, err := n.IDs()
	if err != nil {
		return nil, err
	}
	out := map[int][]venet.Reproxy{}
	var errs []error
	for _, id := range ids {
		warnf := func(format string, a ...any) {
			n.Log.Warnf("container %d: %s", id, fmt.Sprintf(format, a...))
		}
		done, err := reproxy(n, lk, id, dev, host, announce, deadline, warnf)
		if err != nil {
			errs = append(errs, fmt.Errorf("container %d: %w", id, err))
		}
		if len(done) > 0 {
			out[id] = done
			var s []string
			for _, r := range done {
				s = append(s, r.String())
			}
			n.Log.Infof("Container %d: proxy entries restored: %s", id, strings.Join(s, ", "))
		}
	}
	return out, errors.Join(errs...)
}

// NetWatch runs NetIfUp for each link w reports coming up, until w is
// closed: the kernel drops a device's entries on every down, whoever
// takes it down, and no ifup hook runs for `ip link set DEV up` or a
// driver's reset. One watcher serves the whole node. Failures are logged
// and it goes on.
func Watch(n *inventory.Node, lk Locker, w *linkwatch.Watcher) error {
	return w.Run(func(dev string) {
		n.Log.Debugf(1, "link %q came up", dev)
		if _, err := IfUp(n, lk, dev); err != nil {
			n.Log.Errorf("restoring proxy entries on %q: %v", dev, err)
		}
	})
}

// NetReproxy is NetIfUp for container id alone, with warnings in the
// supervisor's log: what a watcher running in its supervisor calls when a
// link of the node comes up (dev "" = every device, after the watcher
// lost events).
func Reproxy(n *inventory.Node, lk Locker, id int, dev string) error {
	host, err := link.Open()
	if err != nil {
		return err
	}
	defer host.Close()
	_, err = reproxy(n, lk, id, dev, host, arp.Announce, time.Now().Add(netReproxyLockWait), Warnf(id))
	return err
}

// reproxy restores container id's proxy entries on dev. A container
// that is not running, runs from another network namespace (its host
// side lives there) or has no routed address has nothing to restore.
func reproxy(n *inventory.Node, lk Locker, id int, dev string, host link.Ops, announce func(string, netip.Addr) error,
	deadline time.Time, warnf func(string, ...any)) ([]venet.Reproxy, error) {
	rd := n.RunDir(id)
	running := func() (*runstate.State, bool) {
		rs, err := runstate.Read(rd)
		return rs, err == nil && rs.Alive() && SameNetNS(rs.SupervisorPID)
	}
	if _, ok := running(); !ok {
		return nil, nil
	}
	st, err := ReadState(rd)
	if err != nil || st.Venet == nil {
		return nil, err
	}
	layer, err := n.LoadCT(id)
	if err != nil {
		return nil, err
	}
	nc, err := HostPlan(id, n.Effective(layer), warnf)
	if err != nil {
		return nil, err
	}
	// Most links that come up are none of the container's business: no
	// lock for them, so they never make a vzctl command find it locked.
	if plan, err := venet.ReproxyPlan(host, st.Venet, nc.Neighbours, dev); err != nil || len(plan) == 0 {
		return nil, err
	}
	// Under the lock, so that a --ipdel cannot remove an address between
	// reading the record and adding its entry back.
	l, err := lk(id, "ifup", deadline)
	if err != nil {
		return nil, err
	}
	defer l.Release()
	rs, ok := running()
	if !ok {
		return nil, nil
	}
	if st, err = ReadState(rd); err != nil || st.Venet == nil {
		return nil, err
	}
	e := &venet.Env{CT: id, Host: host, Announce: announce, Logf: warnf}
	done, err := venet.RestoreProxies(e, st.Venet, nc.Neighbours, dev)
	if slices.ContainsFunc(done, func(r venet.Reproxy) bool { return r.New }) {
		if werr := WriteState(rd, st); werr != nil {
			err = errors.Join(err, fmt.Errorf("recording container %d networking: %w", id, werr))
		}
	}
	// The supervisor tears down without the lock: if this boot ended
	// meanwhile, its teardown may have read the record before the entries
	// came back. Take away what the record of the container's current
	// boot, if any, does not hold.
	if now, ok := running(); !ok || now.BootID != rs.BootID {
		var cur *venet.State
		if st, rerr := ReadState(rd); ok && rerr == nil {
			cur = st.Venet
		}
		for _, r := range done {
			if !holdsProxy(cur, r) {
				host.DelProxy(r.Dev, r.Addr)
			}
		}
		return nil, err
	}
	return done, err
}

func holdsProxy(st *venet.State, r venet.Reproxy) bool {
	if st == nil {
		return false
	}
	i := slices.IndexFunc(st.Addrs, func(x venet.Addr) bool { return x.Prefix.Addr() == r.Addr })
	return i >= 0 && slices.Contains(st.Addrs[i].Neigh, r.Dev)
}

// lockUntil takes container id's lock for op, retrying while another

// Locker takes container id's lock for op, waiting until deadline while
// another command holds it (and finishing what a dead holder left half
// done: package ct owns that recovery).
type Locker func(id int, op string, deadline time.Time) (*lock.Lock, error)
