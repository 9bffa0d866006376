package ct

import (
	"fmt"
	"slices"

	"govz/conf"
	"govz/ct/vzerror"
)

// SetOptions is one `vzctl set` call: the keys given on the command line
// as a config layer, plus the list edits.
type SetOptions struct {
	Layer   *conf.Config // keys to set (nil fields untouched)
	IPAdd   []string
	IPDel   []string // "all" removes every address
	Save    bool
	SetMode string // "", "restart" or "ignore"
	// ResetUB re-applies the stored resource keys to a running container
	// (exclusive); ApplyConfig names a sample whose keys the call sets
	// under its own (resources_set.go).
	ResetUB     bool
	ApplyConfig string
	// Net are the bridged-interface edits (network_set.go).
	Net NetSetOptions
}

// Set changes container id's parameters: stored with Save, applied at once
// to a running container where the key allows it.
func (n *Node) Set(id int, o SetOptions) error {
	if o.Layer == nil {
		o.Layer = &conf.Config{}
	}
	if err := n.prepareResourceSet(&o); err != nil {
		return err
	}
	if err := o.Layer.Validate(); err != nil {
		return err
	}
	if err := n.checkGrants(o.Layer); err != nil {
		return err
	}
	for _, k := range []string{"name", "ostemplate", "ve_root", "ve_private"} {
		if o.Layer.IsSet(k) && !o.Save {
			return fmt.Errorf("--%s can only be changed with --save: %w", k, vzerror.ErrSyntax)
		}
	}
	l, err := n.lock(id, "set")
	if err != nil {
		return err
	}
	defer l.Release()
	layer, err := n.LoadCT(id)
	if err != nil {
		return err
	}
	if o.ResetUB {
		return n.resetUB(id, layer)
	}
	ips, err := editIPs(layer.IPAddress, o.IPAdd, o.IPDel, n.Log.Warnf)
	if err != nil {
		return err
	}
	if err := n.checkIPsFree(id, o.IPAdd); err != nil {
		return err
	}
	// Disk limits go to the storage layout first: a limit it cannot take
	// (an image shrinking while mounted) must not be saved.
	if err := n.applyDiskLimits(id, layer, o); err != nil {
		return err
	}
	next := conf.Merge(layer, o.Layer)
	// vzctl merges these by name with the saved list instead of replacing
	// it: setting one capability keeps the others.
	if o.Layer.Capability != nil {
		next.Capability = conf.MergeSwitches(layer.Capability, o.Layer.Capability)
	}
	if o.Layer.Features != nil {
		next.Features = conf.MergeSwitches(layer.Features, o.Layer.Features)
	}
	if len(o.IPAdd) > 0 || len(o.IPDel) > 0 {
		next.IPAddress = ips
		if len(ips) == 0 {
			next.IPAddress = nil
		}
	}
	// Networking applies to a running container at once (network_set.go).
	if err := n.setNetwork(id, next, o); err != nil {
		return err
	}
	restart, err := n.setResources(id, next, o, n.Running(id))
	if err != nil {
		return err
	}
	oldName, newName := conf.Str(layer.Name), conf.Str(o.Layer.Name)
	if newName != "" && newName != oldName {
		if err := n.registerName(id, newName); err != nil {
			return err
		}
	}
	running := n.Running(id)
	if !o.Save {
		// vzctl 4.x's words (run_action in src/vzctl-actions.c).
		if running {
			n.Log.Warnf("Settings were not saved to config and will be lost after CT restart (use --save flag)")
		} else {
			n.Log.Warnf("Settings were not saved to config (use --save flag)")
		}
		return nil
	}
	if err := next.Save(n.Paths.CTConfig(id), configHeader(id)); err != nil {
		if newName != "" && newName != oldName {
			n.unregisterName(id, newName)
		}
		return err
	}
	if newName != "" && newName != oldName && oldName != "" {
		n.unregisterName(id, oldName)
	}
	n.Log.Infof("CT configuration saved to %s", n.Paths.CTConfig(id))
	// vzctl 3.x's line, which hosting panels still look for in the
	// output of set --save; 4.x prints only the one above.
	n.Log.Infof("Saved parameters for CT %d", id)
	if restart {
		return n.restartAfterSet(id)
	}
	return nil
}

// editIPs applies --ipdel then --ipadd to list, comparing addresses (not
// spellings), keeping order.
func editIPs(list, add, del []string, warnf func(string, ...any)) ([]string, error) {
	out := slices.Clone(list)
	for _, d := range del {
		if d == "all" {
			out = nil
			continue
		}
		da, err := conf.IPAddr(d)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(out, func(s string) bool { a, err := conf.IPAddr(s); return err == nil && a == da })
		if i < 0 {
			warnf("ip address %s is not assigned, not deleted", d)
			continue
		}
		out = slices.Delete(out, i, i+1)
	}
	for _, a := range add {
		p, err := conf.ParseIP(a)
		if err != nil {
			return nil, err
		}
		aa, _ := conf.IPAddr(p)
		if slices.ContainsFunc(out, func(s string) bool { x, err := conf.IPAddr(s); return err == nil && x == aa }) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}
