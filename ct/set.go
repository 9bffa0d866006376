package ct

import (
	"fmt"
	"slices"
	"strconv"

	"govz/conf"
	"govz/ct/authkeys"
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
	// Force saves a local_uid/local_gid range another container or a host
	// user already holds.
	Force bool
	// UserPasswd sets guest passwords at once, stored nowhere
	// (userpasswd.go).
	UserPasswd []UserPasswd
	// SSHKeys are added to the guest root's authorized_keys at once,
	// stored nowhere (sshkeys.go).
	SSHKeys []authkeys.Key
}

// onlyPasswords reports whether the call does nothing but --userpasswd
// and --ssh-key, which then print no "not saved" warning.
func (o SetOptions) onlyPasswords() bool {
	if len(o.UserPasswd)+len(o.SSHKeys) == 0 || len(o.IPAdd) > 0 || len(o.IPDel) > 0 || o.Save || o.ResetUB ||
		o.ApplyConfig != "" || o.Net.edits() {
		return false
	}
	for _, k := range conf.Keys {
		if o.Layer.IsSet(k.Name) {
			return false
		}
	}
	return true
}

// Set changes container id's parameters: stored with Save, applied at once
// to a running container where the key allows it.
func (n *Node) Set(id int, o SetOptions) error {
	if o.Layer == nil {
		o.Layer = &conf.Config{}
	}
	onlyPasswords := o.onlyPasswords()
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
	addrs, autos, err := splitAuto(o.IPAdd)
	if err != nil {
		return err
	}
	if len(autos) > 0 && !o.Save {
		// Without --save nothing would record the address: the next
		// auto would hand it out again.
		return fmt.Errorf("--ipadd %s can only be used with --save: %w", autos[0], vzerror.ErrSyntax)
	}
	l, err := n.lockOrSkip(id, "set")
	if err != nil {
		return err
	}
	defer l.Release()
	hold := &nodeHold{n: n, op: "set " + strconv.Itoa(id)}
	defer hold.release()
	layer, err := n.LoadCT(id)
	if err != nil {
		return err
	}
	cur := n.Effective(layer)
	if err := n.setPasswords(id, cur, o.UserPasswd); err != nil {
		return err
	}
	if err := n.setSSHKeys(id, cur, o.SSHKeys); err != nil {
		return err
	}
	if onlyPasswords {
		return nil
	}
	if o.ResetUB {
		return n.resetUB(id, layer)
	}
	ids, idChange, err := n.setIDSpec(id, layer, o)
	if err != nil {
		return err
	}
	// Once: the lock keeps a start or stop out until this set is done,
	// and the record is what the live changes below act on.
	st, running := n.inv().RunningState(id, cur)
	var assigned []string
	if len(autos) > 0 {
		// The choice binds from here to the save: the node lock is held
		// across this call's other work too (a running container gets
		// the address live before the save).
		if err := hold.take(); err != nil {
			return err
		}
		if assigned, err = n.allocIPs(autos); err != nil {
			return err
		}
		o.IPAdd = append(addrs, assigned...)
	}
	ips, err := editIPs(layer.IPAddress, o.IPAdd, o.IPDel, n.Log.Warnf)
	if err != nil {
		return err
	}
	if len(o.IPAdd) > 0 && running {
		// A running container takes the addresses live before the save:
		// the lock covers both, so a racer cannot take one in between
		// (and a refusal at the save cannot leave one live).
		if err := hold.take(); err != nil {
			return err
		}
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
	// Keys govz does not know stay in the file, as vzctl keeps them.
	next.Extra = layer.Extra
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
	restart, err := n.setResources(id, next, o, st, running)
	if err != nil {
		return err
	}
	oldName, newName := conf.Str(layer.Name), conf.Str(o.Layer.Name)
	if newName != "" && newName != oldName {
		if err := n.registerName(id, newName); err != nil {
			return err
		}
	}
	if !o.Save {
		// vzctl 4.x's words (run_action in src/vzctl-actions.c).
		if running {
			n.Log.Warnf("Settings were not saved to config and will be lost after CT restart (use --save flag)")
		} else {
			n.Log.Warnf("Settings were not saved to config (use --save flag)")
		}
		return nil
	}
	netIfChange := o.Net.edits()
	if idChange || len(o.IPAdd) > 0 || netIfChange {
		// From the scan of every container's config to the write of this
		// one: two racers for one address, range, host interface name or
		// MAC cannot both see it free. Only the check and the save are
		// under it.
		if err := hold.take(); err != nil {
			return err
		}
	}
	if idChange {
		if ids, err = n.assignIDs(id, ids, o.Force); err != nil {
			return err
		}
	}
	if err := n.ipsFreeLocked(id, o.IPAdd); err != nil {
		return err
	}
	if netIfChange {
		if err := n.netIfsFreeLocked(id, next.NetIf); err != nil {
			return err
		}
	}
	if o.Layer.IsSet("local_uid") || o.Layer.IsSet("local_gid") {
		ids.setIDs(next)
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
	n.logAssigned(id, assigned)
	n.Log.Infof("CT configuration saved to %s", n.Paths.CTConfig(id))
	if idChange && ids.identity() {
		n.Log.Infof("Container root is host root (identity mapping)")
	} else if idChange {
		n.Log.Infof("Container root is host UID %d, GID %d (%d IDs each)", ids.uid, ids.gid, UserNSRange)
	}
	// vzctl 3.x's line, which hosting panels still look for in the
	// output of set --save; 4.x prints only the one above.
	n.Log.Infof("Saved parameters for CT %d", id)
	if restart {
		return n.restartAfterSet(id)
	}
	return nil
}

// setIDSpec reads --local_uid/--local_gid: the spec the container's
// config will hold (its current one when neither is given) and whether it
// changes. A running container keeps its IDs: its processes and open
// files carry them, and a range no config names any more would be handed
// to another container while this one still runs in it.
func (n *Node) setIDSpec(id int, layer *conf.Config, o SetOptions) (idSpec, bool, error) {
	cur := idSpec{conf.ID(layer.LocalUID), conf.ID(layer.LocalGID)}
	if !o.Layer.IsSet("local_uid") && !o.Layer.IsSet("local_gid") {
		return cur, false, nil
	}
	want, err := pairIDs(o.Layer.LocalUID, o.Layer.LocalGID)
	if err != nil {
		return idSpec{}, false, err
	}
	if want.uid.IsAuto() && cur.uid > 0 && !cur.uid.IsAuto() && cur.uid == cur.gid {
		// Already has a range of its own: auto keeps it, unless it is
		// shared (forced earlier or written by hand).
		if _, err := n.assignIDs(id, cur, false); err == nil {
			want = cur
		}
	}
	if want == cur && !want.uid.IsAuto() {
		return cur, false, nil
	}
	if n.running(id, n.Effective(layer)) {
		return idSpec{}, false, fmt.Errorf("container %d is running: local_uid/local_gid change only while it is stopped (its processes own IDs %s/%s): %w", id, cur.uid, cur.gid, vzerror.ErrRunning)
	}
	return want, true, nil
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
