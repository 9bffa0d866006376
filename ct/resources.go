package ct

import (
	"fmt"
	"os"
	"strconv"

	"govz/conf"
	"govz/ct/cgroup"
	"govz/ct/listing"
	"govz/ct/lxcfs"
	"govz/ct/runstate"
	"govz/ct/ubc"
	"govz/ct/vzerror"
)

// This file maps a container's resource keys (ct/ubc) onto its cgroups at
// start, on a live `vzctl set`, and reads its counters back for vzlist and
// `vzctl ubc`.

// lxcfsDir is where the global config says LXCFS is mounted.
func (n *Node) lxcfsDir() string {
	if n.Global.LXCFS == nil {
		return lxcfs.DefaultDir
	}
	return *n.Global.LXCFS
}

// resStep is the resource step of a boot's hook plan (hooks.go).
type resStep struct {
	ID           int           `json:"id"`
	CgroupParent string        `json:"cgroup_parent"` // "" = cgroup.DefaultParent
	Private      string        `json:"private"`
	LXCFS        string        `json:"lxcfs"`
	Settings     *ubc.Settings `json:"settings"`
}

// resPlan is container c's resource step: an error wrapping
// vzerror.ErrInvalidValue when its resource keys do not parse.
func resPlan(c *Container) (*resStep, error) {
	s, err := ubc.FromConfig(c.Config)
	if err != nil {
		return nil, err
	}
	return &resStep{ID: c.ID, CgroupParent: conf.Str(c.Config.CgroupParent), Private: c.Private, LXCFS: c.LXCFS, Settings: s}, nil
}

// startResources is the supervisor's prestart step for resources: the
// container's OUTER group gets the limits its configuration sets (a fresh
// group already has the defaults), init gets the per-process ones before
// it execs (everything in the container inherits them), and the LXCFS
// files go over /proc. Every boot runs it with the configuration of that
// moment, so a reboot from inside re-applies what --save stored.
func startResources(d *resStep, initPID int) error {
	s := d.Settings
	if s == nil {
		s = &ubc.Settings{UBC: map[string]conf.BarrierLimit{}}
	}
	// The supervisor's own choice (Spec.CgroupParent), not a run record
	// that may be a dead boot's.
	parent := d.CgroupParent
	if parent == "" {
		parent = cgroup.DefaultParent
	}
	g, err := cgroup.Open(parent, strconv.Itoa(d.ID))
	if err != nil {
		return err
	}
	env := ubc.ProbeEnv(g, ubc.HostFS{}, d.Private)
	r, err := ubc.Plan(s, env)
	if err != nil {
		return err
	}
	r = r.Filter(s.SetKeys())
	if err := ubc.Apply(g, ubc.HostFS{}, r); err != nil {
		return err
	}
	if err := ubc.ApplyKnobs([]int{initPID}, initPID, r.Knobs); err != nil {
		return err
	}
	if lxcfs.Available(d.LXCFS) == nil {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("lxcfs: finding this binary: %w: %w", err, vzerror.ErrSystem)
		}
		return lxcfs.Attach(d.LXCFS, initPID, exe)
	}
	return nil
}

// noteLXCFS tells the admin, at start, when the container's /proc will
// show the host's memory and CPUs.
func (n *Node) noteLXCFS() {
	if err := lxcfs.Available(n.lxcfsDir()); err != nil {
		n.Log.Infof("LXCFS is not available (%v): free and top inside the container show the host's memory and CPUs", err)
	}
}

// applyLive applies keys (resource keys only; nil = every resource key,
// i.e. --reset_ub) of the effective configuration eff to running
// container id: its cgroup files at once, the per-process knobs to every
// process it has now.
func (n *Node) applyLive(id int, eff *conf.Config, keys []string) error {
	st, err := runstate.Read(n.RunDir(id))
	if err != nil || !st.Alive() {
		return fmt.Errorf("container %d: %w", id, vzerror.ErrNotRunning)
	}
	s, err := ubc.FromConfig(eff)
	if err != nil {
		return err
	}
	g, err := cgroup.Open(n.cgroupParent(id, eff), strconv.Itoa(id))
	if err != nil {
		return err
	}
	r, err := ubc.Plan(s, ubc.ProbeEnv(g, ubc.HostFS{}, n.path(eff.VEPrivate, id)))
	if err != nil {
		return err
	}
	if keys == nil {
		// Keys the config leaves unset go back to "no limit" in the
		// cgroups; per-process knobs exist only for keys that are set.
		r.Knobs = r.Filter(s.SetKeys()).Knobs
	} else {
		r = r.Filter(keys)
	}
	if err := ubc.Apply(g, ubc.HostFS{}, r); err != nil {
		return err
	}
	if len(r.Knobs) == 0 {
		return nil
	}
	pids, err := g.Procs()
	if err != nil {
		return fmt.Errorf("%w (%w)", err, vzerror.ErrSetUBC)
	}
	return ubc.ApplyKnobs(pids, st.InitPID, r.Knobs)
}

// resourceEnv describes how this host enforces container id's keys. For
// a stopped container it is an approximation: the group does not exist.
func (n *Node) resourceEnv(id int, eff *conf.Config) (ubc.Env, error) {
	g, err := cgroup.Open(n.cgroupParent(id, eff), strconv.Itoa(id))
	if err != nil {
		return ubc.Env{}, err
	}
	return ubc.ProbeEnv(g, ubc.HostFS{}, n.path(eff.VEPrivate, id)), nil
}

// UBCRow is one line of the beancounter table: the kernel's counters (nil
// when it keeps none), the configured barrier and limit, and how the key
// is enforced here.
type UBCRow struct {
	Resource    string     `json:"resource"`
	Held        *int64     `json:"held"`
	MaxHeld     *int64     `json:"maxheld"`
	Barrier     int64      `json:"barrier"`
	Limit       int64      `json:"limit"`
	FailCnt     *int64     `json:"failcnt"`
	Enforcement ubc.Status `json:"enforcement"`
	How         string     `json:"how"`
}

// UBCReport is `vzctl ubc`: /proc/user_beancounters for one container,
// plus the CPU and I/O counters cgroups keep and the LXCFS state.
type UBCReport struct {
	ID       int          `json:"ctid"`
	Layout   string       `json:"cgroup_layout"`
	Rows     []UBCRow     `json:"beancounters"`
	CPU      ubc.CPUStats `json:"cpu"`
	IO       ubc.IOStats  `json:"io"`
	OOMKills *int64       `json:"oom_kills"`
	// LXCFS is "" when the container's /proc comes from LXCFS, else why not.
	LXCFS string `json:"lxcfs_unavailable,omitempty"`
}

// UBC reads running container id's beancounters.
func (n *Node) UBC(id int) (*UBCReport, error) {
	c, err := n.Load(id)
	if err != nil {
		return nil, err
	}
	eff := c.Config
	st, err := runstate.Read(c.RunDir)
	if err != nil || !st.Alive() {
		return nil, fmt.Errorf("container %d: %w", id, vzerror.ErrNotRunning)
	}
	g, err := cgroup.Open(n.cgroupParent(id, eff), strconv.Itoa(id))
	if err != nil {
		return nil, err
	}
	env := ubc.ProbeEnv(g, ubc.HostFS{}, c.Private)
	cnts := readCounters(g, env, st.InitPID)
	rep := &UBCReport{ID: id, Layout: g.Layout().String(), CPU: cnts.CPU, IO: cnts.IO, OOMKills: cnts.OOMKills}
	for _, name := range ubc.Names {
		bl, ok := eff.Resource(name)
		if !ok {
			bl = conf.BarrierLimit{Barrier: conf.Unlimited, Limit: conf.Unlimited}
		}
		d := ubc.Describe(name, env)
		cnt := cnts.UBC[name]
		if cnt.Limit != nil {
			// What the kernel enforces now, which a set without --save
			// may have changed.
			bl.Limit = *cnt.Limit
		}
		rep.Rows = append(rep.Rows, UBCRow{Resource: name, Held: cnt.Held, MaxHeld: cnt.MaxHeld, FailCnt: cnt.FailCnt,
			Barrier: bl.Barrier, Limit: bl.Limit, Enforcement: d.Status, How: d.How})
	}
	if err := lxcfs.Available(n.lxcfsDir()); err != nil {
		rep.LXCFS = err.Error()
	}
	return rep, nil
}

// readCounters gathers the cgroup counters and those only procfs has.
func readCounters(g *cgroup.Group, env ubc.Env, initPID int) *ubc.Counters {
	c := ubc.ReadCounters(g, ubc.HostFS{}, env.PageSize)
	if pids, err := g.Procs(); err == nil {
		for k, v := range ubc.ReadProcCounters("/proc", pids, initPID) {
			c.UBC[k] = v
		}
	}
	return c
}

// ubcCounters fills vzlist's beancounter columns (held, maxheld, failcnt)
// of running container id from the kernel's counters, and the limit the
// kernel enforces where it keeps one. into holds the configured barrier
// and limit; a key it lacks starts unlimited.
func (n *Node) ubcCounters(id int, eff *conf.Config, into map[string]listing.UBC) {
	st, err := runstate.Read(n.RunDir(id))
	if err != nil {
		return
	}
	g, err := cgroup.Open(n.cgroupParent(id, eff), strconv.Itoa(id))
	if err != nil {
		return
	}
	c := readCounters(g, ubc.Env{PageSize: int64(os.Getpagesize())}, st.InitPID)
	for name, cnt := range c.UBC {
		u, ok := into[name]
		if !ok {
			u = listing.UBC{Barrier: conf.Unlimited, Limit: conf.Unlimited}
		}
		u.Held, u.MaxHeld, u.FailCnt = cnt.Held, cnt.MaxHeld, cnt.FailCnt
		if cnt.Limit != nil {
			u.Limit = *cnt.Limit
		}
		into[name] = u
	}
}
