package ct

import (
	"net/netip"
	"time"

	"govz/ct/ctnet"
	"govz/ct/lock"
	"govz/ct/recovery"
	"govz/net/link"
	"govz/net/linkwatch"
	"govz/net/venet"
)

// NetIfUp restores the proxy entries of every running container on link
// dev (every link with dev "") and announces the addresses (ctnet.IfUp).
func (n *Node) NetIfUp(dev string) (map[int][]venet.Reproxy, error) {
	return ctnet.IfUp(n.inv(), n.lockUntil, dev)
}

func (n *Node) netIfUp(dev string, host link.Ops, announce func(string, netip.Addr) error, deadline time.Time) (map[int][]venet.Reproxy, error) {
	return ctnet.IfUpWith(n.inv(), n.lockUntil, dev, host, announce, deadline)
}

// NetWatch restores proxy entries whenever a link comes up (ctnet.Watch).
func (n *Node) NetWatch(w *linkwatch.Watcher) error { return ctnet.Watch(n.inv(), n.lockUntil, w) }

// NetReproxy restores container id's proxy entries on link dev.
func (n *Node) NetReproxy(id int, dev string) error {
	return ctnet.Reproxy(n.inv(), n.lockUntil, id, dev)
}

// lockUntil is recovery.LockUntil on this node: ctnet's Locker.
func (n *Node) lockUntil(id int, op string, deadline time.Time) (*lock.Lock, error) {
	return recovery.LockUntil(n.inv(), id, op, deadline)
}
