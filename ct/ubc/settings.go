package ubc

import (
	"fmt"
	"strconv"
	"strings"

	"govz/conf"
	"govz/ct/vzerror"
)

// Names are the beancounters in /proc/user_beancounters' order; each is
// also the config key that holds its barrier:limit.
var Names = []string{
	"kmemsize", "lockedpages", "privvmpages", "shmpages", "numproc",
	"physpages", "vmguarpages", "oomguarpages", "numtcpsock", "numflock",
	"numpty", "numsiginfo", "tcpsndbuf", "tcprcvbuf", "othersockbuf",
	"dgramrcvbuf", "numothersock", "dcachesize", "numfile", "numiptent",
	"swappages",
}

// Keys are every config key this package maps: the beancounters, the CPU
// and I/O keys, and vm_overcommit. ResetUB and the counters cover these.
var Keys = append(append([]string{}, Names...),
	"vm_overcommit", "cpuunits", "cpulimit", "cpus", "cpumask", "nodemask",
	"ioprio", "iolimit", "iopslimit")

// IsResourceKey reports whether key is one of Keys.
func IsResourceKey(key string) bool {
	for _, k := range Keys {
		if k == key {
			return true
		}
	}
	return false
}

// Settings is the resource part of a container's effective configuration,
// parsed and checked. Unset keys are absent (nil, "" or missing from UBC):
// an unset key means "no limit", as in vzctl.
type Settings struct {
	// UBC holds the beancounter keys that are set, in each key's unit
	// (pages, bytes or items), conf.Unlimited meaning no limit.
	UBC map[string]conf.BarrierLimit
	// VMOvercommit is accepted and reported, never enforced.
	VMOvercommit *float64
	CPUUnits     *int   // weight 8..500000, default 1000
	CPULimit     *int   // % of one CPU, 0 = none
	CPUs         *int   // CPU count cap, 0 = none
	CPUMask      string // normalised CPU list, "all", "auto" or "" (unset)
	NodeMask     string // normalised node list, "all" or ""
	IOPrio       *int   // 0..7, default 4
	IOLimit      *int64 // bytes/s, 0 = none
	IOPSLimit    *int64 // operations/s, 0 = none
}

// FromConfig parses the resource keys of c (an effective configuration:
// the global defaults merged with the container's file). Errors wrap
// vzerror.ErrInvalidValue.
func FromConfig(c *conf.Config) (*Settings, error) {
	s := &Settings{UBC: map[string]conf.BarrierLimit{}}
	if c == nil {
		return s, nil
	}
	for _, name := range Names {
		if !c.IsSet(name) {
			continue
		}
		bl, ok := c.Resource(name)
		if !ok {
			return nil, fmt.Errorf("%s: cannot parse stored value: %w", name, vzerror.ErrInvalidValue)
		}
		s.UBC[name] = bl
	}
	s.VMOvercommit = c.VMOvercommit
	s.CPUUnits, s.CPULimit, s.CPUs, s.IOPrio = c.CPUUnits, c.CPULimit, c.CPUs, c.IOPrio
	if v := conf.Str(c.CPUMask); v != "" {
		m, err := parseMask(v, true)
		if err != nil {
			return nil, fmt.Errorf("cpumask: %w", err)
		}
		s.CPUMask = m
	}
	if v := conf.Str(c.NodeMask); v != "" {
		m, err := parseMask(v, false)
		if err != nil {
			return nil, fmt.Errorf("nodemask: %w", err)
		}
		s.NodeMask = m
	}
	if c.IOLimit != nil {
		v, err := ParseIOLimit(*c.IOLimit)
		if err != nil {
			return nil, err
		}
		s.IOLimit = &v
	}
	if c.IOPSLimit != nil {
		v, err := ParseIOPSLimit(*c.IOPSLimit)
		if err != nil {
			return nil, err
		}
		s.IOPSLimit = &v
	}
	return s, nil
}

// maxIOLimit is vzctl's cap on --iolimit (2 GB/s).
const maxIOLimit = 2 << 30

// ParseIOLimit parses vzctl's --iolimit: a number in MB/s, or with a B, K,
// M or G suffix, or "unlimited"; 0 and unlimited mean none.
func ParseIOLimit(s string) (int64, error) {
	v := strings.TrimSpace(s)
	if v == "unlimited" {
		return 0, nil
	}
	if v != "" && v[len(v)-1] >= '0' && v[len(v)-1] <= '9' {
		v += "M" // vzctl's default unit
	}
	n, err := conf.ParseValue(v, conf.UnitBytes)
	if err != nil {
		return 0, fmt.Errorf("iolimit %q: %w", s, err)
	}
	if n > maxIOLimit {
		return 0, fmt.Errorf("iolimit %q is above 2G per second: %w", s, vzerror.ErrInvalidValue)
	}
	return n, nil
}

// ParseIOPSLimit parses vzctl's --iopslimit: a count or "unlimited"
// (stored as 0, none).
func ParseIOPSLimit(s string) (int64, error) {
	v := strings.TrimSpace(s)
	if v == "unlimited" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("iopslimit %q: %w", s, vzerror.ErrInvalidValue)
	}
	return n, nil
}

// parseMask normalises a CPU or node list ("0-2,7"), or the words "all"
// (and for CPUs "auto": the CPUs of the nodemask nodes).
func parseMask(s string, cpus bool) (string, error) {
	s = strings.TrimSpace(s)
	if s == "all" || (cpus && s == "auto") {
		return s, nil
	}
	set, err := ParseList(s)
	if err != nil {
		return "", err
	}
	return FormatList(set), nil
}
