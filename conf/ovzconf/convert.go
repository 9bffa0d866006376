package ovzconf

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"govz/conf"
	"govz/ct/caps"
	"govz/ct/grants"
	"govz/ct/vzerror"
	"govz/net/bridge"
)

// Source is what the importer needs to know of the old container beyond
// its govz config: where its files are and how they are kept.
type Source struct {
	Private string // VE_PRIVATE, $VEID expanded, as the old node saw it
	Root    string // VE_ROOT, likewise
	Layout  string // "simfs" or "ploop"
	// PloopMode is ploop's image mode (expanded, plain, raw), "" for
	// the default.
	PloopMode string
	// LocalUID and LocalGID are the old user namespace's host IDs; 0
	// when the container ran on the OpenVZ kernel's own isolation.
	LocalUID, LocalGID int64
	// DiskQuota is false when DISK_QUOTA=no turned the limits off.
	DiskQuota bool
}

// Result is one container's config, converted.
type Result struct {
	Config *conf.Config
	Source Source
	// Notes say, one line each, what was not taken as it was: keys
	// converted with a loss, left out, not enforced, unknown.
	Notes []string
	// Kept are the assignments not imported, for the config's header:
	// the admin keeps what the old node said.
	Kept []Var
}

// noGlobalDefault are keys whose vz.conf value is not a container
// default: they name one container, or mean something else there.
var noGlobalDefault = map[string]bool{"VEID": true, "NAME": true, "CONFIGFILE": true,
	"DESCRIPTION": true, "HOSTNAME": true, "IP_ADDRESS": true, "ORIGIN_SAMPLE": true}

// Convert maps container id's CTID.conf ct, with the node's vz.conf
// global (nil when there is none) as defaults as vzctl merges them, onto a
// govz config layer. A value a kept key cannot take is an error naming
// the file, line, key and value (exit 85).
func Convert(id int, ct, global *File) (*Result, error) {
	res := &Result{Config: &conf.Config{}, Source: Source{Layout: "simfs", DiskQuota: true}}
	get := func(k string) (string, *File, bool) {
		if v, ok := ct.Get(k); ok {
			return v, ct, true
		}
		if global != nil && !noGlobalDefault[k] {
			if v, ok := global.Get(k); ok {
				return v, global, true
			}
		}
		return "", nil, false
	}
	c := &converter{id: id, res: res}
	for _, r := range Rules {
		v, f, ok := get(r.VZ)
		if !ok || r.How == Node {
			continue
		}
		c.file, c.line, c.rule = f.Name, f.Line(r.VZ), r
		if err := c.apply(v); err != nil {
			return nil, err
		}
	}
	res.Notes = append(res.Notes, NodeNotes(ct)...)
	for _, k := range ct.Keys() {
		if _, known := RuleFor(k); !known {
			v, _ := ct.Get(k)
			res.Kept = append(res.Kept, Var{Key: k, Value: v})
			res.Notes = append(res.Notes, fmt.Sprintf("%s:%d: unknown key %s not imported (kept in the config's header)", ct.Name, ct.Line(k), k))
		}
	}
	if !res.Source.DiskQuota {
		for _, k := range []string{"diskspace", "diskinodes", "quotatime", "quotaugidlimit"} {
			if res.Config.IsSet(k) {
				res.Config.Unset(k)
				res.Notes = append(res.Notes, fmt.Sprintf("DISK_QUOTA=no: %s not imported (vzctl did not enforce it)", k))
			}
		}
	}
	if err := res.Config.Validate(); err != nil {
		return nil, fmt.Errorf("%s: converted config: %w: %w", ct.Name, err, vzerror.ErrInvalidConfig)
	}
	if res.Source.Private == "" {
		return nil, fmt.Errorf("%s: VE_PRIVATE is not set here or in vz.conf: %w", ct.Name, vzerror.ErrInvalidConfig)
	}
	return res, nil
}

// NodeNotes says, one line each, which node settings a file holds: they
// are vz.conf's business and not imported (a CTID.conf may hold some too).
func NodeNotes(f *File) []string {
	var out []string
	for _, k := range f.Keys() {
		r, ok := RuleFor(k)
		if !ok || r.How != Node {
			continue
		}
		v, _ := f.Get(k)
		to := "no govz counterpart"
		if r.Govz != "" {
			to = "set " + r.Govz + " in vz.toml by hand if needed"
		}
		out = append(out, fmt.Sprintf("%s:%d: node setting %s=%q not imported (%s)", f.Name, f.Line(k), k, v, to))
	}
	return out
}

type converter struct {
	id    int
	res   *Result
	file  string
	line  int
	rule  Rule
	value string // the value being applied, for errf
}

func (c *converter) errf(format string, a ...any) error {
	return fmt.Errorf("%s:%d: %s=%q: %s: %w", c.file, c.line, c.rule.VZ, c.value, fmt.Sprintf(format, a...), vzerror.ErrInvalidConfig)
}

func (c *converter) note(format string, a ...any) {
	c.res.Notes = append(c.res.Notes, fmt.Sprintf("%s:%d: %s: ", c.file, c.line, c.rule.VZ)+fmt.Sprintf(format, a...))
}

func (c *converter) keep(v string) {
	c.res.Kept = append(c.res.Kept, Var{Key: c.rule.VZ, Value: v})
}

func (c *converter) apply(v string) error {
	c.value = v
	r, cfg := c.rule, c.res.Config
	switch r.VZ {
	case "VEID":
		if id, err := strconv.Atoi(v); err != nil || id != c.id {
			return c.errf("does not match CTID %d", c.id)
		}
		return nil
	case "VE_PRIVATE":
		c.res.Source.Private = Expand(v, c.id)
		return nil
	case "VE_ROOT":
		c.res.Source.Root = Expand(v, c.id)
		return nil
	case "VE_LAYOUT":
		layout, mode, _ := strings.Cut(v, ":")
		switch {
		case layout == "simfs" && mode == "":
		case layout == "ploop" && (mode == "" || mode == "expanded" || mode == "plain" || mode == "raw"):
		default:
			return c.errf("unknown layout (simfs or ploop[:expanded|plain|raw])")
		}
		c.res.Source.Layout, c.res.Source.PloopMode = layout, mode
		return nil
	case "LOCAL_UID", "LOCAL_GID":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return c.errf("not a host ID")
		}
		if r.VZ == "LOCAL_UID" {
			c.res.Source.LocalUID = n
		} else {
			c.res.Source.LocalGID = n
		}
		return nil
	case "DISK_QUOTA":
		b, err := yesNo(v)
		if err != nil {
			return c.errf("want yes or no")
		}
		c.res.Source.DiskQuota = b
		return nil
	case "CONFIGFILE":
		if cfg.OriginSample == nil && v != "" {
			return c.set("origin_sample", v)
		}
		return nil
	case "CPUWEIGHT":
		if !cfg.IsSet("cpuunits") {
			return c.set("cpuunits", v)
		}
		return nil
	case "ONBOOT", "DISABLED":
		b, err := yesNo(v)
		if err != nil {
			return c.errf("want yes or no")
		}
		return c.set(r.Govz, conf.YesNo(b))
	case "IOLIMIT":
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil {
			return c.errf("not a number of bytes per second")
		}
		return c.set(r.Govz, strconv.FormatUint(n, 10)+"B")
	case "IP_ADDRESS":
		ips, _ := conf.SplitIPs([]string{v})
		for _, ip := range ips {
			if _, err := conf.ParseIP(ip); err != nil {
				return c.errf("%v", err)
			}
		}
		cfg.IPAddress = dedup(ips)
		return nil
	case "NAMESERVER":
		cfg.Nameserver = conf.SplitBlanks(v)
		return nil
	case "SEARCHDOMAIN":
		cfg.SearchDomain = conf.SplitBlanks(v)
		return nil
	case "NETIF":
		for _, e := range strings.Split(v, ";") {
			if strings.TrimSpace(e) == "" {
				continue
			}
			if _, err := bridge.Parse(e); err != nil {
				return c.errf("%v", err)
			}
			cfg.NetIf = append(cfg.NetIf, e)
		}
		return nil
	case "CAPABILITY":
		for _, it := range conf.SplitItems([]string{v}) {
			name, _, _ := strings.Cut(strings.ToLower(it), ":")
			if name == "setveid" || name == "ve_admin" || name == "cap_setveid" || name == "cap_ve_admin" {
				c.note("%s left out: an OpenVZ kernel capability", it)
				continue
			}
			if _, err := caps.ParseChanges([]string{it}); err != nil {
				return c.errf("%v", err)
			}
			cfg.Capability = append(cfg.Capability, strings.ToLower(it))
		}
		return nil
	case "FEATURES":
		for _, it := range conf.SplitItems([]string{v}) {
			if _, err := grants.ParseFeatures([]string{it}); err != nil {
				c.note("%s left out: %s", it, why(err))
				continue
			}
			cfg.Features = append(cfg.Features, strings.ToLower(it))
		}
		return nil
	case "DEVNODES", "DEVICES":
		var out []string
		for _, it := range conf.SplitItems([]string{v}) {
			it = c.stripQuotaPerm(it)
			var err error
			if r.VZ == "DEVNODES" {
				_, err = grants.ParseDevNodes([]string{it})
			} else {
				_, err = grants.ParseDevices([]string{it})
			}
			if err != nil {
				c.note("%s left out: %s", it, why(err))
				continue
			}
			out = append(out, it)
		}
		if r.VZ == "DEVNODES" {
			cfg.DevNodes = out
		} else {
			cfg.Devices = out
		}
		return nil
	case "NETFILTER":
		if err := grants.CheckNetfilter(v); err != nil {
			c.note("%s left out: every container has every netfilter table of its own network namespace (full)", v)
			c.keep(v)
			return nil
		}
		return c.set(r.Govz, v)
	}
	if isPages(r.Govz) && os.Getpagesize() != 4096 {
		v = pagesFrom4K(v)
	}
	switch r.How {
	case Dropped:
		c.note("not imported: %s", r.Note)
		c.keep(v)
		return nil
	case Mapped, Accounted, NotEnforced, Converted:
		if r.How == NotEnforced && v != "unlimited" && v != "unlimited:unlimited" && v != "0" {
			c.note("kept as %s but not enforced on a stock kernel", r.Govz)
		}
		return c.set(r.Govz, v)
	}
	return nil
}

// stripQuotaPerm drops vzctl's q (quota management) from a device
// item's permissions: it has no counterpart.
func (c *converter) stripQuotaPerm(it string) string {
	i := strings.LastIndexByte(it, ':')
	if i < 0 || !strings.Contains(it[i+1:], "q") {
		return it
	}
	perm := strings.ReplaceAll(it[i+1:], "q", "")
	c.note("%s: the q (quota) permission left out", it)
	if perm == "" {
		perm = "none"
	}
	return it[:i+1] + perm
}

// set stores v in govz key k the way the command line would; a
// barrier above its limit (which vzctl accepts and govz refuses, one
// limit per resource) becomes limit:limit, noted.
func (c *converter) set(k, v string) error {
	if key, ok := conf.KeyByName(k); ok && strings.HasPrefix(key.Kind, "barrier:limit") {
		// vzctl's vSwap samples spell every beancounter out as
		// unlimited; unset is the same in govz (no limit) and keeps the
		// file to what the container is really limited by. NUMFILE
		// too: OpenVZ counted files per container and left the guest's
		// RLIMIT_NOFILE alone, where govz's numfile "unlimited" would
		// raise every process's soft limit to the kernel's ceiling.
		if bl, err := parsePair(key.Kind, v); err == nil && bl.Barrier == conf.Unlimited && bl.Limit == conf.Unlimited {
			return nil
		}
		if b, l, found := strings.Cut(v, ":"); found {
			if bl, err := parsePair(key.Kind, b+":"+b); err == nil {
				if ll, err := parsePair(key.Kind, l+":"+l); err == nil && ll.Limit < bl.Barrier {
					c.note("barrier %s above limit %s: both set to the limit", b, l)
					v = l + ":" + l
				}
			}
		}
	}
	cfg := c.res.Config
	if err := cfg.SetString(k, v); err != nil {
		return c.errf("%v", err)
	}
	one := &conf.Config{}
	one.SetString(k, v)
	if err := one.Validate(); err != nil {
		return c.errf("%v", err)
	}
	return nil
}

func parsePair(kind, s string) (conf.BarrierLimit, error) {
	unit := conf.UnitItems
	switch kind {
	case conf.KindPages:
		unit = conf.UnitPages
	case conf.KindBytes:
		unit = conf.UnitBytes
	}
	return conf.ParseBarrierLimit(s, unit)
}

func isPages(govz string) bool {
	k, ok := conf.KeyByName(govz)
	return ok && k.Kind == conf.KindPages
}

// pagesFrom4K rewrites page counts of an x86 OpenVZ node (4 KiB pages)
// as bytes for a host with other pages.
func pagesFrom4K(v string) string {
	parts := strings.Split(v, ":")
	for i, p := range parts {
		if n, err := strconv.ParseInt(p, 10, 64); err == nil {
			parts[i] = strconv.FormatInt(n*4096, 10) + "B"
		}
	}
	return strings.Join(parts, ":")
}

func yesNo(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes":
		return true, nil
	case "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not yes or no", v)
}

func dedup(in []string) []string {
	var out []string
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// why is an error's message without the sentinel's words at its end: a
// note says why an item was left out, not an exit code.
func why(err error) string {
	return strings.TrimSuffix(err.Error(), ": "+vzerror.ErrInvalidValue.Error())
}
