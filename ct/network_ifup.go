package ct

import (
	"errors"
	"net/netip"
	"time"

	"govz/ct/ctnet"
	"govz/ct/lock"
	"govz/ct/vzerror"
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

// command holds it, until deadline (at least once).
func (n *Node) lockUntil(id int, op string, deadline time.Time) (*lock.Lock, error) {
	for {
		l, err := n.lock(id, op)
		if !errors.Is(err, vzerror.ErrLocked) || !time.Now().Before(deadline) {
			return l, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
