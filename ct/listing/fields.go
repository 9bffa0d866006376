// Package listing is what vzlist shows: it gathers it from a node's
// configs, status and counters (List, read through ct/inventory without
// the runtime) and renders it with vzctl's field names, headers, column
// widths and JSON shapes (vzctl.md §3), so scripts written for vzlist keep
// parsing its output.
package listing

import (
	"fmt"
	"strconv"
	"strings"

	"govz/conf"
)

// Info is everything vzlist can show about one container. Pointers are
// nil when unknown or unset.
type Info struct {
	ID           int
	Name         string
	Hostname     string
	Description  string
	OSTemplate   string
	Private      string
	Root         string
	OriginSample string
	Layout       string
	Status       string // running, stopped, mounted, suspended
	IPs          []string
	Nameserver   []string
	SearchDomain []string
	OnBoot       *bool // nil: unset (start if it ran before the node rebooted)
	BootOrder    *int64
	Disabled     bool
	CPUUnits     *int64
	CPULimit     *int64
	CPUs         *int64
	IOPrio       *int64
	LocalUID     int64 // 0: identity mapping
	LocalGID     int64
	UBC          map[string]UBC   // by beancounter name
	Quota        map[string]Quota // diskspace, diskinodes
	Uptime       *float64         // seconds, running only
	LoadAvg      *[3]float64
	Features     []string // FEATURES items, NAME:on|off
	Traffic      *Traffic // running containers with networking only
	VMOvercommit *float64
	Netfilter    string
	Capability   []string // CAPABILITY items, NAME:on|off
	IOLimit      *int64   // bytes/s; nil or 0: unlimited
	IOPSLimit    *int64
	BindMount    []string // HOST:CT[:ro|rw]
}

// UBC is one beancounter: held, maxheld, failcnt are known only while the
// container runs.
type UBC struct {
	Held, MaxHeld, FailCnt *int64
	Barrier, Limit         int64
}

// Quota is one disk quota: usage (nil when unknown), soft and hard limit.
type Quota struct {
	Usage      *int64
	Soft, Hard int64
}

// UBCNames are vzctl's beancounters in vzlist order, with header stems.
var UBCNames = []struct{ Name, Header string }{
	{"kmemsize", "KMEMSIZE"}, {"lockedpages", "LOCKEDP"}, {"privvmpages", "PRIVVMP"},
	{"shmpages", "SHMP"}, {"numproc", "NPROC"}, {"physpages", "PHYSP"},
	{"vmguarpages", "VMGUARP"}, {"oomguarpages", "OOMGUARP"}, {"numtcpsock", "NTCPSOCK"},
	{"numflock", "NFLOCK"}, {"numpty", "NPTY"}, {"numsiginfo", "NSIGINFO"},
	{"tcpsndbuf", "TCPSNDB"}, {"tcprcvbuf", "TCPRCVB"}, {"othersockbuf", "OTHSOCKB"},
	{"dgramrcvbuf", "DGRAMRB"}, {"numothersock", "NOTHSOCK"}, {"dcachesize", "DCACHESZ"},
	{"numfile", "NFILE"}, {"numiptent", "NIPTENT"}, {"swappages", "SWAPP"},
}

// Field is one vzlist column.
type Field struct {
	Name   string
	Header string
	Width  int  // printf width; negative = left-aligned
	Suffix bool // a .x variant: not in the default JSON field set
	// text renders the column; json renders the JSON value.
	text func(*Info) string
	json func(*Info) any
	// less orders two containers for -s.
	less func(a, b *Info) bool
}

func str(get func(*Info) string) (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
	return func(i *Info) string {
			if s := get(i); s != "" {
				return s
			}
			return "-"
		}, func(i *Info) any {
			if s := get(i); s != "" {
				return s
			}
			return nil
		}, func(a, b *Info) bool { return get(a) < get(b) }
}

func num(get func(*Info) *int64) (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
	return func(i *Info) string {
			if v := get(i); v != nil {
				return formatNum(*v)
			}
			return "-"
		}, func(i *Info) any {
			if v := get(i); v != nil {
				return *v
			}
			return nil
		}, func(a, b *Info) bool { return derefOr(get(a), -1) < derefOr(get(b), -1) }
}

func list(get func(*Info) []string) (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
	return func(i *Info) string {
			if l := get(i); len(l) > 0 {
				return strings.Join(l, " ")
			}
			return "-"
		}, func(i *Info) any { return strList(get(i)) },
		func(a, b *Info) bool { return strings.Join(get(a), " ") < strings.Join(get(b), " ") }
}

func boolean(get func(*Info) bool) (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
	return func(i *Info) string {
			if get(i) {
				return "yes"
			}
			return "no"
		}, func(i *Info) any { return get(i) },
		func(a, b *Info) bool { return !get(a) && get(b) }
}

// unsorted is vzlist's none_sort_fn: -s by the field keeps CTID order.
func unsorted(a, b *Info) bool { return false }

func derefOr(p *int64, d int64) int64 {
	if p == nil {
		return d
	}
	return *p
}

// formatNum prints vzctl's LONG_MAX as the number scripts expect.
func formatNum(v int64) string { return strconv.FormatInt(v, 10) }

func field(name, hdr string, width int, f func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool)) Field {
	t, j, l := f()
	return Field{Name: name, Header: hdr, Width: width, text: t, json: j, less: l}
}

// Fields is the field table, in vzlist's order.
func Fields() []Field {
	// veid and vpsid are vzctl's old names of ctid; they are fields of
	// their own there, so vzlist -j prints all three keys.
	ctid := func(name string) Field {
		return Field{Name: name, Header: "CTID", Width: 10,
			text: func(i *Info) string { return strconv.Itoa(i.ID) },
			json: func(i *Info) any { return i.ID },
			less: func(a, b *Info) bool { return a.ID < b.ID }}
	}
	fs := []Field{
		ctid("ctid"), ctid("veid"), ctid("vpsid"),
		field("private", "PRIVATE", -32, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return str(func(i *Info) string { return i.Private })
		}),
		field("root", "ROOT", -32, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return str(func(i *Info) string { return i.Root })
		}),
		// No mount options here: the key does not exist in govz, the
		// field does in vzctl.
		field("mount_opts", "MOUNT_OPTS", -16, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return str(func(i *Info) string { return "" })
		}),
		field("origin_sample", "ORIGIN_SAMPLE", 32, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return str(func(i *Info) string { return i.OriginSample })
		}),
		field("hostname", "HOSTNAME", -32, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return str(func(i *Info) string { return i.Hostname })
		}),
		field("name", "NAME", -32, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return str(func(i *Info) string { return i.Name })
		}),
		{Name: "smart_name", Header: "SMARTNAME", Width: 10,
			text: func(i *Info) string {
				if i.Name != "" {
					return i.Name
				}
				return strconv.Itoa(i.ID)
			},
			// vzctl prints the name as a string, else the CTID as a number.
			json: func(i *Info) any {
				if i.Name != "" {
					return i.Name
				}
				return i.ID
			},
			less: func(a, b *Info) bool { return a.Name < b.Name }},
		field("description", "DESCRIPTION", -32, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return str(func(i *Info) string { return i.Description })
		}),
		field("ostemplate", "OSTEMPLATE", -32, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return str(func(i *Info) string { return i.OSTemplate })
		}),
		field("ip", "IP_ADDR", -15, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return list(func(i *Info) []string { return i.IPs })
		}),
		field("nameserver", "NAMESERVER", -15, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return list(func(i *Info) []string { return i.Nameserver })
		}),
		field("searchdomain", "SEARCHDOMAIN", -15, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return list(func(i *Info) []string { return i.SearchDomain })
		}),
		{Name: "status", Header: "STATUS", Width: -9,
			text: func(i *Info) string { return i.Status },
			json: func(i *Info) any { return i.Status },
			less: func(a, b *Info) bool { return statusRank(a.Status) < statusRank(b.Status) }},
	}
	for _, u := range UBCNames {
		fs = append(fs, ubcFields(u.Name, u.Header)...)
	}
	for _, q := range []struct{ name, hdr string }{{"diskspace", "DSPACE"}, {"diskinodes", "DINODES"}} {
		fs = append(fs, quotaFields(q.name, q.hdr)...)
	}
	fs = append(fs,
		Field{Name: "laverage", Header: "LAVERAGE", Width: 14,
			text: func(i *Info) string {
				if i.LoadAvg == nil {
					return "-"
				}
				return fmt.Sprintf("%1.2f/%1.2f/%1.2f", i.LoadAvg[0], i.LoadAvg[1], i.LoadAvg[2])
			},
			json: func(i *Info) any {
				if i.LoadAvg == nil {
					return nil
				}
				return rawNumber(fmt.Sprintf("[%1.2f, %1.2f, %1.2f]", i.LoadAvg[0], i.LoadAvg[1], i.LoadAvg[2]))
			},
			less: func(a, b *Info) bool { return loadOf(a) < loadOf(b) }},
		Field{Name: "uptime", Header: "UPTIME", Width: 15,
			text: func(i *Info) string {
				if i.Uptime == nil {
					return "-"
				}
				return formatUptime(*i.Uptime)
			},
			json: func(i *Info) any {
				up := 0.0
				if i.Uptime != nil {
					up = *i.Uptime
				}
				return rawNumber(fmt.Sprintf("%.3f", up))
			},
			// vzlist's uptime_sort_fn: unknown first, then the longest
			// running.
			less: func(a, b *Info) bool {
				if (a.Uptime == nil) != (b.Uptime == nil) {
					return a.Uptime == nil
				}
				return uptimeOf(a) > uptimeOf(b)
			}},
		field("cpulimit", "CPULIM", 7, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return num(func(i *Info) *int64 { return i.CPULimit })
		}),
		field("cpuunits", "CPUUNI", 7, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return num(func(i *Info) *int64 { return i.CPUUnits })
		}),
		// cpus and ioprio are always numbers in vzctl's JSON, 0 when
		// unset; the table shows "-".
		field("cpus", "CPUS", 5, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return zeroNum(func(i *Info) *int64 { return i.CPUs })
		}),
		field("ioprio", "IOP", 3, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return zeroNum(func(i *Info) *int64 { return i.IOPrio })
		}),
		Field{Name: "onboot", Header: "ONBOOT", Width: 6,
			text: func(i *Info) string {
				if i.OnBoot == nil {
					return "-"
				}
				return conf.YesNo(*i.OnBoot)
			},
			json: func(i *Info) any {
				if i.OnBoot == nil {
					return nil
				}
				return *i.OnBoot
			},
			less: unsorted},
		field("bootorder", "BOOTORDER", 10, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return num(func(i *Info) *int64 { return i.BootOrder })
		}),
		// vzctl always names a layout; a config without ve_layout has the
		// default's, auto (decided at mount).
		field("layout", "LAYOUT", 6, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return str(func(i *Info) string {
				if i.Layout == "" {
					return "auto"
				}
				return i.Layout
			})
		}),
		Field{Name: "features", Header: "FEATURES", Width: -15, text: featuresText, json: featuresJSON, less: unsorted},
		unsortedField(field("vswap", "VSWAP", 5, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return boolean(func(i *Info) bool {
				u, ok := i.UBC["physpages"]
				return ok && u.Limit != maxLong
			})
		})),
		unsortedField(field("disabled", "DISABL", 6, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return boolean(func(i *Info) bool { return i.Disabled })
		})),
		// govz's own, after vzctl's keys: the host ID range of root inside.
		field("local_uid", "LOCAL_UID", 10, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return num(func(i *Info) *int64 { return &i.LocalUID })
		}),
		field("local_gid", "LOCAL_GID", 10, func() (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
			return num(func(i *Info) *int64 { return &i.LocalGID })
		}),
	)
	fs = append(fs, trafficFields()...)
	fs = append(fs, configFields()...)
	return fs
}

const maxLong = 1<<63 - 1

func unsortedField(f Field) Field {
	f.less = unsorted
	return f
}

// zeroNum is num whose JSON is 0, not null, when unset.
func zeroNum(get func(*Info) *int64) (func(*Info) string, func(*Info) any, func(a, b *Info) bool) {
	t, _, l := num(get)
	return t, func(i *Info) any { return derefOr(get(i), 0) }, l
}

// statusRank is vzlist's order of states (its VE_RUNNING, VE_STOPPED,
// VE_MOUNTED, VE_SUSPENDED enum): -s status lists running ones first.
func statusRank(s string) int {
	switch s {
	case "running":
		return 0
	case "stopped":
		return 1
	case "mounted":
		return 2
	}
	return 3
}

func loadOf(i *Info) float64 {
	if i.LoadAvg == nil {
		return -1
	}
	return i.LoadAvg[0]
}

func uptimeOf(i *Info) float64 {
	if i.Uptime == nil {
		return -1
	}
	return *i.Uptime
}

// formatUptime prints vzlist's "%.3dd%.2dh:%.2dm:%.2ds".
func formatUptime(sec float64) string {
	s := int64(sec)
	return fmt.Sprintf("%.3dd%.2dh:%.2dm:%.2ds", s/86400, s/3600%24, s/60%60, s%60)
}
