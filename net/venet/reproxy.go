package venet

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"govz/net/link"
)

// Proxy entries after a neighbour device comes back up.
//
// The kernel deletes every proxy entry (pneigh) of a device when the
// device goes down administratively (NETDEV_DOWN: neigh_ifdown ->
// pneigh_ifdown, for ARP and NDP alike), so `ip link set eth0 down; ip
// link set eth0 up`, ifdown/ifup or a driver reset leave the containers'
// addresses unanswered on the LAN while their host routes stay. Carrier
// loss alone keeps them (measured on 6.18). vzctl's answer was
// vzifup-post, run by the distribution's ifup, which added the proxy
// entries again; these functions are its policy and its work.

// Reproxy is one proxy entry to restore.
type Reproxy struct {
	Addr netip.Addr
	Dev  string
	New  bool // not in the address's record yet: the record gains it
}

func (r Reproxy) String() string { return r.Addr.String() + " on " + r.Dev }

// ReproxyPlan returns the proxy entries dev must hold for st's addresses
// now that it is up; dev "" means every device. An address gets:
//   - every device its record names, whatever the mode: the entry was
//     made there and the kernel dropped it;
//   - with list, the listed devices (neighbour_devs may have changed
//     since the address was added, as for a live --ipadd);
//   - with all, the node's current neighbour devices of its family: a
//     device that came up after the address was added joins;
//   - with detect and no device recorded (nothing was found when it was
//     added, e.g. the node had no default route yet), what detection says
//     now. A detected device is not re-detected otherwise: with the
//     container's host route in place the node's own route to the address
//     leads to the container, so it cannot tell where the address would
//     go without it, and detection falls back to the default route's
//     device.
func ReproxyPlan(host link.Ops, st *State, nb Neighbours, dev string) ([]Reproxy, error) {
	if st == nil {
		return nil, nil
	}
	all := map[bool][]string{} // by v6, read once per family
	var plan []Reproxy
	for _, a := range st.Addrs {
		ip := a.Prefix.Addr()
		want := slices.Clone(a.Neigh)
		switch {
		case nb.Mode == "list":
			want = append(want, nb.Devs...)
		case nb.Mode == "all":
			devs, ok := all[ip.Is6()]
			if !ok {
				var err error
				if devs, err = host.NeighbourDevs(ip.Is6(), link.AliasPrefix); err != nil {
					return nil, fmt.Errorf("listing neighbour devices: %w", err)
				}
				all[ip.Is6()] = devs
			}
			want = append(want, devs...)
		case len(a.Neigh) == 0:
			devs, err := NeighbourDevs(host, nb, ip, st.HostIf)
			if errors.Is(err, ErrLocal) {
				continue // the node took the address itself: nothing to answer for
			}
			if err != nil {
				return nil, err
			}
			want = append(want, devs...)
		}
		var seen []string
		for _, d := range want {
			if (dev != "" && d != dev) || d == st.HostIf || slices.Contains(seen, d) {
				continue
			}
			seen = append(seen, d)
			plan = append(plan, Reproxy{Addr: ip, Dev: d, New: !slices.Contains(a.Neigh, d)})
		}
	}
	return plan, nil
}

// RestoreProxies adds ReproxyPlan's entries (an entry that survived is
// added again without harm: the kernel accepts it), records the new ones
// in st so teardown removes them, and announces each address on each
// device, so the LAN's caches point at the node at once. A device that
// no longer exists is a warning: the record outlived it. It goes on past
// failures and returns what it added with every error.
func RestoreProxies(e *Env, st *State, nb Neighbours, dev string) ([]Reproxy, error) {
	plan, err := ReproxyPlan(e.Host, st, nb, dev)
	if err != nil {
		return nil, err
	}
	var done []Reproxy
	var errs []error
	for _, r := range plan {
		if err := e.Host.AddProxy(r.Dev, r.Addr); err != nil {
			if errors.Is(err, link.ErrNotExist) {
				e.warnf("%s: %v", r, err)
				continue
			}
			errs = append(errs, err)
			continue
		}
		if r.New {
			i := slices.IndexFunc(st.Addrs, func(x Addr) bool { return x.Prefix.Addr() == r.Addr })
			st.Addrs[i].Neigh = append(st.Addrs[i].Neigh, r.Dev)
		}
		done = append(done, r)
		if e.Announce != nil {
			if err := e.Announce(r.Dev, r.Addr); err != nil {
				e.warnf("announcing %s: %v", r, err)
			}
		}
	}
	return done, errors.Join(errs...)
}
