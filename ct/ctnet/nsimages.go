package ctnet

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// What a dump saved of the container's network namespace besides its
// interfaces, and what of it a restore must put back into the namespace
// CRIU restores empty (checkpoint.RestoreOptions: EmptyNs). CRIU's dump
// (criu/net.c) saves it with iproute2's and iptables' own tools and
// nftables' ruleset listing; its restore would run the matching restore
// tools, some ten execs, also when there is nothing to restore. Here what
// the kernel makes by itself in a new namespace is left out, and the rest
// goes in over netlink: an exec only for a non-empty firewall.

// nsImages is the dump's images of one network namespace.
type nsImages struct {
	// Addrs, Routes and Rules are the saved rtnetlink messages
	// (RTM_NEWADDR, RTM_NEWROUTE, RTM_NEWRULE, as the kernel dumped them).
	// Routes are in the order iproute2's `ip route restore` adds them.
	// Rules is nil when the dump holds only the kernel's default rules.
	Addrs, Routes, Rules [][]byte
	// NFT is the nftables ruleset without CRIU's own network lock table;
	// IPT and IP6T the legacy iptables rules (iptables-save's text); ""
	// when there is nothing to apply.
	NFT, IPT, IP6T string
	// IPTRestore is the restore tool matching the save tool of the dump
	// (iptables-legacy-restore after iptables-legacy-save).
	IPTRestore, IP6TRestore string
	// Sysctls are the namespace's sysctls as the dump saved them, and
	// DevSysctls its interfaces' (net/ipv4/conf/lo/...).
	Sysctls, DevSysctls []nsSysctl
	// LoMTU is lo's MTU when the guest changed it, else 0.
	LoMTU uint32
}

// iproute2's magics of its save files (ip/ipaddress.c, ip/iproute.c,
// ip/iprule.c), before the raw messages.
const loDefaultMTU = 64 * 1024

const (
	addrMagic  = 0x47361222
	routeMagic = 0x45311224
	ruleMagic  = 0x71706986
)

// netnsImage is one of the dump's images of its (one) network
// namespace: the checkpoint refuses nested ones.
func netnsImage(dir, prefix string) (string, error) {
	files, err := filepath.Glob(filepath.Join(dir, prefix+"-*.img"))
	if err != nil {
		return "", err
	}
	if len(files) != 1 {
		return "", fmt.Errorf("dump %s has %d %s-*.img images, want one", dir, len(files), prefix)
	}
	return files[0], nil
}

// readNSImages reads the network namespace images of the dump in dir.
func readNSImages(dir string) (*nsImages, error) {
	im := &nsImages{}
	var err error
	read := func(prefix string) []byte {
		if err != nil {
			return nil
		}
		var p string
		if p, err = netnsImage(dir, prefix); err != nil {
			return nil
		}
		var b []byte
		if b, err = os.ReadFile(p); err != nil {
			err = fmt.Errorf("reading the dump: %w", err)
		}
		return b
	}
	msgs := func(prefix string, magic uint32) [][]byte {
		b := read(prefix)
		if err != nil {
			return nil
		}
		var m [][]byte
		if m, err = splitSaved(b, magic); err != nil {
			err = fmt.Errorf("dump %s: %s image: %w", dir, prefix, err)
		}
		return m
	}
	im.Addrs = msgs("ifaddr", addrMagic)
	routes := append(msgs("route", routeMagic), msgs("route6", routeMagic)...)
	im.Routes = restoreOrder(routes)
	if rules := msgs("rule", ruleMagic); err == nil && !defaultRules(rules) {
		im.Rules = rules
	}
	im.NFT = withoutCRIULock(string(read("nftables")))
	if err == nil {
		err = listingOnly(im.NFT)
	}
	im.IPT = iptRules(string(read("iptables")))
	im.IP6T = iptRules(string(read("ip6tables")))
	if err != nil {
		return nil, err
	}
	im.IPTRestore, im.IP6TRestore = iptRestoreTools(dir)
	p, err := netnsImage(dir, "netns")
	if err != nil {
		return nil, err
	}
	if im.Sysctls, err = readNetnsSysctls(p); err != nil {
		return nil, fmt.Errorf("dump %s: %w", dir, err)
	}
	if p, err = netnsImage(dir, "netdev"); err != nil {
		return nil, err
	}
	if im.DevSysctls, im.LoMTU, err = readDevSysctls(p); err != nil {
		return nil, fmt.Errorf("dump %s: %w", dir, err)
	}
	im.DevSysctls = notDefault(im.DevSysctls, im.Sysctls)
	// A new namespace's lo has the kernel's MTU (drivers/net/loopback.c).
	if im.LoMTU == loDefaultMTU {
		im.LoMTU = 0
	}
	return im, nil
}

// notDefault drops the interfaces' IPv4 sysctls that have the
// namespace's "default" value, as CRIU's restore does (criu/net.c
// net_conf_op): the kernel gives an interface's IPv4 sysctl that was
// never set the "default" one written later (net/ipv4/devinet.c
// devinet_copy_dflt_conf), so lo has them once conf wrote the defaults.
// IPv6 has no such copy: lo's IPv6 sysctls all stay.
func notDefault(dev, ns []nsSysctl) []nsSysctl {
	dflt := map[string]string{}
	for _, s := range ns {
		if name, ok := strings.CutPrefix(s.Path, "net/ipv4/conf/default/"); ok {
			dflt[name] = s.Value
		}
	}
	var out []nsSysctl
	for _, s := range dev {
		// net/ipv4/conf/IF/NAME
		if f := strings.Split(s.Path, "/"); len(f) == 5 && f[1] == "ipv4" {
			if v, ok := dflt[f[4]]; ok && v == s.Value {
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

// splitSaved splits an iproute2 save file into its netlink messages.
func splitSaved(b []byte, magic uint32) ([][]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) < 4 || binary.NativeEndian.Uint32(b) != magic {
		return nil, fmt.Errorf("no iproute2 save file (magic %#x)", magic)
	}
	b = b[4:]
	var msgs [][]byte
	for len(b) > 0 {
		if len(b) < unix.NLMSG_HDRLEN {
			return nil, fmt.Errorf("%d trailing bytes", len(b))
		}
		n := int(binary.NativeEndian.Uint32(b))
		if n < unix.NLMSG_HDRLEN || n > len(b) {
			return nil, fmt.Errorf("netlink message of %d bytes in %d", n, len(b))
		}
		msgs = append(msgs, b[:n:n])
		b = b[min(nlmAlign(n), len(b)):]
	}
	return msgs, nil
}

func nlmAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// attrs returns the attributes of msg, whose fixed header after the
// netlink header is hdr bytes long, by type.
func attrs(msg []byte, hdr int) map[uint16][]byte {
	m := map[uint16][]byte{}
	b := msg[min(len(msg), unix.NLMSG_HDRLEN+hdr):]
	for len(b) >= unix.SizeofRtAttr {
		n := int(binary.NativeEndian.Uint16(b))
		if n < unix.SizeofRtAttr || n > len(b) {
			break
		}
		m[binary.NativeEndian.Uint16(b[2:])&^unix.NLA_F_NESTED] = b[unix.SizeofRtAttr:n]
		b = b[min(len(b), nlmAlign(n)):]
	}
	return m
}

// restoreOrder orders routes as `ip route restore` does (ip/iproute.c
// restore_handler): a gateway must be reachable before a route through it
// is added, so first the routes without gateway and preferred source,
// then those with a preferred source, then those through a gateway.
func restoreOrder(routes [][]byte) [][]byte {
	var pass [3][][]byte
	for _, r := range routes {
		a := attrs(r, unix.SizeofRtMsg)
		_, gw := a[unix.RTA_GATEWAY]
		_, via := a[unix.RTA_VIA]
		_, mp := a[unix.RTA_MULTIPATH]
		_, src := a[unix.RTA_PREFSRC]
		switch {
		case gw || via || mp:
			pass[2] = append(pass[2], r)
		case src:
			pass[1] = append(pass[1], r)
		default:
			pass[0] = append(pass[0], r)
		}
	}
	return append(append(pass[0], pass[1]...), pass[2]...)
}

// The kernel's rules of a new namespace (fib_default_rules_init):
// priority to table.
var defaultRule = map[uint32]uint32{0: unix.RT_TABLE_LOCAL, 32766: unix.RT_TABLE_MAIN, 32767: unix.RT_TABLE_DEFAULT}

// defaultRules reports whether rules (`ip rule save`: IPv4 only) are the
// kernel's own of a new namespace, which it then has already.
func defaultRules(rules [][]byte) bool {
	if len(rules) != len(defaultRule) {
		return false
	}
	seen := map[uint32]bool{}
	for _, r := range rules {
		// struct fib_rule_hdr: family, dst_len, src_len, tos, table,
		// res1, res2, action, flags.
		if len(r) < unix.NLMSG_HDRLEN+12 {
			return false
		}
		h := r[unix.NLMSG_HDRLEN:]
		if h[0] != unix.AF_INET || h[1] != 0 || h[2] != 0 || h[3] != 0 || h[7] != unix.FR_ACT_TO_TBL {
			return false
		}
		a := attrs(r, 12)
		var prio, table uint32
		if v := a[unix.FRA_PRIORITY]; len(v) == 4 {
			prio = binary.NativeEndian.Uint32(v)
		}
		if v := a[unix.FRA_TABLE]; len(v) == 4 {
			table = binary.NativeEndian.Uint32(v)
		}
		// Only what the kernel's own carry: a rule the guest made has
		// another protocol (RTPROT_BOOT by default) or selectors.
		for t := range a {
			switch t {
			case unix.FRA_PRIORITY, unix.FRA_TABLE, unix.FRA_SUPPRESS_PREFIXLEN, unix.FRA_PROTOCOL:
			default:
				return false
			}
		}
		if p := a[unix.FRA_PROTOCOL]; len(p) != 1 || p[0] != unix.RTPROT_KERNEL {
			return false
		}
		if want, ok := defaultRule[prio]; !ok || want != table || seen[prio] {
			return false
		}
		seen[prio] = true
	}
	return true
}

// withoutCRIULock is the nftables ruleset (`nft list ruleset`) without
// the table CRIU locks the network with during the dump (criu/netfilter.c:
// "table inet CRIU-<run id>"): its restore makes its own. "" when nothing
// else remains.
func withoutCRIULock(ruleset string) string {
	var b strings.Builder
	skip := false
	for _, l := range strings.SplitAfter(ruleset, "\n") {
		switch {
		case skip:
			skip = strings.TrimRight(l, "\n") != "}"
		case strings.HasPrefix(l, "table inet CRIU-") && strings.HasSuffix(strings.TrimSpace(l), "{"):
			skip = true
		default:
			b.WriteString(l)
		}
	}
	if strings.TrimSpace(b.String()) == "" {
		return ""
	}
	return b.String()
}

// listingOnly refuses a ruleset that is not a listing: nft runs it as
// root in the host's mount namespace, where an include statement would
// read the host's files. `nft list ruleset` prints none, but it prints a
// table's name as the guest chose it, a new line in it included.
func listingOnly(ruleset string) error {
	for _, l := range strings.Split(ruleset, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "include" {
			return fmt.Errorf("the nftables image holds %q, which no ruleset listing does", strings.TrimSpace(l))
		}
	}
	return nil
}

// iptRules is iptables-save's text when it holds a table, else "" (a
// namespace where legacy iptables was never used saves nothing).
func iptRules(save string) string {
	sc := bufio.NewScanner(strings.NewReader(save))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			return save
		}
	}
	return ""
}

// iptRestoreTools are the restore tools matching the save tools CRIU's
// dump ran, as its dump.log names them (criu/net.c dump_iptables: the
// legacy tools when iptables is the nft backend, whose rules the nftables
// image holds).
func iptRestoreTools(dir string) (string, string) {
	v4, v6 := "iptables-restore", "ip6tables-restore"
	b, err := os.ReadFile(filepath.Join(dir, "dump.log"))
	legacy := bytes.Contains(b, []byte("Running iptables-legacy-save"))
	if err != nil {
		// A dump without its log: the legacy tools when they exist, as
		// CRIU's dump prefers them.
		_, lerr := exec.LookPath("iptables-legacy-restore")
		legacy = lerr == nil
	}
	if legacy {
		v4, v6 = "iptables-legacy-restore", "ip6tables-legacy-restore"
	}
	return v4, v6
}
