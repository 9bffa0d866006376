package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"govz/conf"
	"govz/ct"
	"govz/ct/ubc"
	"govz/ct/vzerror"
)

// resourceFlags are set's resource options that are not plain config keys
// (vzctl.md §1.3): --ram and --swap write the limit part of physpages and
// swappages, --cpulimit takes a % sign, --cpuweight is --cpuunits, and
// the pre-VSwap --meminfo and hidden --avnumproc are accepted and ignored.
func resourceFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "ram", Usage: "RAM limit in bytes (suffixes K M G T, P = pages): physpages 0:RAM"},
		&cli.StringFlag{Name: "swap", Usage: "swap limit in bytes (suffixes K M G T, P = pages): swappages 0:SWAP"},
		&cli.StringFlag{Name: "cpulimit", Usage: "hard CPU cap: N per cent of one CPU, or N% of the whole node; 0 = none"},
		&cli.StringFlag{Name: "cpuweight", Usage: "alias of --cpuunits"},
		&cli.BoolFlag{Name: "reset_ub", Usage: "re-apply the stored resource limits to the running container"},
		&cli.StringFlag{Name: "applyconfig", Usage: "set the keys of config sample NAME (not hostname, ip, ostemplate, paths)"},
		&cli.StringFlag{Name: "meminfo", Usage: "accepted for compatibility; /proc/meminfo comes from LXCFS"},
		&cli.StringFlag{Name: "avnumproc", Usage: "accepted for compatibility; not used"},
	}
}

// ownsFlag reports whether resourceFlags defines the option for a config
// key, so the generic per-key option must not.
func ownsFlag(name string) bool { return name == "cpulimit" }

// resourceOptions turns resourceFlags into o's layer and options.
func resourceOptions(c *cli.Context, o *ct.SetOptions, warnf func(string, ...any)) error {
	for _, f := range []struct{ flag, key string }{{"ram", "physpages"}, {"swap", "swappages"}} {
		if !c.IsSet(f.flag) {
			continue
		}
		v := strings.TrimSpace(c.String(f.flag))
		if v != "" && v[len(v)-1] >= '0' && v[len(v)-1] <= '9' {
			v += "B" // vzctl: --ram and --swap are bytes by default
		}
		if err := o.Layer.SetString(f.key, "0:"+v); err != nil {
			return err
		}
	}
	if c.IsSet("cpulimit") {
		// vzctl counts the node's CPUs (sysconf); so does NumCPU unless
		// vzctl itself runs pinned.
		l, err := conf.ParseCPULimit(c.String("cpulimit"), runtime.NumCPU())
		if err != nil {
			return err
		}
		o.Layer.CPULimit = &l
	}
	if c.IsSet("cpuweight") {
		if err := o.Layer.SetString("cpuunits", c.String("cpuweight")); err != nil {
			return err
		}
	}
	for _, f := range []string{"meminfo", "avnumproc"} {
		if c.IsSet(f) {
			warnf("--%s is ignored on this kernel", f)
		}
	}
	o.ResetUB = c.Bool("reset_ub")
	o.ApplyConfig = c.String("applyconfig")
	return nil
}

// ubcCmd is `vzctl ubc [-j] [CTID...]`: /proc/user_beancounters (or
// vzubc) for govz containers, every running one when none is named.
func ubcCmd(e *env, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name: "ubc", Usage: "show resource usage, limits and failure counts (beancounters)", ArgsUsage: "[CTID...]",
		OnUsageError: usageErr,
		Flags:        []cli.Flag{&cli.BoolFlag{Name: "json", Aliases: []string{"j"}, Usage: "JSON output"}},
		Action: func(c *cli.Context) error {
			n, err := e.node()
			if err != nil {
				return err
			}
			var ids []int
			for _, a := range c.Args().Slice() {
				if a == "--" {
					continue // left by reorder when several CTIDs are given
				}
				id, err := n.Resolve(a)
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			if len(ids) == 0 {
				infos, err := n.List(ct.ListFilter{})
				if err != nil {
					return err
				}
				for _, i := range infos {
					ids = append(ids, i.ID)
				}
			}
			reps := []*ct.UBCReport{}
			for _, id := range ids {
				r, err := n.UBC(id)
				if err != nil {
					return err
				}
				reps = append(reps, r)
			}
			if c.Bool("json") {
				b, err := json.MarshalIndent(reps, "", "  ")
				if err != nil {
					return fmt.Errorf("encoding json: %w: %w", err, vzerror.ErrSystem)
				}
				_, err = fmt.Fprintf(stdout, "%s\n", b)
				return err
			}
			return writeUBC(stdout, reps)
		},
	}
}

// writeUBC prints /proc/user_beancounters' table ("-" where the kernel
// keeps no counter), then what cgroups count besides and which configured
// limits this kernel cannot enforce.
func writeUBC(w io.Writer, reps []*ct.UBCReport) error {
	num := func(p *int64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatInt(*p, 10)
	}
	var b strings.Builder
	b.WriteString("Version: 2.5\n")
	fmt.Fprintf(&b, "%10s  %-12s %20s %20s %20s %20s %20s\n", "uid", "resource", "held", "maxheld", "barrier", "limit", "failcnt")
	for _, r := range reps {
		for i, row := range r.Rows {
			uid := ""
			if i == 0 {
				uid = strconv.Itoa(r.ID) + ":"
			}
			fmt.Fprintf(&b, "%11s %-12s %20s %20s %20d %20d %20s\n", uid, row.Resource,
				num(row.Held), num(row.MaxHeld), row.Barrier, row.Limit, num(row.FailCnt))
		}
	}
	for _, r := range reps {
		fmt.Fprintf(&b, "\n%d: cgroup %s", r.ID, r.Layout)
		if r.CPU.UsageNS != nil {
			fmt.Fprintf(&b, "; cpu %.3fs", float64(*r.CPU.UsageNS)/1e9)
		}
		if r.CPU.Throttled != nil && r.CPU.Periods != nil {
			fmt.Fprintf(&b, ", throttled in %d of %d periods", *r.CPU.Throttled, *r.CPU.Periods)
		}
		if r.IO.ReadBytes != nil {
			fmt.Fprintf(&b, "; io read %s bytes (%s ops), written %s bytes (%s ops)",
				num(r.IO.ReadBytes), num(r.IO.ReadIOs), num(r.IO.WriteBytes), num(r.IO.WriteIOs))
		}
		if r.OOMKills != nil {
			fmt.Fprintf(&b, "; oom kills %d", *r.OOMKills)
		}
		b.WriteString("\n")
		for _, row := range r.Rows {
			limited := row.Barrier != conf.Unlimited || row.Limit != conf.Unlimited
			if limited && row.Enforcement != ubc.Enforced && !(row.Barrier == 0 && row.Limit == conf.Unlimited) {
				fmt.Fprintf(&b, "%d: %s %d:%d is %s\n", r.ID, row.Resource, row.Barrier, row.Limit, row.How)
			}
		}
		if r.LXCFS != "" {
			fmt.Fprintf(&b, "%d: /proc shows the host's figures: %s\n", r.ID, r.LXCFS)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
