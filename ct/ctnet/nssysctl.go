package ctnet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/checkpoint-restore/go-criu/v7/crit"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/netdev"
	criusysctl "github.com/checkpoint-restore/go-criu/v7/crit/images/sysctl"

	"govz/net/sysctl"
)

// nsSysctl is one of a network namespace's sysctls: its path under
// /proc/sys and its value as the file reads. With Unknown set, it is
// that many values of the directory at Path the dump holds under names
// govz does not know.
type nsSysctl struct {
	Path, Value string
	Unknown     int
}

// CRIU's netns image holds the namespace's "all" and "default" device
// configurations as lists of values in the order of these names
// (criu/net.c devconfs4, devconfs6), and net.unix's (unix_conf_entries).
var (
	criuConf4 = []string{
		"accept_local", "accept_redirects", "accept_source_route", "arp_accept", "arp_announce", "arp_filter",
		"arp_ignore", "arp_notify", "bootp_relay", "disable_policy", "disable_xfrm", "force_igmp_version",
		"forwarding", "igmpv2_unsolicited_report_interval", "igmpv3_unsolicited_report_interval", "log_martians",
		"medium_id", "promote_secondaries", "proxy_arp", "proxy_arp_pvlan", "route_localnet", "rp_filter",
		"secure_redirects", "send_redirects", "shared_media", "src_valid_mark", "tag", "ignore_routes_with_linkdown",
		"drop_gratuitous_arp", "drop_unicast_in_l2_multicast",
	}
	criuConf6 = []string{
		"accept_dad", "accept_ra", "accept_ra_defrtr", "accept_ra_from_local", "accept_ra_min_hop_limit",
		"accept_ra_mtu", "accept_ra_pinfo", "accept_ra_rt_info_max_plen", "accept_ra_rtr_pref", "accept_redirects",
		"accept_source_route", "autoconf", "dad_transmits", "disable_ipv6", "drop_unicast_in_l2_multicast",
		"drop_unsolicited_na", "force_mld_version", "force_tllao", "forwarding", "hop_limit",
		"ignore_routes_with_linkdown", "keep_addr_on_down", "max_addresses", "max_desync_factor",
		"mldv1_unsolicited_report_interval", "mldv2_unsolicited_report_interval", "mtu", "ndisc_notify",
		"optimistic_dad", "proxy_ndp", "regen_max_retry", "router_probe_interval", "router_solicitation_delay",
		"router_solicitation_interval", "router_solicitations", "stable_secret", "suppress_frag_ndisc",
		"temp_prefered_lft", "temp_valid_lft", "use_oif_addrs_only", "use_optimistic", "use_tempaddr",
	}
	criuUnixConf = []string{"max_dgram_qlen"}
)

// readNetnsSysctls reads the sysctls of CRIU's netns image at path, in
// the order CRIU writes them (criu/net.c restore_netns_conf: "all" before
// "default", so that "default" is not changed by a later "all"; and
// accept_redirects after forwarding, which resets it).
func readNetnsSysctls(path string) ([]nsSysctl, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := crit.New(f, nil, "", false, true).Decode(&netdev.NetnsEntry{})
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	if len(img.Entries) != 1 {
		return nil, fmt.Errorf("%s has %d entries, want one", path, len(img.Entries))
	}
	ns, ok := img.Entries[0].Message.(*netdev.NetnsEntry)
	if !ok {
		return nil, fmt.Errorf("%s is no netns image", path)
	}
	return criuSysctls(path, []sysctlList{
		{"net/ipv4/conf/all", criuConf4, ns.AllConf4},
		{"net/ipv4/conf/default", criuConf4, ns.DefConf4},
		{"net/ipv6/conf/all", criuConf6, ns.AllConf6},
		{"net/ipv6/conf/default", criuConf6, ns.DefConf6},
		{"net/unix", criuUnixConf, ns.UnixConf},
	})
}

// readDevSysctls reads the interfaces' sysctls of CRIU's netdev image at
// path (criu/net.c restore_links writes them once it made each link), and
// lo's MTU.
func readDevSysctls(path string) ([]nsSysctl, uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	img, err := crit.New(f, nil, "", false, true).Decode(&netdev.NetDeviceEntry{})
	if err != nil {
		return nil, 0, fmt.Errorf("decoding %s: %w", path, err)
	}
	var lists []sysctlList
	var loMTU uint32
	for _, e := range img.Entries {
		d, ok := e.Message.(*netdev.NetDeviceEntry)
		if !ok {
			return nil, 0, fmt.Errorf("%s is no netdev image", path)
		}
		// A name the kernel took for a path would be no interface's.
		if n := d.GetName(); n == "" || n == "." || n == ".." || strings.Contains(n, "/") {
			return nil, 0, fmt.Errorf("%s: interface name %q", path, n)
		}
		if d.GetType() == netdev.NdType_LOOPBACK {
			loMTU = d.GetMtu()
		}
		lists = append(lists,
			sysctlList{"net/ipv4/conf/" + d.GetName(), criuConf4, d.Conf4},
			sysctlList{"net/ipv6/conf/" + d.GetName(), criuConf6, d.Conf6})
	}
	out, err := criuSysctls(path, lists)
	return out, loMTU, err
}

// sysctlList is a directory's values in the order of CRIU's names.
type sysctlList struct {
	dir   string
	names []string
	vals  []*criusysctl.SysctlEntry
}

// criuSysctls names the values of lists, accept_redirects after the
// others of its directory (forwarding resets it).
func criuSysctls(path string, lists []sysctlList) ([]nsSysctl, error) {
	var out []nsSysctl
	for _, c := range lists {
		// A later CRIU's list: it appends new names to these, and
		// restores those it knows, as here (criu/net.c net_conf_op).
		vals := c.vals
		if len(vals) > len(c.names) {
			out = append(out, nsSysctl{Path: c.dir, Unknown: len(vals) - len(c.names)})
			vals = vals[:len(c.names)]
		}
		var last []nsSysctl
		for i, v := range vals {
			s := nsSysctl{Path: c.dir + "/" + c.names[i]}
			switch {
			case v.Iarg != nil:
				s.Value = strconv.Itoa(int(*v.Iarg))
			case v.Sarg != nil && *v.Sarg != "":
				s.Value = *v.Sarg
			default: // not on the dumping kernel, or unset (stable_secret)
				continue
			}
			if c.names[i] == "accept_redirects" {
				last = append(last, s)
				continue
			}
			out = append(out, s)
		}
		out = append(out, last...)
	}
	return out, nil
}

// restoreSysctls writes the sysctls whose value differs from the one the
// namespace has. On the real /proc/sys it must run on a thread in the
// namespace (/proc/sys/net is the opener's namespace's). One the running
// kernel lacks is reported to warnf.
func restoreSysctls(sc sysctl.Sysctls, sysctls []nsSysctl, warnf func(string, ...any)) error {
	for _, s := range sysctls {
		if s.Unknown > 0 {
			warnf("%d sysctls of %s in the dump have names this govz does not know (a later CRIU's): not restored", s.Unknown, sysctl.Dotted(s.Path))
			continue
		}
		cur, err := sc.Get(s.Path)
		if errors.Is(err, fs.ErrNotExist) {
			warnf("sysctl %s=%s of the dump: not on this kernel", sysctl.Dotted(s.Path), s.Value)
			continue
		}
		// stable_secret reads EIO until set.
		if err == nil && cur == s.Value {
			continue
		}
		if err := sc.Set(s.Path, s.Value); err != nil {
			return err
		}
	}
	return nil
}
