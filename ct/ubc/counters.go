package ubc

import (
	"strconv"
	"strings"

	"govz/conf"
	"govz/ct/cgroup"
)

// Counter is the live part of one beancounter, in the key's unit; nil
// where the kernel keeps no such number.
type Counter struct {
	Held    *int64 `json:"held"`
	MaxHeld *int64 `json:"maxheld"`
	FailCnt *int64 `json:"failcnt"`
	// Limit is the limit in force in the kernel, in the key's unit
	// (conf.Unlimited for none), where a cgroup file holds it: a set
	// without --save makes it differ from the configuration.
	Limit *int64 `json:"limit,omitempty"`
}

// kernelLimit reads a limit file: "max", -1 and v1's page-rounded
// LONG_MAX are no limit; the value is divided into the key's unit.
func kernelLimit(fs FS, path string, unit int64) *int64 {
	b, err := fs.ReadFile(path)
	if err != nil {
		return nil
	}
	s := strings.TrimSpace(string(b))
	if s == "max" || s == "-1" {
		return i64(conf.Unlimited)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil
	}
	if v >= 1<<62 {
		return i64(conf.Unlimited)
	}
	return i64(v / unit)
}

// CPUStats are the container's CPU time and throttling (CFS bandwidth).
type CPUStats struct {
	UsageNS     *int64 `json:"usage_ns"`
	Periods     *int64 `json:"nr_periods"`
	Throttled   *int64 `json:"nr_throttled"`
	ThrottledNS *int64 `json:"throttled_ns"`
}

// IOStats are the container's block I/O totals over all devices.
type IOStats struct {
	ReadBytes  *int64 `json:"read_bytes"`
	WriteBytes *int64 `json:"write_bytes"`
	ReadIOs    *int64 `json:"read_ios"`
	WriteIOs   *int64 `json:"write_ios"`
}

// Counters is what the kernel counts for one container.
type Counters struct {
	UBC      map[string]Counter `json:"ubc"`
	CPU      CPUStats           `json:"cpu"`
	IO       IOStats            `json:"io"`
	OOMKills *int64             `json:"oom_kills"`
}

func i64(v int64) *int64 { return &v }

// readInt reads a file holding one number; nil when missing or "max".
func readInt(fs FS, path string) *int64 {
	b, err := fs.ReadFile(path)
	if err != nil {
		return nil
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return nil
	}
	return &v
}

// readKV reads "key value" lines (memory.stat, cpu.stat, pids.events,
// memory.oom_control); nil when missing.
func readKV(fs FS, path string) map[string]int64 {
	b, err := fs.ReadFile(path)
	if err != nil {
		return nil
	}
	return parseKV(string(b))
}

func parseKV(s string) map[string]int64 {
	m := map[string]int64{}
	for _, l := range strings.Split(s, "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			m[f[0]] = v
		}
	}
	return m
}

func kv(m map[string]int64, k string) *int64 {
	if v, ok := m[k]; ok {
		return &v
	}
	return nil
}

func div(p *int64, d int64) *int64 {
	if p == nil {
		return nil
	}
	return i64(*p / d)
}

// ReadCounters reads the container's counters from OUTER (and, on cgroup
// v1, the per-group event counts of the whole subtree: v1 counts an OOM
// kill or a refused fork in the group of the task, not where the limit
// sits). Missing controllers or files leave their numbers nil.
func ReadCounters(g Group, fs FS, pageSize int64) *Counters {
	c := &Counters{UBC: map[string]Counter{}}
	dir := func(ctrl string) string {
		d, err := g.OuterPath(ctrl)
		if err != nil {
			return ""
		}
		return d
	}
	if g.Layout() == cgroup.V1 {
		readV1(c, fs, dir, pageSize)
	} else {
		readV2(c, fs, dir, pageSize)
	}
	return c
}

// subtreeSum adds up key of the "key value" file name in dir and every
// group below it.
func subtreeSum(fs FS, dir, name, key string) *int64 {
	subs, err := fs.SubDirs(dir)
	if err != nil {
		return nil
	}
	var sum *int64
	for _, d := range append([]string{dir}, subs...) {
		if v := kv(readKV(fs, d+"/"+name), key); v != nil {
			if sum == nil {
				sum = i64(0)
			}
			*sum += *v
		}
	}
	return sum
}

func readV1(c *Counters, fs FS, dir func(string) string, pageSize int64) {
	if d := dir("memory"); d != "" {
		usage := readInt(fs, d+"/memory.usage_in_bytes")
		ram := kernelLimit(fs, d+"/memory.limit_in_bytes", pageSize)
		// A charge tries memsw (RAM+swap) before memory, so with little
		// swap the RAM limit is hit as memsw failures, which 6.x kernels
		// no longer count (mm/memcontrol.c sets track_failcnt for the
		// memory counter only). An OOM kill in the container is a failure
		// at the limit reclaim could not resolve, so those count too.
		c.OOMKills = subtreeSum(fs, d, "memory.oom_control", "oom_kill")
		fail := readInt(fs, d+"/memory.failcnt")
		for _, extra := range []*int64{readInt(fs, d+"/memory.memsw.failcnt"), c.OOMKills} {
			if extra != nil && fail != nil {
				fail = i64(*fail + *extra)
			}
		}
		c.UBC["physpages"] = Counter{
			Held:    div(usage, pageSize),
			MaxHeld: div(readInt(fs, d+"/memory.max_usage_in_bytes"), pageSize),
			FailCnt: fail,
			Limit:   ram,
		}
		if sw := readInt(fs, d+"/memory.memsw.usage_in_bytes"); sw != nil && usage != nil {
			// memsw limits RAM+swap: the swap part is what it adds.
			swl := kernelLimit(fs, d+"/memory.memsw.limit_in_bytes", pageSize)
			if swl != nil && ram != nil && *swl != conf.Unlimited && *ram != conf.Unlimited {
				swl = i64(max(*swl-*ram, 0))
			}
			c.UBC["swappages"] = Counter{Held: i64(max(*sw-*usage, 0) / pageSize),
				FailCnt: readInt(fs, d+"/memory.memsw.failcnt"), Limit: swl}
		}
		if k := readInt(fs, d+"/memory.kmem.usage_in_bytes"); k != nil {
			c.UBC["kmemsize"] = Counter{Held: k, MaxHeld: readInt(fs, d+"/memory.kmem.max_usage_in_bytes"),
				FailCnt: readInt(fs, d+"/memory.kmem.failcnt")}
		}
		// OUTER holds no tasks: its own stats are zero, the total_ ones
		// cover the subtree.
		st := readKV(fs, d+"/memory.stat")
		if v := kv(st, "total_shmem"); v != nil {
			c.UBC["shmpages"] = Counter{Held: div(v, pageSize)}
		}
		if v := kv(st, "total_unevictable"); v != nil {
			c.UBC["lockedpages"] = Counter{Held: div(v, pageSize)}
		}
	}
	if d := dir("pids"); d != "" {
		c.UBC["numproc"] = Counter{Held: readInt(fs, d+"/pids.current"), MaxHeld: readInt(fs, d+"/pids.peak"),
			FailCnt: subtreeSum(fs, d, "pids.events", "max"), Limit: kernelLimit(fs, d+"/pids.max", 1)}
	}
	if d := dir("cpuacct"); d != "" {
		c.CPU.UsageNS = readInt(fs, d+"/cpuacct.usage")
	}
	if d := dir("cpu"); d != "" {
		st := readKV(fs, d+"/cpu.stat")
		c.CPU.Periods, c.CPU.Throttled, c.CPU.ThrottledNS = kv(st, "nr_periods"), kv(st, "nr_throttled"), kv(st, "throttled_time")
	}
	if d := dir("blkio"); d != "" {
		c.IO.ReadBytes, c.IO.WriteBytes = blkioSum(fs, d+"/blkio.throttle.io_service_bytes_recursive")
		c.IO.ReadIOs, c.IO.WriteIOs = blkioSum(fs, d+"/blkio.throttle.io_serviced_recursive")
	}
}

// blkioSum adds the Read and Write lines ("MAJ:MIN Read N") of a v1
// blkio stat file over its devices.
func blkioSum(fs FS, path string) (r, w *int64) {
	b, err := fs.ReadFile(path)
	if err != nil {
		return nil, nil
	}
	r, w = i64(0), i64(0)
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		v, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			continue
		}
		switch f[1] {
		case "Read":
			*r += v
		case "Write":
			*w += v
		}
	}
	return r, w
}

func readV2(c *Counters, fs FS, dir func(string) string, pageSize int64) {
	if d := dir("memory"); d != "" {
		ev := readKV(fs, d+"/memory.events")
		c.UBC["physpages"] = Counter{
			Held:    div(readInt(fs, d+"/memory.current"), pageSize),
			MaxHeld: div(readInt(fs, d+"/memory.peak"), pageSize),
			// memory.events "max": how often usage hit memory.max, the
			// cgroup2 failcnt (runc's reading too).
			FailCnt: kv(ev, "max"),
			Limit:   kernelLimit(fs, d+"/memory.max", pageSize),
		}
		c.OOMKills = kv(ev, "oom_kill")
		if sw := readInt(fs, d+"/memory.swap.current"); sw != nil {
			c.UBC["swappages"] = Counter{Held: div(sw, pageSize), MaxHeld: div(readInt(fs, d+"/memory.swap.peak"), pageSize),
				FailCnt: kv(readKV(fs, d+"/memory.swap.events"), "max"), Limit: kernelLimit(fs, d+"/memory.swap.max", pageSize)}
		}
		st := readKV(fs, d+"/memory.stat")
		if v := kv(st, "kernel"); v != nil {
			c.UBC["kmemsize"] = Counter{Held: v}
		}
		if v := kv(st, "shmem"); v != nil {
			c.UBC["shmpages"] = Counter{Held: div(v, pageSize)}
		}
		if v := kv(st, "unevictable"); v != nil {
			c.UBC["lockedpages"] = Counter{Held: div(v, pageSize)}
		}
		if v := kv(st, "slab_reclaimable"); v != nil {
			c.UBC["dcachesize"] = Counter{Held: v}
		}
	}
	if d := dir("pids"); d != "" {
		// Kernels with pids.events.local count a refused fork at every
		// level up from the limit's group; older ones only in the group
		// of the task that forked (kernel/cgroup/pids.c), i.e. below OUTER.
		fail := kv(readKV(fs, d+"/pids.events"), "max")
		if _, err := fs.ReadFile(d + "/pids.events.local"); err != nil {
			fail = subtreeSum(fs, d, "pids.events", "max")
		}
		c.UBC["numproc"] = Counter{Held: readInt(fs, d+"/pids.current"), MaxHeld: readInt(fs, d+"/pids.peak"),
			FailCnt: fail, Limit: kernelLimit(fs, d+"/pids.max", 1)}
	}
	if d := dir("cpu"); d != "" {
		st := readKV(fs, d+"/cpu.stat")
		us := func(k string) *int64 {
			if v := kv(st, k); v != nil {
				return i64(*v * 1000)
			}
			return nil
		}
		c.CPU = CPUStats{UsageNS: us("usage_usec"), Periods: kv(st, "nr_periods"),
			Throttled: kv(st, "nr_throttled"), ThrottledNS: us("throttled_usec")}
	}
	if d := dir("io"); d != "" {
		c.IO = ioStat(fs, d+"/io.stat")
	}
}

// ioStat sums cgroup2 io.stat ("MAJ:MIN rbytes=N wbytes=N rios=N wios=N
// ...") over its devices.
func ioStat(fs FS, path string) IOStats {
	b, err := fs.ReadFile(path)
	if err != nil {
		return IOStats{}
	}
	s := IOStats{ReadBytes: i64(0), WriteBytes: i64(0), ReadIOs: i64(0), WriteIOs: i64(0)}
	for _, l := range strings.Split(string(b), "\n") {
		for _, tok := range strings.Fields(l) {
			k, v, ok := strings.Cut(tok, "=")
			n, err := strconv.ParseInt(v, 10, 64)
			if !ok || err != nil {
				continue
			}
			switch k {
			case "rbytes":
				*s.ReadBytes += n
			case "wbytes":
				*s.WriteBytes += n
			case "rios":
				*s.ReadIOs += n
			case "wios":
				*s.WriteIOs += n
			}
		}
	}
	return s
}
