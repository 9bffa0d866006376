package ct

import (
	"fmt"
	"strings"

	"govz/conf"
	"govz/ct/caps"
	"govz/ct/grants"
	"govz/ct/rootfs"
	"govz/ct/vzerror"
)

// checkGrants refuses, when `vzctl set` is given them, the grant options a
// start could not honour (ct/grants): an unknown capability or feature, a
// device node the host does not have, a netfilter level the kernel cannot
// enforce. vzctl's exit code for a bad value (21), the value named.
func (n *Node) checkGrants(l *conf.Config) error {
	if l.Capability != nil {
		if _, err := caps.ParseChanges(capChanges(l.Capability)); err != nil {
			return err
		}
		for _, c := range capChanges(l.Capability) {
			if name, _, _ := strings.Cut(c, ":"); name == "setveid" || name == "ve_admin" {
				n.Log.Warnf("Capability %s exists only on OpenVZ kernels: it grants nothing here", name)
			}
		}
	}
	if l.Features != nil {
		fs, err := grants.ParseFeatures(l.Features)
		if err != nil {
			return err
		}
		if err := hostDevNodes(grants.FeatureDevNodes(fs), "feature"); err != nil {
			return err
		}
	}
	if l.DevNodes != nil {
		if err := hostDevNodes(l.DevNodes, "devnode"); err != nil {
			return err
		}
	}
	if l.Devices != nil {
		if _, err := grants.ParseDevices(l.Devices); err != nil {
			return err
		}
	}
	if l.Netfilter != nil {
		if err := grants.CheckNetfilter(*l.Netfilter); err != nil {
			return err
		}
	}
	if l.BindMount != nil {
		if _, err := bindMounts(l.BindMount); err != nil {
			return err
		}
	}
	return nil
}

// hostDevNodes checks DEVNODES items against the host's /dev: the node a
// start copies must exist and be a device.
func hostDevNodes(list []string, what string) error {
	ds, err := grants.ParseDevNodes(list)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if _, err := rootfs.HostDevNode(d.Name, d.Access); err != nil {
			return fmt.Errorf("%s %s: the host has no such device node (%w): %w", what, d.Name, err, vzerror.ErrInvalidValue)
		}
	}
	return nil
}

// deviceGrants turns a container's DEVNODES, FEATURES and DEVICES into
// the nodes its /dev gets and the device cgroup rules by number. A node
// both grant gets DEVNODES' access.
func deviceGrants(eff *conf.Config) ([]rootfs.DevNode, []rootfs.Rule, error) {
	fs, err := grants.ParseFeatures(eff.Features)
	if err != nil {
		return nil, nil, err
	}
	ds, err := grants.ParseDevNodes(append(grants.FeatureDevNodes(fs), eff.DevNodes...))
	if err != nil {
		return nil, nil, err
	}
	var nodes []rootfs.DevNode
	for _, d := range ds {
		node, err := rootfs.HostDevNode(d.Name, d.Access)
		if err != nil {
			return nil, nil, err
		}
		nodes = append(nodes, node)
	}
	rules, err := grants.ParseDevices(eff.Devices)
	if err != nil {
		return nil, nil, err
	}
	return nodes, rules, nil
}

// warnNetfilter says, at start, that a stored NETFILTER level other than
// full (the samples of earlier versions wrote stateless) is not enforced.
func (n *Node) warnNetfilter(id int, eff *conf.Config) {
	v := conf.Str(eff.Netfilter)
	if v == "" || grants.CheckNetfilter(v) == nil {
		return
	}
	n.Log.Warnf("netfilter = %q is not enforced: container %d has every netfilter table in its own network namespace (vzctl set %d --netfilter full --save)", v, id, id)
}
