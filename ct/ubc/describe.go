package ubc

import (
	"fmt"

	"govz/ct/cgroup"
)

// Status says how the kernel holds a key.
type Status int

const (
	// Enforced: a kernel knob limits the container as the key asks.
	Enforced Status = iota
	// Accounted: no separate limit; the usage counts against the
	// container's memory limit.
	Accounted
	// NotEnforced: accepted and stored, but this kernel has no
	// per-container knob for it.
	NotEnforced
)

func (s Status) String() string {
	switch s {
	case Enforced:
		return "enforced"
	case Accounted:
		return "accounted in memory"
	}
	return "not enforced on this kernel"
}

// Enforcement is how one key is applied on a host.
type Enforcement struct {
	Key    string `json:"key"`
	Status Status `json:"status"`
	// How names the knob ("memory.limit_in_bytes") or says why none.
	How string `json:"how"`
}

// MarshalText makes Status readable in JSON.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Env describes the host facts the mapping depends on. ProbeEnv fills it
// from the running kernel; tests build it by hand.
type Env struct {
	Layout   cgroup.Layout
	PageSize int64
	// Controllers available to the container's OUTER group ("memory",
	// "pids", "cpu", "cpuset", and "blkio" on v1 or "io" on v2).
	Controllers map[string]bool
	// Memsw: cgroup v1 swap accounting (memory.memsw.* exist); on v2,
	// memory.swap.max exists.
	Swap bool
	// KmemTCP: cgroup v1 memory.kmem.tcp.limit_in_bytes exists.
	KmemTCP bool
	// BlockDev is "MAJ:MIN" of the whole disk that holds the private
	// area; "" when it is not on a block device I/O throttling can name.
	BlockDev string
	// IOWeightFile is the proportional I/O weight file OUTER has
	// ("io.weight", "io.bfq.weight", "blkio.bfq.weight", "blkio.weight"),
	// "" for none.
	IOWeightFile string
	// ParentCPUs and ParentMems are OUTER's parent's cpuset (cgroup v1:
	// "all" is written as these).
	ParentCPUs, ParentMems string
	// NodeCPUs maps a NUMA node to its CPU list, for cpumask "auto".
	NodeCPUs map[int]string
	// NrOpen is fs.nr_open, the ceiling of RLIMIT_NOFILE.
	NrOpen uint64
}

func (e Env) has(c string) bool { return e.Controllers[c] }

// Describe says how key is applied on env's host.
func Describe(key string, env Env) Enforcement {
	e := Enforcement{Key: key}
	v1 := env.Layout == cgroup.V1
	pick := func(a, b string) string {
		if v1 {
			return a
		}
		return b
	}
	set := func(st Status, how string) Enforcement {
		e.Status, e.How = st, how
		return e
	}
	needs := func(ctrl, how string) Enforcement {
		if !env.has(ctrl) {
			return set(NotEnforced, fmt.Sprintf("not enforced on this kernel: no %s controller", ctrl))
		}
		return set(Enforced, how)
	}
	memAccounted := set(Accounted, "accounted in "+pick("memory.limit_in_bytes", "memory.max"))
	switch key {
	case "physpages":
		return needs("memory", pick("memory.limit_in_bytes", "memory.max"))
	case "swappages":
		if env.has("memory") && !env.Swap {
			return set(NotEnforced, "not enforced on this kernel: swap accounting is off")
		}
		return needs("memory", pick("memory.memsw.limit_in_bytes (ram+swap)", "memory.swap.max"))
	case "vmguarpages":
		return needs("memory", pick("memory.soft_limit_in_bytes (barrier)", "memory.low (barrier)"))
	case "oomguarpages":
		if v1 {
			return set(NotEnforced, "not enforced on this kernel: cgroup v1 has no memory.min")
		}
		return needs("memory", "memory.min (barrier)")
	case "kmemsize", "dcachesize", "othersockbuf", "dgramrcvbuf":
		if !env.has("memory") {
			return needs("memory", "")
		}
		return memAccounted
	case "tcpsndbuf", "tcprcvbuf":
		if !env.has("memory") {
			return needs("memory", "")
		}
		if v1 && env.KmemTCP {
			return set(Enforced, "memory.kmem.tcp.limit_in_bytes (tcpsndbuf+tcprcvbuf limits)")
		}
		return memAccounted
	case "numproc":
		return needs("pids", "pids.max")
	case "numfile":
		return set(Enforced, "RLIMIT_NOFILE of the container's processes (per process, inherited from init; vzctl exec starts with vzctl's own)")
	case "lockedpages":
		return set(Enforced, "RLIMIT_MEMLOCK of the container's processes (per process, inherited from init)")
	case "numsiginfo":
		return set(Enforced, "RLIMIT_SIGPENDING of the container's processes (counted per user, inherited from init)")
	case "shmpages":
		return set(Enforced, "kernel.shmall of the container's IPC namespace (its root may raise it)")
	case "numpty":
		return set(Enforced, "max= of the container's devpts instance")
	case "privvmpages", "vm_overcommit", "numtcpsock", "numothersock", "numflock", "numiptent":
		return set(NotEnforced, "not enforced on this kernel: no per-container knob")
	case "cpuunits":
		return needs("cpu", pick("cpu.shares", "cpu.weight"))
	case "cpulimit", "cpus":
		return needs("cpu", pick("cpu.cfs_quota_us", "cpu.max"))
	case "cpumask":
		return needs("cpuset", "cpuset.cpus")
	case "nodemask":
		return needs("cpuset", "cpuset.mems")
	case "ioprio":
		if !env.has(pick("blkio", "io")) || env.IOWeightFile == "" {
			return set(NotEnforced, "not enforced on this kernel: no proportional I/O weight")
		}
		return set(Enforced, env.IOWeightFile)
	case "iolimit", "iopslimit":
		if !env.has(pick("blkio", "io")) {
			return needs(pick("blkio", "io"), "")
		}
		if env.BlockDev == "" {
			return set(NotEnforced, "not enforced: the private area is not on a block device")
		}
		f := pick("blkio.throttle.read_bps_device, blkio.throttle.write_bps_device", "io.max rbps wbps")
		if key == "iopslimit" {
			f = pick("blkio.throttle.read_iops_device, blkio.throttle.write_iops_device", "io.max riops wiops")
		}
		if v1 {
			// blk-throttle is flat on v1: each group is limited alone.
			return set(Enforced, f+" on "+env.BlockDev+" in each of the container's groups (cgroup v1: groups the guest makes later are not limited)")
		}
		return set(Enforced, f+" on "+env.BlockDev)
	}
	return set(NotEnforced, "not a resource key")
}
