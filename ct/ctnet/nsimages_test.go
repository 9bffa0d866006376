package ctnet

import (
	"encoding/binary"
	"net"
	"slices"
	"strings"
	"testing"

	criusysctl "github.com/checkpoint-restore/go-criu/v7/crit/images/sysctl"
	"golang.org/x/sys/unix"

	"govz/net/sysctl"
)

// The fixtures are a real dump's network namespace images (CRIU 4.1.1,
// vzctl chkpnt of a busybox container without network configuration):
// testdata/pristine as the container started, testdata/guest after the
// guest set lo's MTU, added an address, a route and a rule, nftables, iptables-nft and
// legacy iptables rules and changed the namespace's and lo's sysctls (tests/chkpnt_netstate_test.go).
// dump.log is cut to the lines naming the iptables tools.

// countingSysctls is sysctl.Map recording the writes.
type countingSysctls struct {
	sysctl.Map
	set []string
}

func (c *countingSysctls) Set(path, value string) error {
	c.set = append(c.set, path+"="+value)
	return c.Map.Set(path, value)
}

func sysctlMap(t *testing.T, dir string) sysctl.Map {
	t.Helper()
	im, err := readNSImages(dir)
	if err != nil {
		t.Fatal(err)
	}
	// All of lo's, as a new namespace has them.
	dev, _, err := readDevSysctls(dir + "/netdev-10.img")
	if err != nil {
		t.Fatal(err)
	}
	m := sysctl.Map{}
	for _, s := range append(im.Sysctls, dev...) {
		m[s.Path] = s.Value
	}
	return m
}

// addrsOf lists the addresses of RTM_NEWADDR messages.
func addrsOf(msgs [][]byte) []string {
	var out []string
	for _, m := range msgs {
		a := attrs(m, unix.SizeofIfAddrmsg)
		if v, ok := a[unix.IFA_LOCAL]; ok {
			out = append(out, net.IP(v).String())
		} else if v, ok := a[unix.IFA_ADDRESS]; ok {
			out = append(out, net.IP(v).String())
		}
	}
	slices.Sort(out)
	return out
}

// A new namespace's state: nothing to do but replaying lo's addresses
// (which exist: EEXIST) and no tool to run.
func TestNSImagesPristine(t *testing.T) {
	im, err := readNSImages("testdata/pristine")
	if err != nil {
		t.Fatal(err)
	}
	if got := addrsOf(im.Addrs); !slices.Equal(got, []string{"127.0.0.1", "::1"}) {
		t.Fatalf("addresses %v, want lo's", got)
	}
	if len(im.Routes) != 0 || im.Rules != nil || im.LoMTU != 0 {
		t.Fatalf("%d routes, %d rules, lo MTU %d: want none (only the kernel's defaults)", len(im.Routes), len(im.Rules), im.LoMTU)
	}
	if im.NFT != "" || im.IPT != "" || im.IP6T != "" {
		t.Fatalf("firewall %q %q %q: want nothing (CRIU's lock table is not the guest's)", im.NFT, im.IPT, im.IP6T)
	}
	if c := im.firewallCmds(); len(c) != 0 {
		t.Fatalf("tools run for an empty firewall: %v", c)
	}
	// Into a new namespace (whose values are the image's): no write.
	sc := &countingSysctls{Map: sysctlMap(t, "testdata/pristine")}
	if err := restoreSysctls(sc, append(im.Sysctls, im.DevSysctls...), t.Logf); err != nil {
		t.Fatal(err)
	}
	if len(sc.set) != 0 {
		t.Fatalf("sysctls written into a new namespace: %v", sc.set)
	}
	if len(im.Sysctls) < 100 {
		t.Fatalf("%d sysctls read, want CRIU's all/default v4 and v6 and unix", len(im.Sysctls))
	}
	// lo's IPv4 ones that differ from the namespace's defaults (CRIU's
	// choice: the kernel copies the defaults to lo), all its IPv6 ones.
	var v4 []string
	v6 := 0
	for _, s := range im.DevSysctls {
		if strings.HasPrefix(s.Path, "net/ipv4/conf/lo/") {
			v4 = append(v4, s.Path+"="+s.Value)
		} else if strings.HasPrefix(s.Path, "net/ipv6/conf/lo/") {
			v6++
		}
	}
	if len(v4) == 0 || len(v4) > 5 || v6 < 30 || len(v4)+v6 != len(im.DevSysctls) {
		t.Fatalf("lo's IPv4 sysctls %v and %d IPv6 ones of %d, want the IPv4 few that are not the defaults and all IPv6", v4, v6, len(im.DevSysctls))
	}
	t.Logf("lo's IPv4 sysctls that are not the defaults: %v", v4)
}

// The guest's changes: each image has something to do.
func TestNSImagesGuest(t *testing.T) {
	im, err := readNSImages("testdata/guest")
	if err != nil {
		t.Fatal(err)
	}
	if got := addrsOf(im.Addrs); !slices.Equal(got, []string{"10.99.0.1", "127.0.0.1", "::1", "fd00:99::1"}) {
		t.Fatalf("addresses %v", got)
	}
	if im.LoMTU != 1500 {
		t.Fatalf("lo MTU %d, want the guest's 1500", im.LoMTU)
	}
	if len(im.Routes) != 2 { // 10.98.0.0/24 dev lo; fd00:99::1 dev lo
		t.Fatalf("%d routes, want 2", len(im.Routes))
	}
	if len(im.Rules) != 4 {
		t.Fatalf("%d rules, want the 3 defaults and the guest's", len(im.Rules))
	}
	if !strings.Contains(im.NFT, "table inet guest {") || !strings.Contains(im.NFT, "ip saddr 10.96.0.1") || strings.Contains(im.NFT, "CRIU-") {
		t.Fatalf("nftables ruleset:\n%s", im.NFT)
	}
	if !strings.Contains(im.IPT, "-A OUTPUT -d 10.95.0.1/32 -j DROP") || !strings.Contains(im.IP6T, "-A OUTPUT -d fd00:95::1/128 -j DROP") {
		t.Fatalf("iptables %q, ip6tables %q", im.IPT, im.IP6T)
	}
	var tools []string
	for _, c := range im.firewallCmds() {
		tools = append(tools, strings.Join(c.args, " "))
	}
	// The dump ran the legacy save tools (iptables is nft's here).
	want := []string{"iptables-legacy-restore -w", "ip6tables-legacy-restore -w", "nft -f -"}
	if !slices.Equal(tools, want) {
		t.Fatalf("tools %q, want %q", tools, want)
	}
	// Into a new namespace: the guest's changes only.
	sc := &countingSysctls{Map: sysctlMap(t, "testdata/pristine")}
	if err := restoreSysctls(sc, append(im.Sysctls, im.DevSysctls...), t.Logf); err != nil {
		t.Fatal(err)
	}
	slices.Sort(sc.set)
	wantSet := []string{"net/ipv4/conf/all/rp_filter=2", "net/ipv4/conf/default/arp_ignore=1", "net/ipv4/conf/lo/route_localnet=1",
		"net/ipv6/conf/all/hop_limit=33", "net/ipv6/conf/lo/max_addresses=7",
		// Set by lo's MTU before in a restore; written anyway here.
		"net/ipv6/conf/lo/mtu=1500", "net/unix/max_dgram_qlen=77"}
	if !slices.Equal(sc.set, wantSet) {
		t.Fatalf("sysctls written %v, want %v", sc.set, wantSet)
	}
}

// A sysctl the running kernel lacks, or one of a later CRIU's list, is
// reported, not written; the others still are.
func TestRestoreSysctlsMissing(t *testing.T) {
	sc := &countingSysctls{Map: sysctl.Map{"net/unix/max_dgram_qlen": "10"}}
	var warned []string
	warnf := func(f string, a ...any) { warned = append(warned, f) }
	err := restoreSysctls(sc, []nsSysctl{{Path: "net/ipv4/conf/all/new_knob", Value: "1"}, {Path: "net/ipv4/conf/all", Unknown: 2},
		{Path: "net/unix/max_dgram_qlen", Value: "77"}}, warnf)
	if err != nil || len(warned) != 2 || !slices.Equal(sc.set, []string{"net/unix/max_dgram_qlen=77"}) {
		t.Fatalf("err %v, warned %v, written %v", err, warned, sc.set)
	}
}

// A dump without the images is refused, naming what it lacks.
func TestNSImagesMissing(t *testing.T) {
	if _, err := readNSImages(t.TempDir()); err == nil || !strings.Contains(err.Error(), "ifaddr-*.img") {
		t.Fatalf("a dump without images: %v", err)
	}
}

type nlattr struct {
	typ uint16
	val []byte
}

func nlmsg(typ uint16, hdr []byte, as ...nlattr) []byte {
	b := append(make([]byte, unix.NLMSG_HDRLEN), hdr...)
	for _, a := range as {
		attr := make([]byte, nlmAlign(4+len(a.val)))
		binary.NativeEndian.PutUint16(attr, uint16(4+len(a.val)))
		binary.NativeEndian.PutUint16(attr[2:], a.typ)
		copy(attr[4:], a.val)
		b = append(b, attr...)
	}
	binary.NativeEndian.PutUint32(b, uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	return b
}

// Routes through a gateway go last, routes with a preferred source
// between, as `ip route restore` orders them.
func TestRestoreOrder(t *testing.T) {
	rtm := make([]byte, unix.SizeofRtMsg)
	ip := []byte{10, 0, 0, 1}
	gw := nlmsg(unix.RTM_NEWROUTE, rtm, nlattr{unix.RTA_GATEWAY, ip})
	src := nlmsg(unix.RTM_NEWROUTE, rtm, nlattr{unix.RTA_PREFSRC, ip})
	plain := nlmsg(unix.RTM_NEWROUTE, rtm, nlattr{unix.RTA_OIF, []byte{1, 0, 0, 0}})
	got := restoreOrder([][]byte{gw, src, plain})
	if !slices.EqualFunc(got, [][]byte{plain, src, gw}, slices.Equal) {
		t.Fatal("routes not in restore order")
	}
}

func TestSplitSaved(t *testing.T) {
	m := nlmsg(unix.RTM_NEWROUTE, make([]byte, unix.SizeofRtMsg))
	b := binary.NativeEndian.AppendUint32(nil, routeMagic)
	b = append(append(b, m...), m...)
	if msgs, err := splitSaved(b, routeMagic); err != nil || len(msgs) != 2 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	if _, err := splitSaved(b, addrMagic); err == nil {
		t.Fatal("a route save file read as an address one")
	}
	if _, err := splitSaved(b[:len(b)-3], routeMagic); err == nil {
		t.Fatal("a truncated save file read")
	}
}

// Default rules: the kernel's three, and only them.
func TestDefaultRules(t *testing.T) {
	im, err := readNSImages("testdata/guest")
	if err != nil {
		t.Fatal(err)
	}
	var defaults [][]byte
	for _, r := range im.Rules {
		if a := attrs(r, 12); a[unix.FRA_PROTOCOL][0] == unix.RTPROT_KERNEL {
			defaults = append(defaults, r)
		}
	}
	if len(defaults) != 3 || !defaultRules(defaults) {
		t.Fatalf("the kernel's %d rules not seen as the defaults", len(defaults))
	}
	// The guest deleted one: the image must be restored.
	if defaultRules(defaults[:2]) {
		t.Fatal("two default rules taken for the defaults")
	}
	// Another table for a default priority.
	r := slices.Clone(defaults[1])
	a := attrs(r, 12)[unix.FRA_TABLE]
	binary.NativeEndian.PutUint32(a, 100)
	if defaultRules([][]byte{defaults[0], r, defaults[2]}) {
		t.Fatal("a changed default rule taken for the default")
	}
	up := loUpMsg(1500)
	if int(binary.NativeEndian.Uint32(up)) != len(up) || binary.NativeEndian.Uint32(attrs(up, unix.SizeofIfInfomsg)[unix.IFLA_MTU]) != 1500 {
		t.Fatalf("lo message %x", up)
	}
	d := delRuleMsg(32766, unix.RT_TABLE_MAIN)
	da := attrs(d, 12)
	if binary.NativeEndian.Uint32(da[unix.FRA_PRIORITY]) != 32766 || binary.NativeEndian.Uint32(da[unix.FRA_TABLE]) != unix.RT_TABLE_MAIN ||
		int(binary.NativeEndian.Uint32(d)) != len(d) {
		t.Fatalf("delete message %x", d)
	}
}

func TestWithoutCRIULock(t *testing.T) {
	lock := "table inet CRIU-7fcf20fc-85ca-47c9-8c {\n\tchain output {\n\t\tpolicy drop;\n\t}\n\n\tchain input {\n\t}\n}\n"
	guest := "table inet guest {\n\tchain in {\n\t}\n}\n"
	for _, c := range []struct{ in, want string }{
		{lock, ""},
		{"", ""},
		{guest + lock, guest},
		{lock + guest, guest},
		// Only CRIU's own: a table named like it elsewhere stays.
		{"table ip CRIU-x {\n}\n", "table ip CRIU-x {\n}\n"},
	} {
		if got := withoutCRIULock(c.in); got != c.want {
			t.Errorf("withoutCRIULock(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// A ruleset with an include statement, which a guest could smuggle in
// through a table's name, is refused: nft would read the host's file.
func TestListingOnly(t *testing.T) {
	if err := listingOnly("table inet guest {\n\tchain in {\n\t}\n}\n"); err != nil {
		t.Fatal(err)
	}
	if err := listingOnly("table ip x {\n}\ninclude \"/etc/shadow\"\ntable ip y {\n}\n"); err == nil {
		t.Fatal("an include statement accepted")
	}
}

// A later CRIU's longer list: the names govz knows are restored, the
// others reported.
func TestCRIUSysctlsLonger(t *testing.T) {
	v := int32(1)
	vals := make([]*criusysctl.SysctlEntry, len(criuUnixConf)+2)
	for i := range vals {
		vals[i] = &criusysctl.SysctlEntry{Iarg: &v}
	}
	got, err := criuSysctls("x", []sysctlList{{"net/unix", criuUnixConf, vals}})
	want := []nsSysctl{{Path: "net/unix", Unknown: 2}, {Path: "net/unix/max_dgram_qlen", Value: "1"}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %v, %v, want %v", got, err, want)
	}
}
