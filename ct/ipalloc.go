package ct

import (
	"fmt"
	"net"
	"net/netip"

	"govz/conf"
	"govz/ct/ctnet"
	"govz/ct/ippool"
	"govz/ct/lock"
	"govz/ct/vzerror"
	"govz/net/bridge"
)

// nodeHold is the node-wide allocation lock as one command takes it: at
// most once, however many node-unique values (addresses, ID ranges) the
// command commits, and released when the command returns.
type nodeHold struct {
	n  *Node
	op string
	l  *lock.NodeLock
}

// take acquires the lock unless already held.
func (h *nodeHold) take() error {
	if h.l != nil {
		return nil
	}
	l, err := h.n.lockNode(h.op)
	if err != nil {
		return err
	}
	h.l = l
	return nil
}

func (h *nodeHold) release() {
	h.l.Release()
	h.l = nil
}

// ipsFreeLocked is the binding "ip address in use" check, made under the
// node lock right before the config that takes the addresses is written:
// every other container's config, and what running containers hold
// without --save. The check made earlier without the lock only gives a
// quick answer before slower work.
func (n *Node) ipsFreeLocked(id int, ips []string) error {
	if len(ips) == 0 {
		return nil
	}
	if err := n.checkIPsFree(id, ips); err != nil {
		return err
	}
	prefixes := make([]netip.Prefix, 0, len(ips))
	for _, s := range ips {
		p, err := ctnet.Prefix(s)
		if err != nil {
			return err
		}
		prefixes = append(prefixes, p)
	}
	return ctnet.LiveIPsFree(n.inv(), id, prefixes)
}

// splitAuto separates the --ipadd values that ask for a pool address
// (auto, auto:POOL) from the addresses.
func splitAuto(ips []string) (addrs, autos []string, err error) {
	for _, s := range ips {
		_, isAuto, err := ippool.ParseAuto(s)
		switch {
		case err != nil:
			return nil, nil, fmt.Errorf("%w: %w", err, vzerror.ErrBadIP)
		case isAuto:
			autos = append(autos, s)
		default:
			addrs = append(addrs, s)
		}
	}
	return addrs, autos, nil
}

// allocIPs takes one pool address for each auto spec: the lowest of its
// pool that no container's config names and no running container holds
// (with --ipadd without --save), nor one taken earlier in this call. The
// caller holds the node lock until the config naming them is saved; a
// call without it only gives an early answer (unknown or full pool).
func (n *Node) allocIPs(autos []string) ([]string, error) {
	if len(autos) == 0 {
		return nil, nil
	}
	pools, err := ippool.Parse(n.Global.IPPool)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, vzerror.ErrInvalidValue)
	}
	used, err := n.usedIPs()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range autos {
		name, _, _ := ippool.ParseAuto(s)
		p, err := pools.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", err, vzerror.ErrBadIP)
		}
		a, err := p.Allocate(used)
		if err != nil {
			// vzctl's closest: VZ_CANT_ADDIP (34); there is no address
			// to add.
			return nil, fmt.Errorf("--ipadd %s: %w: %w", s, err, vzerror.ErrCantAddIP)
		}
		used[a] = true
		// A pool may span addresses no container can have (a multicast
		// or loopback range): refused like the same --ipadd by hand.
		ip, err := conf.ParseIP(a.String())
		if err != nil {
			return nil, fmt.Errorf("--ipadd %s: pool %s: %w", s, p.Name, err)
		}
		out = append(out, ip)
	}
	return out, nil
}

// usedIPs is every address a container on the node holds: in its config,
// or live in a running one.
func (n *Node) usedIPs() (map[netip.Addr]bool, error) {
	ids, err := n.IDs()
	if err != nil {
		return nil, err
	}
	used := map[netip.Addr]bool{}
	for _, id := range ids {
		if c, err := n.LoadCT(id); err == nil {
			for _, s := range c.IPAddress {
				if a, err := conf.IPAddr(s); err == nil {
					used[a] = true
				}
			}
		}
		if st, err := ctnet.ReadState(n.RunDir(id)); err == nil && st.Venet != nil {
			for _, a := range st.Venet.Addrs {
				used[a.Prefix.Addr()] = true
			}
		}
	}
	return used, nil
}

// logAssigned prints the addresses auto took, one line each, in the form
// scripts parse.
func (n *Node) logAssigned(id int, addrs []string) {
	for _, a := range addrs {
		n.Log.Infof("Assigned %s to CT %d", a, id)
	}
}

// netIfsFreeLocked refuses bridged interfaces whose host-side name or
// whose MACs (either end) another container's config already gives one
// of its own: two would clash in the host's namespace or on the bridge.
// Like the addresses, checked under the node lock right before the save.
func (n *Node) netIfsFreeLocked(id int, list []string) error {
	names, macs := map[string]bool{}, map[string]bool{}
	for _, s := range list {
		ni, err := bridge.Parse(s)
		if err != nil {
			return fmt.Errorf("%w: %w", err, vzerror.ErrInvalidValue)
		}
		if ni.HostName != "" {
			names[ni.HostName] = true
		}
		for _, m := range []net.HardwareAddr{ni.MAC, ni.HostMAC} {
			if m != nil {
				macs[m.String()] = true
			}
		}
	}
	if len(names) == 0 && len(macs) == 0 {
		return nil
	}
	return n.eachOtherConfig(id, func(other int, c *conf.Config) error {
		for _, s := range c.NetIf {
			ni, err := bridge.Parse(s)
			if err != nil {
				continue
			}
			if names[ni.HostName] {
				return fmt.Errorf("host interface name %s is already used by container %d: %w", ni.HostName, other, vzerror.ErrVeth)
			}
			for _, m := range []net.HardwareAddr{ni.MAC, ni.HostMAC} {
				if m != nil && macs[m.String()] {
					return fmt.Errorf("mac address %s is already used by container %d: %w", m, other, vzerror.ErrVeth)
				}
			}
		}
		return nil
	})
}
