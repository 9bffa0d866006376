package venet

import (
	"fmt"
	"slices"
	"strings"

	"govz/net/sysctl"
)

// Need is one node parameter routed addresses depend on.
type Need struct {
	Path string // below /proc/sys
	Want string
	Why  string
	// Soft needs only slow things down; the others break the mode.
	Soft bool
}

// String renders n the way an admin fixes it.
func (n Need) String() string { return sysctl.Dotted(n.Path) + "=" + n.Want }

// Needs lists the parameters routed addresses of the given families need
// on the node, with devs the neighbour devices answering for them.
//
// Forwarding must be on globally and on each neighbour device: the kernel
// answers a proxy ARP entry only on a forwarding device (arp_process), a
// proxy NDP entry only on a forwarding device with proxy_ndp set
// (ndisc_recv_ns). proxy_delay (default 0.8 s) delays proxied answers to
// broadcast solicitations by a random part of it, which makes the first
// contact with a container slow.
func Needs(v4, v6 bool, devs []string) []Need {
	var out []Need
	if v4 {
		out = append(out, Need{Path: "net/ipv4/ip_forward", Want: "1", Why: "routing to containers"})
		for _, d := range devs {
			out = append(out,
				Need{Path: "net/ipv4/conf/" + d + "/forwarding", Want: "1", Why: "proxy ARP on " + d},
				Need{Path: "net/ipv4/neigh/" + d + "/proxy_delay", Want: "0", Why: "prompt proxy ARP answers on " + d, Soft: true})
		}
	}
	if v6 {
		out = append(out, Need{Path: "net/ipv6/conf/all/forwarding", Want: "1", Why: "IPv6 routing to containers"})
		for _, d := range devs {
			out = append(out,
				Need{Path: "net/ipv6/conf/" + d + "/forwarding", Want: "1", Why: "proxy NDP on " + d},
				Need{Path: "net/ipv6/conf/" + d + "/proxy_ndp", Want: "1", Why: "proxy NDP on " + d},
				Need{Path: "net/ipv6/neigh/" + d + "/proxy_delay", Want: "0", Why: "prompt proxy NDP answers on " + d, Soft: true})
		}
	}
	return out
}

// Missing returns the needs s does not meet. proxy_ndp is met by
// net.ipv6.conf.all.proxy_ndp too, as the kernel reads either.
func Missing(s sysctl.Sysctls, needs []Need) []Need {
	var out []Need
	for _, n := range needs {
		v, err := s.Get(n.Path)
		if err == nil && v == n.Want {
			continue
		}
		if strings.HasSuffix(n.Path, "/proxy_ndp") {
			if all, err := s.Get("net/ipv6/conf/all/proxy_ndp"); err == nil && all == "1" {
				continue
			}
		}
		out = append(out, n)
	}
	return out
}

// Apply sets needs; ip_forward and conf/all/forwarding first, since
// writing them resets every device's forwarding.
func Apply(s sysctl.Sysctls, needs []Need) error {
	ordered := slices.Clone(needs)
	slices.SortStableFunc(ordered, func(a, b Need) int {
		ga := a.Path == "net/ipv4/ip_forward" || a.Path == "net/ipv6/conf/all/forwarding"
		gb := b.Path == "net/ipv4/ip_forward" || b.Path == "net/ipv6/conf/all/forwarding"
		switch {
		case ga && !gb:
			return -1
		case gb && !ga:
			return 1
		}
		return 0
	})
	for _, n := range ordered {
		if err := s.Set(n.Path, n.Want); err != nil {
			return fmt.Errorf("%s (needed for %s): %w", n, n.Why, err)
		}
	}
	return nil
}
