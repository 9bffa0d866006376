package ubc

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"govz/conf"
	"govz/ct/cgroup"
	"govz/ct/vzerror"
)

// Write is one cgroup file write in the container's OUTER group.
type Write struct {
	// Controller selects the hierarchy (v1) or is the controller that
	// must be enabled (v2): "memory", "pids", "cpu", "cpuset", "blkio",
	// "io".
	Controller string
	File       string
	Value      string
	// Keys are the config keys whose values this write carries: a live
	// change of any of them repeats it.
	Keys []string
	// Subtree: a cgroup v1 cpuset list that OUTER's whole subtree must
	// follow (CpusetSequence); the guest's groups below INNER included.
	Subtree bool
	// EachGroup: the same value goes to OUTER and every group below it.
	// cgroup v1's blk-throttle is flat (block/blk-throttle.c: off the
	// default hierarchy "limits of a group don't interact with limits of
	// other groups"), so a rule on OUTER alone limits nobody.
	EachGroup bool
}

func (w Write) String() string {
	return fmt.Sprintf("%s/%s=%q", w.Controller, w.File, w.Value)
}

// Knob kinds of per-process settings.
const (
	KnobRlimit = "rlimit" // prlimit(2) on every process; Resource says which
	KnobShmAll = "shmall" // kernel.shmall in the container's IPC namespace
	KnobPtyMax = "ptymax" // max= of the container's devpts instance
)

// RLIM_INFINITY as prlimit(2) takes it.
const rlimInfinity = math.MaxUint64

// ProcKnob is a setting that lives outside cgroupfs.
type ProcKnob struct {
	Kind     string
	Resource int    // KnobRlimit: unix.RLIMIT_*
	Soft     uint64 // the value (KnobShmAll pages, KnobPtyMax count)
	Hard     uint64 // KnobRlimit only
	// SoftMax and HardMax (KnobRlimit) mark a limit that is "unlimited":
	// the most the kernel lets the caller grant, which ApplyKnobs may
	// lower to the process's own hard limit (knobs.go: setRlimit).
	SoftMax, HardMax bool
	Key              string
}

// Result is what Plan decides.
type Result struct {
	Writes []Write
	Knobs  []ProcKnob
}

// Filter keeps the writes and knobs that carry any of keys.
func (r *Result) Filter(keys []string) *Result {
	out := &Result{}
	for _, w := range r.Writes {
		if slices.ContainsFunc(w.Keys, func(k string) bool { return slices.Contains(keys, k) }) {
			out.Writes = append(out.Writes, w)
		}
	}
	for _, k := range r.Knobs {
		if slices.Contains(keys, k.Key) {
			out.Knobs = append(out.Knobs, k)
		}
	}
	return out
}

// SetKeys lists the keys s sets, in Keys order.
func (s *Settings) SetKeys() []string {
	var out []string
	for _, k := range Keys {
		set := false
		switch k {
		case "vm_overcommit":
			set = s.VMOvercommit != nil
		case "cpuunits":
			set = s.CPUUnits != nil
		case "cpulimit":
			set = s.CPULimit != nil
		case "cpus":
			set = s.CPUs != nil
		case "cpumask":
			set = s.CPUMask != ""
		case "nodemask":
			set = s.NodeMask != ""
		case "ioprio":
			set = s.IOPrio != nil
		case "iolimit":
			set = s.IOLimit != nil
		case "iopslimit":
			set = s.IOPSLimit != nil
		default:
			_, set = s.UBC[k]
		}
		if set {
			out = append(out, k)
		}
	}
	return out
}

// Default CPU scheduling values: vzctl's CPUUNITS default and the CFS
// period both layouts use.
const (
	DefaultCPUUnits = 1000
	cfsPeriod       = 100000 // µs
)

// Plan maps s onto env's host: every cgroup file the keys control, unset
// keys at their "no limit" values, so the full result re-applies a whole
// configuration (--reset_ub) and Filter(s.SetKeys()) sets up a fresh
// group; per-process knobs for the keys s sets. Controllers the host lacks
// are left out (Describe reports them).
func Plan(s *Settings, env Env) (*Result, error) {
	if env.PageSize <= 0 {
		return nil, fmt.Errorf("page size unknown: %w", vzerror.ErrSystem)
	}
	r := &Result{}
	add := func(ctrl, file, value string, keys ...string) {
		if env.has(ctrl) {
			r.Writes = append(r.Writes, Write{Controller: ctrl, File: file, Value: value, Keys: keys})
		}
	}
	v1 := env.Layout == cgroup.V1
	limit := func(k string) int64 {
		if bl, ok := s.UBC[k]; ok {
			return bl.Limit
		}
		return conf.Unlimited
	}
	barrier := func(k string) int64 {
		if bl, ok := s.UBC[k]; ok {
			return bl.Barrier
		}
		return conf.Unlimited
	}
	pages := func(p int64) int64 { // pages to bytes, Unlimited kept
		if p == conf.Unlimited || p > conf.Unlimited/env.PageSize {
			return conf.Unlimited
		}
		return p * env.PageSize
	}

	// Memory: vzctl's VSwap model, --ram and --swap being the limit parts
	// of physpages and swappages (the barriers are 0 and ignored).
	ram, swap := pages(limit("physpages")), pages(limit("swappages"))
	if v1 {
		add("memory", "memory.limit_in_bytes", v1Bytes(ram), "physpages")
		if env.Swap {
			// memsw limits memory+swap together; the kernel refuses a
			// memsw below limit_in_bytes, which Apply's retry orders.
			memsw := int64(conf.Unlimited)
			if ram != conf.Unlimited && swap != conf.Unlimited && ram <= conf.Unlimited-swap {
				memsw = ram + swap
			}
			add("memory", "memory.memsw.limit_in_bytes", v1Bytes(memsw), "physpages", "swappages")
		}
		add("memory", "memory.soft_limit_in_bytes", v1Bytes(guarantee(pages(barrier("vmguarpages")), true)), "vmguarpages")
		if env.KmemTCP {
			tcp := int64(conf.Unlimited)
			snd, rcv := limit("tcpsndbuf"), limit("tcprcvbuf")
			if snd != conf.Unlimited && rcv != conf.Unlimited && snd <= conf.Unlimited-rcv {
				tcp = snd + rcv
			}
			add("memory", "memory.kmem.tcp.limit_in_bytes", v1Bytes(tcp), "tcpsndbuf", "tcprcvbuf")
		}
		add("pids", "pids.max", v2Max(limit("numproc")), "numproc")
	} else {
		add("memory", "memory.max", v2Max(ram), "physpages")
		if env.Swap {
			add("memory", "memory.swap.max", v2Max(swap), "swappages")
		}
		add("memory", "memory.low", strconv.FormatInt(guarantee(pages(barrier("vmguarpages")), false), 10), "vmguarpages")
		add("memory", "memory.min", strconv.FormatInt(guarantee(pages(barrier("oomguarpages")), false), 10), "oomguarpages")
		add("pids", "pids.max", v2Max(limit("numproc")), "numproc")
	}

	if err := planCPU(s, env, add); err != nil {
		return nil, err
	}
	if err := planCpuset(s, env, r); err != nil {
		return nil, err
	}
	planIO(s, env, &r.Writes, add)
	r.Knobs = planKnobs(s, env, pages)
	return r, nil
}

// guarantee turns a guarantee barrier into bytes: unset or unlimited
// means none (an "unlimited guarantee" would shield the whole container
// from reclaim). v1 soft limits are the reverse default: -1 = none.
func guarantee(b int64, v1 bool) int64 {
	if b == conf.Unlimited {
		if v1 {
			return conf.Unlimited
		}
		return 0
	}
	return b
}

// v1Bytes renders a v1 memory limit: -1 is "no limit".
func v1Bytes(b int64) string {
	if b == conf.Unlimited {
		return "-1"
	}
	return strconv.FormatInt(b, 10)
}

// v2Max renders a v2 limit (also v1 pids.max): "max" is "no limit".
func v2Max(v int64) string {
	if v == conf.Unlimited {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func planCPU(s *Settings, env Env, add func(ctrl, file, value string, keys ...string)) error {
	units := DefaultCPUUnits
	if s.CPUUnits != nil {
		units = *s.CPUUnits
	}
	if units < 8 || units > 500000 {
		return fmt.Errorf("cpuunits %d out of range 8..500000: %w", units, vzerror.ErrInvalidValue)
	}
	// The cap is the smaller of --cpulimit (% of one CPU) and --cpus (whole
	// CPUs), as OpenVZ combined them.
	pct := 0
	if s.CPULimit != nil && *s.CPULimit > 0 {
		pct = *s.CPULimit
	}
	if s.CPUs != nil && *s.CPUs > 0 && (pct == 0 || *s.CPUs*100 < pct) {
		pct = *s.CPUs * 100
	}
	quota := int64(pct) * cfsPeriod / 100
	if env.Layout == cgroup.V1 {
		// cpu.shares: 1024 is the kernel's default weight, vzctl's 1000.
		add("cpu", "cpu.shares", strconv.Itoa(clamp(units*1024/1000, 2, 262144)), "cpuunits")
		add("cpu", "cpu.cfs_period_us", strconv.Itoa(cfsPeriod), "cpulimit", "cpus")
		q := "-1"
		if quota > 0 {
			q = strconv.FormatInt(max(quota, 1000), 10)
		}
		add("cpu", "cpu.cfs_quota_us", q, "cpulimit", "cpus")
		return nil
	}
	// cpu.weight 100 is the default, so vzctl's 1000 maps onto it.
	add("cpu", "cpu.weight", strconv.Itoa(clamp(units/10, 1, 10000)), "cpuunits")
	q := "max"
	if quota > 0 {
		q = strconv.FormatInt(max(quota, 1000), 10)
	}
	add("cpu", "cpu.max", q+" "+strconv.Itoa(cfsPeriod), "cpulimit", "cpus")
	return nil
}

func clamp(v, lo, hi int) int { return min(max(v, lo), hi) }

func planCpuset(s *Settings, env Env, r *Result) error {
	if !env.has("cpuset") {
		return nil
	}
	v1 := env.Layout == cgroup.V1
	mems := s.NodeMask
	if mems == "all" || mems == "" {
		mems = ""
		if v1 {
			mems = env.ParentMems
		}
	}
	cpus := s.CPUMask
	if cpus == "auto" {
		// vzctl: the CPUs of the nodemask's nodes.
		if s.NodeMask == "" || s.NodeMask == "all" {
			cpus = "all"
		} else {
			nodes, err := ParseList(s.NodeMask)
			if err != nil {
				return err
			}
			var all []string
			for _, n := range nodes {
				c, ok := env.NodeCPUs[n]
				if !ok {
					return fmt.Errorf("nodemask %s: no NUMA node %d: %w", s.NodeMask, n, vzerror.ErrInvalidValue)
				}
				all = append(all, c)
			}
			norm, err := ParseList(strings.Join(all, ","))
			if err != nil {
				return err
			}
			cpus = FormatList(norm)
		}
	}
	if cpus == "all" || cpus == "" {
		cpus = ""
		if v1 {
			cpus = env.ParentCPUs
		}
	}
	if !v1 {
		// An empty cgroup2 cpuset list means "the parent's".
		r.Writes = append(r.Writes,
			Write{Controller: "cpuset", File: "cpuset.cpus", Value: cpus + "\n", Keys: []string{"cpumask", "nodemask"}},
			Write{Controller: "cpuset", File: "cpuset.mems", Value: mems + "\n", Keys: []string{"nodemask"}})
		return nil
	}
	// v1: mems before cpus (vzctl's order); both follow through the subtree.
	r.Writes = append(r.Writes,
		Write{Controller: "cpuset", File: "cpuset.mems", Value: mems, Keys: []string{"nodemask"}, Subtree: true},
		Write{Controller: "cpuset", File: "cpuset.cpus", Value: cpus, Keys: []string{"cpumask", "nodemask"}, Subtree: true})
	return nil
}

// ioWeight maps vzctl's ioprio 0..7 (CFQ's levels, default 4) onto the
// proportional weights, doubling per level around the kernel's default
// 100: 0 -> 6 ... 4 -> 100 ... 7 -> 800.
func ioWeight(prio int) int {
	return clamp(int(math.Round(100*math.Pow(2, float64(prio-4)))), 1, 1000)
}

func planIO(s *Settings, env Env, writes *[]Write, add func(ctrl, file, value string, keys ...string)) {
	v1 := env.Layout == cgroup.V1
	ctrl := "io"
	if v1 {
		ctrl = "blkio"
	}
	if env.IOWeightFile != "" {
		prio := 4
		if s.IOPrio != nil {
			prio = clamp(*s.IOPrio, 0, 7)
		}
		add(ctrl, env.IOWeightFile, strconv.Itoa(ioWeight(prio)), "ioprio")
	}
	if env.BlockDev == "" {
		return
	}
	var bps, iops int64
	if s.IOLimit != nil {
		bps = *s.IOLimit
	}
	if s.IOPSLimit != nil {
		iops = *s.IOPSLimit
	}
	if v1 {
		// A 0 rule removes the device's limit (blk-throttle).
		each := func(file, value, key string) {
			if env.has(ctrl) {
				*writes = append(*writes, Write{Controller: ctrl, File: file, Value: value, Keys: []string{key}, EachGroup: true})
			}
		}
		for _, f := range []string{"read_bps_device", "write_bps_device"} {
			each("blkio.throttle."+f, env.BlockDev+" "+strconv.FormatInt(bps, 10), "iolimit")
		}
		for _, f := range []string{"read_iops_device", "write_iops_device"} {
			each("blkio.throttle."+f, env.BlockDev+" "+strconv.FormatInt(iops, 10), "iopslimit")
		}
		return
	}
	rate := func(v int64) string {
		if v <= 0 {
			return "max"
		}
		return strconv.FormatInt(v, 10)
	}
	add(ctrl, "io.max", fmt.Sprintf("%s rbps=%s wbps=%s riops=%s wiops=%s", env.BlockDev,
		rate(bps), rate(bps), rate(iops), rate(iops)), "iolimit", "iopslimit")
}

// Kernel defaults the knobs return to when their key is unlimited.
const (
	// ShmAllDefault is the kernel's SHMALL (include/uapi/linux/shm.h:
	// ULONG_MAX - (1UL << 24)).
	ShmAllDefault = math.MaxUint64 - (1 << 24)
	// PtyMaxDefault is devpts' default max= (NR_UNIX98_PTY_MAX, 1 << 20).
	PtyMaxDefault = 1 << 20
)

// planKnobs covers only the keys s sets: a process's rlimits, the IPC
// namespace's shmall and devpts' max have no "unset" value to go back to
// other than what the container started with.
func planKnobs(s *Settings, env Env, pages func(int64) int64) []ProcKnob {
	var out []ProcKnob
	u := func(v int64) uint64 {
		if v == conf.Unlimited {
			return rlimInfinity
		}
		return uint64(v)
	}
	nofile := func(v int64) uint64 {
		// RLIMIT_NOFILE cannot exceed fs.nr_open (EPERM).
		if env.NrOpen > 0 && (v == conf.Unlimited || uint64(v) > env.NrOpen) {
			return env.NrOpen
		}
		return u(v)
	}
	rlimit := func(res int, key string, bl conf.BarrierLimit, conv func(int64) uint64) ProcKnob {
		return ProcKnob{Kind: KnobRlimit, Resource: res, Soft: conv(bl.Barrier), Hard: conv(bl.Limit),
			SoftMax: bl.Barrier == conf.Unlimited, HardMax: bl.Limit == conf.Unlimited, Key: key}
	}
	if bl, ok := s.UBC["numfile"]; ok {
		out = append(out, rlimit(unix.RLIMIT_NOFILE, "numfile", bl, nofile))
	}
	if bl, ok := s.UBC["lockedpages"]; ok {
		out = append(out, rlimit(unix.RLIMIT_MEMLOCK, "lockedpages", bl, func(v int64) uint64 { return u(pages(v)) }))
	}
	if bl, ok := s.UBC["numsiginfo"]; ok {
		out = append(out, rlimit(unix.RLIMIT_SIGPENDING, "numsiginfo", bl, u))
	}
	if bl, ok := s.UBC["shmpages"]; ok {
		shm := uint64(ShmAllDefault)
		if bl.Limit != conf.Unlimited {
			shm = uint64(bl.Limit)
		}
		out = append(out, ProcKnob{Kind: KnobShmAll, Soft: shm, Key: "shmpages"})
	}
	if bl, ok := s.UBC["numpty"]; ok {
		pty := uint64(PtyMaxDefault)
		if bl.Limit != conf.Unlimited && bl.Limit < PtyMaxDefault {
			pty = uint64(bl.Limit)
		}
		out = append(out, ProcKnob{Kind: KnobPtyMax, Soft: pty, Key: "numpty"})
	}
	return out
}
