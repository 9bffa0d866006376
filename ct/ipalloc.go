package ct

import (
	"net/netip"

	"govz/ct/lock"
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
		p, err := netPrefix(s)
		if err != nil {
			return err
		}
		prefixes = append(prefixes, p)
	}
	return n.netLiveIPsFree(id, prefixes)
}
