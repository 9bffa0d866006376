package ct

import (
	"govz/conf"
	"govz/ct/ctnet"
	"govz/net/bridge"
)

// The container's networking is package ctnet; these are the Node's
// entry points into it.

func (n *Node) netConf(id int, eff *conf.Config, warnf func(string, ...any)) (ctnet.Plan, error) {
	return ctnet.HostPlan(id, eff, warnf)
}

func (n *Node) portFilter() bridge.Netfilter { return ctnet.PortFilter(n.LockDir()) }

// netPoststop removes container id's networking once it is down.
func (n *Node) netPoststop(id int) { ctnet.Down(id, n.RunDir(id), n.LockDir()) }
