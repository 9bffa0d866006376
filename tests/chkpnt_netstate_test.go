package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The state of a container's network namespace that is not its
// interfaces (issue #15): the guest's own addresses and routes on lo, its
// policy rules, its firewall (nftables, iptables-nft and legacy iptables)
// and its namespace's and lo's sysctls come back from the dump, with or without
// veths. Not what CRIU's dump does not save: IPv6 rules (`ip rule save`
// is IPv4's) and routes outside the main table (`ip route save`). The "guest" sets them from the host through nsenter into the
// container's network namespace: busybox has no ip rule, nft or iptables.

// guestNetCmds are what the guest does to its network namespace.
var guestNetCmds = [][]string{
	{"ip", "link", "set", "lo", "mtu", "1500"},
	{"ip", "addr", "add", "10.99.0.1/32", "dev", "lo"},
	{"ip", "-6", "addr", "add", "fd00:99::1/128", "dev", "lo"},
	{"ip", "route", "add", "10.98.0.0/24", "dev", "lo"},
	{"ip", "rule", "add", "from", "10.99.0.1", "table", "100", "prio", "1000"},
	{"nft", "add table inet guest; add chain inet guest in { type filter hook input priority 0; }; add rule inet guest in tcp dport 4444 drop"},
	{"iptables", "-A", "INPUT", "-s", "10.96.0.1", "-j", "DROP"},
	{"iptables-legacy", "-A", "OUTPUT", "-d", "10.95.0.1", "-j", "DROP"},
	{"ip6tables-legacy", "-A", "OUTPUT", "-d", "fd00:95::1", "-j", "DROP"},
	{"sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=2", "net.ipv4.conf.default.arp_ignore=1", "net.ipv6.conf.all.hop_limit=33", "net.unix.max_dgram_qlen=77", "net.ipv4.conf.lo.route_localnet=1", "net.ipv6.conf.lo.max_addresses=7"},
}

var nftCounter = regexp.MustCompile(`counter packets \d+ bytes \d+|\[\d+:\d+\]`)

// guestNetState is what the guest's network namespace holds besides its
// interfaces, as the host sees it through container id's init.
func guestNetState(n *node, id string) string {
	n.t.Helper()
	initPID, _, _ := supervisedInit(n, id)
	ns := fmt.Sprintf("--net=/proc/%d/ns/net", initPID)
	var b strings.Builder
	for _, c := range [][]string{
		{"ip", "addr", "show", "dev", "lo"},
		{"ip", "route", "show", "table", "all"},
		{"ip", "-6", "route", "show", "table", "all"},
		{"ip", "rule"}, {"ip", "-6", "rule"},
		{"nft", "list", "ruleset"},
		{"iptables-legacy-save"}, {"ip6tables-legacy-save"},
		{"sysctl", "net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.arp_ignore", "net.ipv6.conf.all.hop_limit", "net.unix.max_dgram_qlen", "net.ipv4.conf.lo.route_localnet", "net.ipv6.conf.lo.max_addresses"},
	} {
		out, err := exec.Command("nsenter", append([]string{ns, "--"}, c...)...).CombinedOutput()
		if err != nil {
			n.t.Fatalf("%s in container %s: %v: %s", strings.Join(c, " "), id, err, out)
		}
		fmt.Fprintf(&b, "# %s\n", strings.Join(c, " "))
		for _, l := range strings.Split(string(out), "\n") {
			// iptables-save's header and footer carry the time.
			if strings.HasPrefix(l, "# ") {
				continue
			}
			b.WriteString(nftCounter.ReplaceAllString(l, "COUNTERS") + "\n")
		}
	}
	return b.String()
}

// setGuestNetState makes the guest's changes to container id's network
// namespace and returns the state they make.
func setGuestNetState(n *node, id string) string {
	n.t.Helper()
	initPID, _, _ := supervisedInit(n, id)
	ns := fmt.Sprintf("--net=/proc/%d/ns/net", initPID)
	for _, c := range guestNetCmds {
		if out, err := exec.Command("nsenter", append([]string{ns, "--"}, c...)...).CombinedOutput(); err != nil {
			n.t.Fatalf("%s in container %s: %v: %s", strings.Join(c, " "), id, err, out)
		}
	}
	s := guestNetState(n, id)
	for _, want := range []string{"lo: <LOOPBACK,UP,LOWER_UP> mtu 1500 ", "10.99.0.1/32", "fd00:99::1/128", "10.98.0.0/24", "from 10.99.0.1 lookup 100",
		"tcp dport 4444 drop", "ip saddr 10.96.0.1", "-A OUTPUT -d 10.95.0.1/32 -j DROP",
		"-A OUTPUT -d fd00:95::1/128 -j DROP", "rp_filter = 2", "arp_ignore = 1", "hop_limit = 33", "max_dgram_qlen = 77", "route_localnet = 1", "max_addresses = 7"} {
		if !strings.Contains(s, want) {
			n.t.Fatalf("the guest's network state lacks %q:\n%s", want, s)
		}
	}
	return s
}

// sameGuestNetState fails unless container id's network namespace holds
// want.
func sameGuestNetState(n *node, id, want string) {
	n.t.Helper()
	got := guestNetState(n, id)
	if got == want {
		return
	}
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var diff []string
	for _, l := range gl {
		if !contains(wl, l) {
			diff = append(diff, "+ "+l)
		}
	}
	for _, l := range wl {
		if !contains(gl, l) {
			diff = append(diff, "- "+l)
		}
	}
	n.t.Fatalf("the guest's network state changed across checkpoint/restore:\n%s\nnow:\n%s", strings.Join(diff, "\n"), got)
}

// keepDumpCopy copies the dump aside when GOVZ_TEST_KEEP_DUMP names a
// directory (fixtures for ct/ctnet's unit tests).
func keepDumpCopy(n *node, id, name string) {
	dst := os.Getenv("GOVZ_TEST_KEEP_DUMP")
	if dst == "" {
		return
	}
	if out, err := exec.Command("cp", "-a", n.path("dump/Dump."+id), dst+"/"+name).CombinedOutput(); err != nil {
		n.t.Fatalf("copying the dump: %v: %s", err, out)
	}
}

// TestChkpntRestoreNetStateBusybox: a container without network
// configuration (no veth, only lo): first with the state of a new
// namespace (the usual case, where the restore runs no tool), then with
// the guest's changes.
func TestChkpntRestoreNetStateBusybox(t *testing.T) {
	needCRIU(t)
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	startCounter(n, "101")
	pristine := guestNetState(n, "101")
	n.ok("vzctl", "chkpnt", "101")
	keepDumpCopy(n, "101", "pristine")
	n.ok("vzctl", "restore", "101")
	sameGuestNetState(n, "101", pristine)

	want := setGuestNetState(n, "101")
	n.ok("vzctl", "chkpnt", "101")
	keepDumpCopy(n, "101", "busybox")
	frozen := n.counter("101")
	n.ok("vzctl", "restore", "101")
	n.waitCounter("101", frozen+3, 10e9)
	sameGuestNetState(n, "101", want)
	n.ok("vzctl", "stop", "101")
}

// TestChkpntRestoreNetStateVenet: a routed container (a venet pair).
func TestChkpntRestoreNetStateVenet(t *testing.T) {
	needCRIU(t)
	w := newNetWorld(t, false)
	w.ok("vzctl", "create", "101", "--ipadd", "10.77.0.10")
	startCounter(w.node, "101")
	want := setGuestNetState(w.node, "101")
	w.ok("vzctl", "chkpnt", "101")
	keepDumpCopy(w.node, "101", "venet")
	frozen := w.counter("101")
	w.ok("vzctl", "restore", "101")
	w.waitCounter("101", frozen+3, 10e9)
	sameGuestNetState(w.node, "101", want)
	if !w.lanPings("10.77.0.10") {
		t.Fatal("the restored container does not answer the LAN peer")
	}
	w.ok("vzctl", "stop", "101")
}

// TestRestoreNetStateFailureKeepsDump: a restore whose namespace state
// fails to apply (a firewall nft refuses) leaves the dump and nothing
// else, and restores once the image is fixed.
func TestRestoreNetStateFailureKeepsDump(t *testing.T) {
	needCRIU(t)
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	startCounter(n, "101")
	want := setGuestNetState(n, "101")
	n.ok("vzctl", "chkpnt", "101")
	imgs, err := filepath.Glob(n.path("dump/Dump.101/nftables-*.img"))
	if err != nil || len(imgs) != 1 {
		t.Fatalf("nftables images %v: %v", imgs, err)
	}
	good, err := os.ReadFile(imgs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(imgs[0], append(slices.Clone(good), "table inet bad {\n\tchain c {\n\t\tbogus\n\t}\n}\n"...), 0o600); err != nil {
		t.Fatal(err)
	}

	r := n.fails(17, "vzctl", "restore", "101")
	if !strings.Contains(r.err, "firewall") || !strings.Contains(r.err, "nft -f -") {
		t.Fatalf("want the firewall's failure named, got %q", r.err)
	}
	t.Logf("failed restore: %s", strings.TrimSpace(r.err))
	restoreFailedCleanly(t, n)

	if err := os.WriteFile(imgs[0], good, 0o600); err != nil {
		t.Fatal(err)
	}
	frozen := n.counter("101")
	n.ok("vzctl", "restore", "101")
	n.waitCounter("101", frozen+3, 10e9)
	sameGuestNetState(n, "101", want)
	n.ok("vzctl", "stop", "101")
}
