package ovzconf

import (
	"errors"
	"os"
	"strings"
	"testing"

	"govz/ct/vzerror"
)

// veBasic is the vzctl 4.x ve-basic sample's resource lines
// (etc/conf/ve-basic.conf-sample), shared with the e2e import test.
var veBasic = mustRead("testdata/ve-basic.conf-sample")

func mustRead(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// The other vzctl 4.x samples' resource lines (etc/conf/ve-*.conf-sample).
const (
	veVswap256 = `ONBOOT="yes"
PHYSPAGES="0:256M"
SWAPPAGES="0:512M"
KMEMSIZE="unlimited"
NUMPROC="unlimited"
DISKSPACE="1G"
DISKINODES="200000"
QUOTATIME="0"
CPUUNITS="1000"
`
	vzConf = `VIRTUOZZO=yes
LOCKDIR=/vz/lock
VE_ROOT=/vz/root/$VEID
VE_PRIVATE=/vz/private/$VEID
VE_LAYOUT=simfs
NAMESERVER=inherit
NEIGHBOUR_DEVS=detect
`
)

func convert(t *testing.T, ct string) *Result {
	t.Helper()
	r, err := Convert(101, Parse("101.conf", []byte(ct)), Parse("vz.conf", []byte(vzConf)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestConvertBasic(t *testing.T) {
	r := convert(t, veBasic+`VE_ROOT="/vz/root/$VEID"
VE_PRIVATE="/vz/private/$VEID"
OSTEMPLATE="debian-7.0-x86_64"
ORIGIN_SAMPLE="basic"
HOSTNAME="ct101.example.org"
NAME="web"
IP_ADDRESS="10.1.2.3 10.1.2.4/24 0.0.0.0 fd00::5"
NAMESERVER="10.0.0.53 10.0.0.54"
SEARCHDOMAIN="example.org"
BOOTORDER="5"
CPULIMIT="50"
CPUS="2"
CPUMASK="0-1"
IOPRIO="6"
IOLIMIT="10485760"
IOPSLIMIT="300"
CAPABILITY="SYS_TIME:on SETVEID:off"
FEATURES="ppp:on nfs:on sysfs:off"
DEVNODES="net/tun:rw fuse:rwq"
DEVICES="c:10:229:rw"
NETFILTER="stateless"
NETIF="ifname=eth0,mac=00:18:51:11:22:33,host_ifname=veth101.0,host_mac=00:18:51:44:55:66,bridge=vmbr0"
QUOTAUGIDLIMIT="100"
SOMETHING_ELSE="x"
`)
	c := r.Config
	checks := map[string]string{
		"hostname": "ct101.example.org", "name": "web", "ostemplate": "debian-7.0-x86_64",
		"kmemsize": "14372700:14790164", "numproc": "240:240", "physpages": "0:unlimited",
		"diskspace": "1048576:1153024", "diskinodes": "200000:220000", "iolimit": "10485760B",
		"numflock": "188:206", "origin_sample": "basic",
	}
	for k, want := range checks {
		if got := fieldString(c, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if *c.OnBoot != true || *c.BootOrder != 5 || *c.CPULimit != 50 || *c.CPUs != 2 || *c.IOPrio != 6 || *c.CPUUnits != 1000 {
		t.Errorf("onboot/bootorder/cpu/io: %v %v %v %v %v", *c.OnBoot, *c.BootOrder, *c.CPULimit, *c.CPUs, *c.IOPrio)
	}
	eq := func(what string, got, want []string) {
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	eq("ip", c.IPAddress, []string{"10.1.2.3", "10.1.2.4/24", "fd00::5"})
	eq("nameserver", c.Nameserver, []string{"10.0.0.53", "10.0.0.54"})
	eq("capability", c.Capability, []string{"sys_time:on"})
	eq("features", c.Features, []string{"ppp:on"})
	eq("devnodes", c.DevNodes, []string{"net/tun:rw", "fuse:rw"})
	eq("devices", c.Devices, []string{"c:10:229:rw"})
	eq("netif", c.NetIf, []string{"ifname=eth0,mac=00:18:51:11:22:33,host_ifname=veth101.0,host_mac=00:18:51:44:55:66,bridge=vmbr0"})
	if c.Netfilter != nil {
		t.Errorf("netfilter %q imported", *c.Netfilter)
	}
	if r.Source.Private != "/vz/private/101" || r.Source.Layout != "simfs" {
		t.Errorf("source %+v", r.Source)
	}
	notes := strings.Join(r.Notes, "\n")
	for _, w := range []string{"SETVEID:off left out", "nfs:on left out", "sysfs:off left out", "fuse:rwq: the q", "stateless left out",
		"AVNUMPROC: not imported", "unknown key SOMETHING_ELSE", "PRIVVMPAGES: kept as privvmpages but not enforced",
		"QUOTAUGIDLIMIT: kept"} {
		if !strings.Contains(notes, w) {
			t.Errorf("no note %q in:\n%s", w, notes)
		}
	}
	if nn := strings.Join(NodeNotes(Parse("vz.conf", []byte(vzConf))), "\n"); !strings.Contains(nn, `vz.conf:2: node setting LOCKDIR="/vz/lock" not imported (set lockdir in vz.toml`) {
		t.Errorf("node notes:\n%s", nn)
	}
	if c.Nameserver == nil || c.Nameserver[0] == "inherit" {
		t.Errorf("vz.conf's NAMESERVER overrode the container's")
	}
}

func TestConvertVswapAndDefaults(t *testing.T) {
	r := convert(t, veVswap256)
	c := r.Config
	if got := fieldString(c, "physpages"); got != "0:65536" {
		t.Errorf("physpages %q (256M in 4K pages)", got)
	}
	if got := fieldString(c, "diskspace"); got != "1048576:1048576" {
		t.Errorf("diskspace %q", got)
	}
	if len(c.Nameserver) != 1 || c.Nameserver[0] != "inherit" {
		t.Errorf("vz.conf's NAMESERVER default not taken: %q", c.Nameserver)
	}
}

func TestConvertLightBarrierAboveLimit(t *testing.T) {
	r := convert(t, `NUMPROC="50:40"`)
	if got := fieldString(r.Config, "numproc"); got != "40:40" {
		t.Errorf("numproc %q", got)
	}
}

func TestConvertRefusals(t *testing.T) {
	for _, bad := range []string{
		`IP_ADDRESS="10.1.2.300"`,
		`HOSTNAME="bad_host!"`,
		`NAME="12345"`,
		`ONBOOT="maybe"`,
		`VEID="102"`,
		`VE_LAYOUT="zfs"`,
		`CPUUNITS="abc"`,
		`KMEMSIZE="lots"`,
	} {
		_, err := Convert(101, Parse("101.conf", []byte(bad)), Parse("vz.conf", []byte(vzConf)))
		if !errors.Is(err, vzerror.ErrInvalidConfig) || !strings.Contains(err.Error(), "101.conf:1:") {
			t.Errorf("%s: err %v, want an invalid-config error naming the line", bad, err)
		}
	}
	_, err := Convert(101, Parse("101.conf", []byte(`ONBOOT=yes`)), nil)
	if err == nil || !strings.Contains(err.Error(), "VE_PRIVATE") {
		t.Errorf("no VE_PRIVATE anywhere: %v", err)
	}
}

func TestConvertDiskQuotaOff(t *testing.T) {
	r := convert(t, `DISK_QUOTA=no
DISKSPACE="1G"`)
	if r.Config.DiskSpace != nil {
		t.Errorf("diskspace imported with DISK_QUOTA=no")
	}
}

func TestConvertPloop(t *testing.T) {
	r := convert(t, `VE_LAYOUT="ploop:expanded"`)
	if r.Source.Layout != "ploop" || r.Source.PloopMode != "expanded" {
		t.Errorf("%+v", r.Source)
	}
}

func fieldString(c interface{ Encode() ([]byte, error) }, k string) string {
	data, _ := c.Encode()
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, k+" = "); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// TestExportRoundTrip: a govz config exported in vzctl's syntax reads
// back through Parse and Convert to the same keys.
func TestExportRoundTrip(t *testing.T) {
	r := convert(t, veBasic+`HOSTNAME="ct101.example.org"
NAME="web"
IP_ADDRESS="10.1.2.3 fd00::5"
NAMESERVER="10.0.0.53"
BOOTORDER="5"
DISABLED="no"
IOLIMIT="10485760"
CAPABILITY="SYS_TIME:on"
FEATURES="ppp:on"
DEVNODES="net/tun:rw"
NETIF="ifname=eth0,bridge=vmbr0;ifname=eth1,bridge=vmbr1"
VM_OVERCOMMIT="1.5"
QUOTAUGIDLIMIT="100"
`)
	want, _ := r.Config.Encode()
	text := Format(FromConfig(r.Config))
	back, err := Convert(101, Parse("exported", []byte(text)), nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	got, _ := back.Config.Encode()
	if string(got) != string(want) {
		t.Errorf("round trip differs:\nwant:\n%s\ngot:\n%s\nexported:\n%s", want, got, text)
	}
	if back.Source.Private != "/vz/private/101" || back.Source.Layout != "simfs" {
		t.Errorf("source %+v", back.Source)
	}
}
