package listing

import (
	"os"
	"strconv"
	"time"

	"govz/conf"
	"govz/ct/cgroup"
	"govz/ct/ctnet"
	"govz/ct/inventory"
	"govz/ct/resource"
	"govz/ct/runstate"
	"govz/ct/storage"
	"govz/ct/ubc"
)

// Filter selects containers for vzlist.
type Filter struct {
	All     bool  // stopped ones too
	Stopped bool  // only those not running
	IDs     []int // restrict to these
}

// List gathers what vzlist shows about the selected containers, in CTID
// order. It takes no locks: like status, it must answer while other
// commands run.
func List(n *inventory.Node, f Filter) ([]Info, error) {
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
	var out []Info
	traffic := ctnet.Traffic(n)
	view := n.View()
	for _, id := range ids {
		layer, err := n.LoadCT(id)
		if err != nil {
			n.Log.Warnf("container %d: %v", id, err)
			continue
		}
		eff := n.Effective(layer)
		st := n.StatusIn(view, id, layer, eff)
		if !st.Exists {
			continue
		}
		info := Of(n, id, layer, eff, st)
		running := st.Running
		if f.Stopped && running {
			continue
		}
		if !f.All && !f.Stopped && !running && len(f.IDs) == 0 {
			continue
		}
		if running {
			if c := traffic(id); c != nil {
				info.Traffic = &Traffic{InBytes: int64(c.InBytes), InPackets: int64(c.InPackets),
					OutBytes: int64(c.OutBytes), OutPackets: int64(c.OutPackets)}
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// Of is what vzlist shows of container id, whose layer and effective
// config eff the caller loaded, in state st.
func Of(n *inventory.Node, id int, layer, eff *conf.Config, st inventory.Status) Info {
	i := Info{
		ID:           id,
		Name:         conf.Str(layer.Name),
		Hostname:     conf.Str(eff.Hostname),
		Description:  conf.Str(eff.Description),
		OSTemplate:   conf.Str(eff.OSTemplate),
		Private:      n.Path(eff.VEPrivate, id),
		Root:         n.Path(eff.VERoot, id),
		OriginSample: conf.Str(eff.OriginSample),
		Layout:       conf.Str(eff.VELayout),
		IPs:          eff.IPAddress,
		Nameserver:   eff.Nameserver,
		SearchDomain: eff.SearchDomain,
		OnBoot:       eff.OnBoot,
		Disabled:     conf.Bool(eff.Disabled, false),
		UBC:          map[string]UBC{},
		Quota:        map[string]Quota{},
	}
	for _, u := range UBCNames {
		if bl, ok := eff.Resource(u.Name); ok {
			i.UBC[u.Name] = UBC{Barrier: bl.Barrier, Limit: bl.Limit}
		}
	}
	switch {
	case st.Running:
		i.Status = "running"
		// vzlist shows a running container's beancounters as the kernel
		// has them, a set without --save included.
		ubcCounters(n, id, eff, i.UBC)
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
	du := diskUsage(n, id, eff, st.Mounted)
	for _, q := range []struct {
		name  string
		usage *int64
	}{{"diskspace", du.SpaceKB}, {"diskinodes", du.Inodes}} {
		if bl, ok := eff.Resource(q.name); ok {
			i.Quota[q.name] = Quota{Usage: q.usage, Soft: bl.Barrier, Hard: bl.Limit}
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

// ubcCounters fills vzlist's beancounter columns (held, maxheld, failcnt)
// of running container id from the kernel's counters, and the limit the
// kernel enforces where it keeps one. into holds the configured barrier
// and limit; a key it lacks starts unlimited.
func ubcCounters(n *inventory.Node, id int, eff *conf.Config, into map[string]UBC) {
	st, err := runstate.Read(n.RunDir(id))
	if err != nil {
		return
	}
	g, err := cgroup.Open(n.CgroupParent(id, eff), strconv.Itoa(id))
	if err != nil {
		return
	}
	c := resource.ReadCounters(g, ubc.Env{PageSize: int64(os.Getpagesize())}, st.InitPID)
	for name, cnt := range c.UBC {
		u, ok := into[name]
		if !ok {
			u = UBC{Barrier: conf.Unlimited, Limit: conf.Unlimited}
		}
		u.Held, u.MaxHeld, u.FailCnt = cnt.Held, cnt.MaxHeld, cnt.FailCnt
		if cnt.Limit != nil {
			u.Limit = *cnt.Limit
		}
		into[name] = u
	}
}

// diskUsage is what vzlist shows as diskspace and diskinodes usage.
func diskUsage(n *inventory.Node, id int, eff *conf.Config, mounted bool) storage.Usage {
	lay, err := storage.Open(conf.Str(eff.VELayout), n.Log)
	if err != nil {
		return storage.Usage{}
	}
	u, err := lay.Usage(storage.CT{ID: id, Private: n.Path(eff.VEPrivate, id), Root: n.Path(eff.VERoot, id)}, mounted)
	if err != nil {
		n.Log.Debugf(1, "container %d: disk usage: %v", id, err)
	}
	return u
}
