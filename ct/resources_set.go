package ct

import (
	"fmt"
	"slices"
	"strings"

	"govz/conf"
	"govz/ct/resource"
	"govz/ct/runstate"
	"govz/ct/ubc"
	"govz/ct/vzerror"
)

// applyConfigSkips are the keys --applyconfig never takes from a sample
// (vzctl: HOSTNAME, IP_ADDRESS, OSTEMPLATE, VE_ROOT, VE_PRIVATE), plus
// this container's own identity (its ID range included: a sample's auto
// or number is for new containers).
var applyConfigSkips = []string{"hostname", "ip_address", "ostemplate", "ve_root", "ve_private", "ve_layout", "name", "origin_sample", "local_uid", "local_gid"}

// prepareResourceSet runs first in Set: it checks the resource-related
// options and puts the --applyconfig sample's keys under the command
// line's (an option given in the same call wins, as in vzctl).
func (n *Node) prepareResourceSet(o *SetOptions) error {
	if o.SetMode == "restart" && !o.Save {
		return fmt.Errorf("--setmode restart needs --save: %w", vzerror.ErrSyntax)
	}
	if o.ResetUB {
		if o.ApplyConfig != "" || o.Save || len(o.IPAdd) > 0 || len(o.IPDel) > 0 || len(setKeysOf(o.Layer)) > 0 {
			return fmt.Errorf("--reset_ub cannot be combined with other options: %w", vzerror.ErrSyntax)
		}
		return nil
	}
	if o.ApplyConfig == "" {
		return nil
	}
	sample, err := conf.LoadSample(n.Paths, o.ApplyConfig)
	if err != nil {
		return err
	}
	for _, w := range sample.UnknownKeys() {
		n.Log.Warnf("%s", w)
	}
	for _, k := range applyConfigSkips {
		sample.Unset(k)
	}
	o.Layer = conf.Merge(sample, o.Layer)
	return nil
}

// setKeysOf lists the keys layer sets, in table order.
func setKeysOf(layer *conf.Config) []string {
	var out []string
	if layer == nil {
		return nil
	}
	for _, k := range conf.Keys {
		if k.Scope == conf.CT && layer.IsSet(k.Name) {
			out = append(out, k.Name)
		}
	}
	return out
}

// setResources checks the resource keys of next (the container's layer as
// it will be), says how this host enforces the ones being set, and applies
// them at once when the container runs. It returns whether --setmode
// restart owes a restart: a key changed that only a start applies.
// st is the container's run record when it runs (nil otherwise).
func (n *Node) setResources(id int, next *conf.Config, o SetOptions, st *runstate.State, running bool) (restart bool, err error) {
	eff := n.Effective(next)
	if _, err := ubc.FromConfig(eff); err != nil {
		return false, err
	}
	changed := setKeysOf(o.Layer)
	var res []string
	for _, k := range changed {
		if ubc.IsResourceKey(k) {
			res = append(res, k)
		}
	}
	var live *resource.Live
	if len(res) > 0 {
		// One probe for the description and the live change.
		if live, err = resource.Probe(n.inv(), id, eff, st); err != nil {
			return false, err
		}
		for _, k := range res {
			switch d := ubc.Describe(k, live.Env()); d.Status {
			case ubc.NotEnforced:
				n.Log.Warnf("%s is %s; the value is stored", k, d.How)
			case ubc.Accounted:
				n.Log.Infof("%s has no separate limit on this kernel: it is %s", k, d.How)
			}
		}
	}
	if !running {
		return false, nil
	}
	if len(res) > 0 {
		if err := live.Apply(eff, res); err != nil {
			return false, err
		}
	}
	var offline []string
	for _, k := range changed {
		if key, ok := conf.KeyByName(k); ok && key.Live == "no" && !slices.Contains(res, k) {
			offline = append(offline, k)
		}
	}
	if len(offline) == 0 {
		return false, nil
	}
	switch o.SetMode {
	case "restart":
		return true, nil
	case "ignore":
		return false, nil
	}
	n.Log.Warnf("Unable to apply %s to a running container: it takes effect at the next start (or use --setmode restart)", strings.Join(offline, ", "))
	return false, nil
}

// restartAfterSet restarts container id (its lock held) so that --setmode
// restart applies what only a start can.
func (n *Node) restartAfterSet(id int) error {
	n.Log.Infof("Restarting container to apply the new settings")
	if err := n.stop(id, false, true); err != nil {
		return err
	}
	return n.start(id, StartOptions{})
}

// resetUB re-applies every resource key of container id's stored
// configuration (vzctl set --reset_ub): what a set without --save changed
// goes back, keys the file leaves unset return to no limit.
func (n *Node) resetUB(id int, layer *conf.Config) error {
	eff := n.Effective(layer)
	if !n.running(id, eff) {
		return fmt.Errorf("container %d: --reset_ub needs a running container: %w", id, vzerror.ErrNotRunning)
	}
	if err := resource.ApplyLive(n.inv(), id, eff, nil); err != nil {
		return err
	}
	n.Log.Infof("Resource limits of container %d were re-applied from its configuration", id)
	return nil
}
