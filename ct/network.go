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

// netTeardown removes what the run directory's record says exists.
func (n *Node) netTeardown(id int, warnf func(string, ...any)) error {
	return ctnet.Teardown(id, n.RunDir(id), n.LockDir(), warnf)
}
