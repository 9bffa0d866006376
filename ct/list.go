package ct

import (
	"time"

	"govz/conf"
	"govz/ct/listing"
	"govz/ct/runstate"
	"govz/ct/ubc"
)

// ListFilter selects containers for vzlist.
type ListFilter struct {
	All     bool  // stopped ones too
	Stopped bool  // only those not running
	IDs     []int // restrict to these
}

// List gathers what vzlist shows about the selected containers, in CTID
// order. It takes no locks: like status, it must answer while other
// commands run.
func (n *Node) List(f ListFilter) ([]listing.Info, error) {
	ids, err := n.IDs()
	if err != nil {
		return nil, err
	}
	if len(f.IDs) > 0 {
		want := map[int]bool{}
		for _, id := range f.IDs {
			want[id] = true
		}
		var sel []int
		for _, id := range ids {
			if want[id] {
				sel = append(sel, id)
			}
		}
		ids = sel
	}
	var out []listing.Info
	traffic := n.netTraffic()
	for _, id := range ids {
		layer, err := n.LoadCT(id)
		if err != nil {
			n.Log.Warnf("container %d: %v", id, err)
			continue
		}
		st, _ := n.Status(id)
		if !st.Exists {
			continue
		}
		info := n.info(id, layer, st)
		running := st.Running
		if f.Stopped && running {
			continue
		}
		if !f.All && !f.Stopped && !running && len(f.IDs) == 0 {
			continue
		}
		if running {
			info.Traffic = traffic(id)
		}
		out = append(out, info)
	}
	return out, nil
}

func (n *Node) info(id int, layer *conf.Config, st Status) listing.Info {
	eff := n.Effective(layer)
	i := listing.Info{
		ID:           id,
		Name:         conf.Str(layer.Name),
		Hostname:     conf.Str(eff.Hostname),
		Description:  conf.Str(eff.Description),
		OSTemplate:   conf.Str(eff.OSTemplate),
		Private:      n.path(eff.VEPrivate, id),
		Root:         n.path(eff.VERoot, id),
		OriginSample: conf.Str(eff.OriginSample),
		Layout:       conf.Str(eff.VELayout),
		IPs:          eff.IPAddress,
		Nameserver:   eff.Nameserver,
		SearchDomain: eff.SearchDomain,
		OnBoot:       eff.OnBoot,
		Disabled:     conf.Bool(eff.Disabled, false),
		UBC:          map[string]listing.UBC{},
		Quota:        map[string]listing.Quota{},
	}
	for _, u := range listing.UBCNames {
		if bl, ok := eff.Resource(u.Name); ok {
			i.UBC[u.Name] = listing.UBC{Barrier: bl.Barrier, Limit: bl.Limit}
		}
	}
	switch {
	case st.Running:
		i.Status = "running"
		// vzlist shows a running container's beancounters as the kernel
		// has them, a set without --save included.
		n.ubcCounters(id, eff, i.UBC)
		if rs, err := runstate.Read(n.RunDir(id)); err == nil && !rs.Started.IsZero() {
			up := time.Since(rs.Started).Seconds()
			i.Uptime = &up
		}
	case st.Suspended:
		i.Status = "suspended"
	case st.Mounted:
		i.Status = "mounted"
	default:
		i.Status = "stopped"
	}
	i.BootOrder = int64p(eff.BootOrder)
	// vzlist keeps both CPU numbers in one block that exists once the
	// container runs or either is set; the other is then what applies.
	if st.Running || eff.CPUUnits != nil || eff.CPULimit != nil {
		units, limit := int64(conf.Int(eff.CPUUnits, 1000)), int64(conf.Int(eff.CPULimit, 0))
		i.CPUUnits, i.CPULimit = &units, &limit
	}
	i.CPUs = int64p(eff.CPUs)
	i.IOPrio = int64p(eff.IOPrio)
	// The container's own file, as start reads it (idMappings); a pair
	// that would not start (auto, half set) shows as 0.
	if u, g := conf.ID(layer.LocalUID), conf.ID(layer.LocalGID); u > 0 && g > 0 {
		i.LocalUID, i.LocalGID = int64(u), int64(g)
	}
	i.Features = eff.Features
	i.VMOvercommit = eff.VMOvercommit
	i.Netfilter = conf.Str(eff.Netfilter)
	i.Capability = eff.Capability
	i.BindMount = eff.BindMount
	// set validated these; a file edited by hand that no longer parses
	// shows as unset with a warning rather than failing the whole listing.
	if eff.IOLimit != nil {
		if v, err := ubc.ParseIOLimit(*eff.IOLimit); err == nil {
			i.IOLimit = &v
		} else {
			n.Log.Warnf("container %d: %v", id, err)
		}
	}
	if eff.IOPSLimit != nil {
		if v, err := ubc.ParseIOPSLimit(*eff.IOPSLimit); err == nil {
			i.IOPSLimit = &v
		} else {
			n.Log.Warnf("container %d: %v", id, err)
		}
	}
	du := n.diskUsage(id, eff, st.Mounted)
	for _, q := range []struct {
		name  string
		usage *int64
	}{{"diskspace", du.SpaceKB}, {"diskinodes", du.Inodes}} {
		if bl, ok := eff.Resource(q.name); ok {
			i.Quota[q.name] = listing.Quota{Usage: q.usage, Soft: bl.Barrier, Hard: bl.Limit}
		}
	}
	return i
}

func int64p(p *int) *int64 {
	if p == nil {
		return nil
	}
	v := int64(*p)
	return &v
}
