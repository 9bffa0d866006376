package listing

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"govz/conf"
	"govz/ct/ctnet"
	"govz/ct/inventory"
	"govz/ct/runstate"
	"govz/ct/storage"
	"govz/ct/ubc"
)

// Filter selects containers for vzlist.
type Filter struct {
	All     bool  // stopped ones too
	Stopped bool  // only those not running
	IDs     []int // restrict to these
	// Fields are the names of the fields shown or sorted by
	// (Options.FieldNames); nil gathers every one. A listing that shows
	// none of a container's per-process counters or disk usage does not
	// read them: on a node with a thousand running containers those walks
	// (every process's descriptors, quotactl) are most of vzlist's time.
	Fields []string
}

// needs are the costly parts of Info a listing reads.
type needs struct {
	pids         bool // numproc (the pids controller)
	memory       bool // the memory beancounters and vswap (the memory controller)
	procCounters bool // numfile, numtcpsock, numothersock, numpty, numflock (ubc.ReadProcCounters)
	disk         bool // diskspace and diskinodes usage
}

var needAll = needs{pids: true, memory: true, procCounters: true, disk: true}

// procCounterKeys are the beancounters counted from the container's
// processes rather than read from its cgroups (ubc.ReadProcCounters).
var procCounterKeys = map[string]bool{"numfile": true, "numtcpsock": true, "numothersock": true, "numpty": true, "numflock": true}

func needsOf(fields []string) needs {
	if fields == nil {
		return needAll
	}
	ubcs := map[string]bool{}
	for _, u := range UBCNames {
		ubcs[u.Name] = true
	}
	var nd needs
	for _, f := range fields {
		base, _, _ := strings.Cut(f, ".")
		switch {
		case base == "numproc":
			nd.pids = true
		case procCounterKeys[base]:
			nd.procCounters = true
		case ubcs[base] || base == "vswap":
			nd.memory = true
		case base == "diskspace" || base == "diskinodes":
			nd.disk = true
		}
	}
	return nd
}

// controllers is a container's group with only the controllers a listing
// reads: ubc.ReadCounters skips a controller whose path it cannot get.
type controllers struct {
	ubc.Group
	want map[string]bool
}

var errNotListed = errors.New("controller not listed")

func (c controllers) OuterPath(ctrl string) (string, error) {
	if !c.want[ctrl] {
		return "", errNotListed
	}
	return c.Group.OuterPath(ctrl)
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
	nd := needsOf(f.Fields)
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
		info := of(n, view, id, layer, eff, st, nd)
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
	return of(n, nil, id, layer, eff, st, needAll)
}

// of is Of with the listing's view of the node (nil: read it here) and
// only the costly parts nd asks for.
func of(n *inventory.Node, view *inventory.View, id int, layer, eff *conf.Config, st inventory.Status, nd needs) Info {
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
		if rs, err := runstate.Read(n.RunDir(id)); err == nil {
			ubcCounters(n, view, id, eff, rs, nd, i.UBC)
			if !rs.Started.IsZero() {
				up := time.Since(rs.Started).Seconds()
				i.Uptime = &up
			}
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
	var du storage.Usage
	if nd.disk {
		du = diskUsage(n, id, eff, st.Mounted)
	}
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
// and limit; a key it lacks starts unlimited. Only the counters nd asks
// for are read.
func ubcCounters(n *inventory.Node, view *inventory.View, id int, eff *conf.Config, rs *runstate.State, nd needs, into map[string]UBC) {
	if !nd.pids && !nd.memory && !nd.procCounters {
		return
	}
	// The run record's parent, as n.CgroupParent would read it again.
	parent := rs.CgroupParent
	if parent == "" {
		parent = n.CgroupParent(id, eff)
	}
	g, err := view.Cgroup(parent, strconv.Itoa(id))
	if err != nil {
		return
	}
	c := ubc.ReadCounters(controllers{Group: g, want: map[string]bool{"pids": nd.pids, "memory": nd.memory}},
		ubc.HostFS{}, int64(os.Getpagesize()))
	if nd.procCounters {
		if pids, err := g.Procs(); err == nil {
			for k, v := range ubc.ReadProcCounters("/proc", pids, rs.InitPID) {
				c.UBC[k] = v
			}
		}
	}
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
