// Package resource maps a container's resource keys (ct/ubc) onto its
// cgroups at start, on a live `vzctl set`, and reads its counters back for
// vzlist and `vzctl ubc`.
package resource

import (
	"fmt"
	"os"
	"strconv"

	"govz/conf"
	"govz/ct/cgroup"
	"govz/ct/inventory"
	"govz/ct/lxcfs"
	"govz/ct/runstate"
	"govz/ct/ubc"
	"govz/ct/vzerror"
)

// LXCFSDir is where the global config says LXCFS is mounted.
func LXCFSDir(global *conf.Config) string {
	if global.LXCFS == nil {
		return lxcfs.DefaultDir
	}
	return *global.LXCFS
}

// Step is the resource step of a boot's hook plan (hooks.go).
type Step struct {
	ID           int           `json:"id"`
	CgroupParent string        `json:"cgroup_parent"` // "" = cgroup.DefaultParent
	Private      string        `json:"private"`
	LXCFS        string        `json:"lxcfs"`
	Settings     *ubc.Settings `json:"settings"`
}

// StepFor is container id's resource step (effective config eff, private
// area private, LXCFS at lxcfsDir): an error wrapping
// vzerror.ErrInvalidValue when its resource keys do not parse.
func StepFor(id int, eff *conf.Config, private, lxcfsDir string) (*Step, error) {
	s, err := ubc.FromConfig(eff)
	if err != nil {
		return nil, err
	}
	return &Step{ID: id, CgroupParent: conf.Str(eff.CgroupParent), Private: private, LXCFS: lxcfsDir, Settings: s}, nil
}

// Start is the supervisor's prestart step for resources: the
// container's OUTER group gets the limits its configuration sets (a fresh
// group already has the defaults), init gets the per-process ones before
// it execs (everything in the container inherits them), and the LXCFS
// files go over /proc. Every boot runs it with the configuration of that
// moment, so a reboot from inside re-applies what --save stored.
func Start(d *Step, initPID int) error {
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

// NoteLXCFS tells the admin, at start, when the container's /proc will
// show the host's memory and CPUs.
func NoteLXCFS(n *inventory.Node) {
	if err := lxcfs.Available(LXCFSDir(n.Global)); err != nil {
		n.Log.Infof("LXCFS is not available (%v): free and top inside the container show the host's memory and CPUs", err)
	}
}

// ApplyLive applies keys (resource keys only; nil = every resource key,
// i.e. --reset_ub) of the effective configuration eff to running
// container id: its cgroup files at once, the per-process knobs to every
// process it has now.
func ApplyLive(n *inventory.Node, id int, eff *conf.Config, keys []string) error {
	st, err := runstate.Read(n.RunDir(id))
	if err != nil || !st.Alive() {
		return fmt.Errorf("container %d: %w", id, vzerror.ErrNotRunning)
	}
	l, err := Probe(n, id, eff, st)
	if err != nil {
		return err
	}
	return l.Apply(eff, keys)
}

// Live is a container's cgroup and how this host enforces its keys there,
// probed once for a command that both describes and applies them (vzctl
// set: the probe reads a dozen cgroup and sysfs files).
type Live struct {
	id      int
	g       *cgroup.Group
	env     ubc.Env
	initPID int // 0: not running
}

// Probe opens container id's cgroup and probes its environment. st is its
// run record when it runs (its cgroup parent is the record's, and Apply
// needs it), nil for a stopped container, whose group does not exist: the
// environment is then an approximation.
func Probe(n *inventory.Node, id int, eff *conf.Config, st *runstate.State) (*Live, error) {
	parent := ""
	if st != nil {
		parent = st.CgroupParent
	}
	if parent == "" {
		parent = n.CgroupParent(id, eff)
	}
	g, err := cgroup.Open(parent, strconv.Itoa(id))
	if err != nil {
		return nil, err
	}
	l := &Live{id: id, g: g, env: ubc.ProbeEnv(g, ubc.HostFS{}, n.Path(eff.VEPrivate, id))}
	if st != nil {
		l.initPID = st.InitPID
	}
	return l, nil
}

// Env is how this host enforces the keys (ubc.Describe).
func (l *Live) Env() ubc.Env { return l.env }

// Apply applies keys (nil: every resource key) of eff to the running
// container, as ApplyLive.
func (l *Live) Apply(eff *conf.Config, keys []string) error {
	if l.initPID <= 0 {
		return fmt.Errorf("container %d: %w", l.id, vzerror.ErrNotRunning)
	}
	g := l.g
	s, err := ubc.FromConfig(eff)
	if err != nil {
		return err
	}
	r, err := ubc.Plan(s, l.env)
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
	return ubc.ApplyKnobs(pids, l.initPID, r.Knobs)
}

// Env describes how this host enforces container id's keys. For
// a stopped container it is an approximation: the group does not exist.
func Env(n *inventory.Node, id int, eff *conf.Config) (ubc.Env, error) {
	l, err := Probe(n, id, eff, nil)
	if err != nil {
		return ubc.Env{}, err
	}
	return l.Env(), nil
}

// Row is one line of the beancounter table: the kernel's counters (nil
// when it keeps none), the configured barrier and limit, and how the key
// is enforced here.
type Row struct {
	Resource    string     `json:"resource"`
	Held        *int64     `json:"held"`
	MaxHeld     *int64     `json:"maxheld"`
	Barrier     int64      `json:"barrier"`
	Limit       int64      `json:"limit"`
	FailCnt     *int64     `json:"failcnt"`
	Enforcement ubc.Status `json:"enforcement"`
	How         string     `json:"how"`
}

// Report is `vzctl ubc`: /proc/user_beancounters for one container,
// plus the CPU and I/O counters cgroups keep and the LXCFS state.
type Report struct {
	ID       int          `json:"ctid"`
	Layout   string       `json:"cgroup_layout"`
	Rows     []Row        `json:"beancounters"`
	CPU      ubc.CPUStats `json:"cpu"`
	IO       ubc.IOStats  `json:"io"`
	OOMKills *int64       `json:"oom_kills"`
	// LXCFS is "" when the container's /proc comes from LXCFS, else why not.
	LXCFS string `json:"lxcfs_unavailable,omitempty"`
}

// Read reads running container id's beancounters (effective config eff).
func Read(n *inventory.Node, id int, eff *conf.Config) (*Report, error) {
	st, err := runstate.Read(n.RunDir(id))
	if err != nil || !st.Alive() {
		return nil, fmt.Errorf("container %d: %w", id, vzerror.ErrNotRunning)
	}
	g, err := cgroup.Open(n.CgroupParent(id, eff), strconv.Itoa(id))
	if err != nil {
		return nil, err
	}
	env := ubc.ProbeEnv(g, ubc.HostFS{}, n.Path(eff.VEPrivate, id))
	cnts := ReadCounters(g, env, st.InitPID)
	rep := &Report{ID: id, Layout: g.Layout().String(), CPU: cnts.CPU, IO: cnts.IO, OOMKills: cnts.OOMKills}
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
		rep.Rows = append(rep.Rows, Row{Resource: name, Held: cnt.Held, MaxHeld: cnt.MaxHeld, FailCnt: cnt.FailCnt,
			Barrier: bl.Barrier, Limit: bl.Limit, Enforcement: d.Status, How: d.How})
	}
	if err := lxcfs.Available(LXCFSDir(n.Global)); err != nil {
		rep.LXCFS = err.Error()
	}
	return rep, nil
}

// ReadCounters gathers the cgroup counters and those only procfs has.
func ReadCounters(g *cgroup.Group, env ubc.Env, initPID int) *ubc.Counters {
	c := ubc.ReadCounters(g, ubc.HostFS{}, env.PageSize)
	if pids, err := g.Procs(); err == nil {
		for k, v := range ubc.ReadProcCounters("/proc", pids, initPID) {
			c.UBC[k] = v
		}
	}
	return c
}
