package tests

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The OpenVZ node the import tests read: what vzctl 4.x leaves in
// /etc/vz and /vz, made by the tests themselves. The configs carry the
// vzctl 4.x samples' resource lines (etc/conf/ve-*.conf-sample).
const (
	ovzVZConf = `## Global parameters
VIRTUOZZO=yes
LOCKDIR=/vz/lock
DUMPDIR=/vz/dump
VE0CPUUNITS=1000
LOGGING=yes
LOGFILE=/var/log/vzctl.log
LOG_LEVEL=0
VERBOSE=0
DISK_QUOTA=yes
TEMPLATE=/vz/template
VE_ROOT=/vz/root/$VEID
VE_PRIVATE=/vz/private/$VEID
CONFIGFILE="vswap-256m"
DEF_OSTEMPLATE="centos-6-x86"
VE_LAYOUT=simfs
NEIGHBOUR_DEVS=detect
IPV6="yes"
`
	// ve-vswap-256m plus identity.
	ovzConf101 = `# This config is valid for VSwap-enabled kernel
ONBOOT="yes"
PHYSPAGES="0:256M"
SWAPPAGES="0:512M"
KMEMSIZE="unlimited"
LOCKEDPAGES="unlimited"
PRIVVMPAGES="unlimited"
SHMPAGES="unlimited"
NUMPROC="unlimited"
VMGUARPAGES="unlimited"
OOMGUARPAGES="unlimited"
NUMTCPSOCK="unlimited"
NUMFLOCK="unlimited"
NUMPTY="unlimited"
NUMSIGINFO="unlimited"
TCPSNDBUF="unlimited"
TCPRCVBUF="unlimited"
OTHERSOCKBUF="unlimited"
DGRAMRCVBUF="unlimited"
NUMOTHERSOCK="unlimited"
DCACHESIZE="unlimited"
NUMFILE="unlimited"
NUMIPTENT="unlimited"
DISKSPACE="1G"
DISKINODES="200000"
QUOTATIME="0"
CPUUNITS="1000"
VE_ROOT="/vz/root/$VEID"
VE_PRIVATE="/vz/private/$VEID"
OSTEMPLATE="%TEMPLATE%"
ORIGIN_SAMPLE="vswap-256m"
IP_ADDRESS="10.199.1.1 10.199.1.2"
HOSTNAME="web101.example.org"
NAMESERVER="10.199.0.53"
SEARCHDOMAIN="example.org"
NAME="web"
BOOTORDER="10"
CPULIMIT="50"
VEID="101"
FEATURES="tun:on nfs:on"
CAPABILITY="SYS_TIME:on"
NETFILTER="stateless"
`
	// ovzConf102Tail follows ve-basic (ovzConf102): the full beancounter set
	// of pre-vSwap kernels.
	ovzConf102Tail = `VE_PRIVATE="/vz/private/$VEID"
OSTEMPLATE="%TEMPLATE%"
ORIGIN_SAMPLE="basic"
HOSTNAME=ct102
IP_ADDRESS="10.199.1.3"
`
	// ve-light on a ploop image.
	ovzConf103 = `ONBOOT="yes"
AVNUMPROC="15:15"
NUMPROC="40:40"
NUMTCPSOCK="40:40"
NUMOTHERSOCK="40:40"
VMGUARPAGES="1725:unlimited"
KMEMSIZE="1740800:1847296"
TCPSNDBUF="159744:262144"
TCPRCVBUF="159744:262144"
OTHERSOCKBUF="135168:237568"
DGRAMRCVBUF="135168:196608"
OOMGUARPAGES="1725:unlimited"
LOCKEDPAGES="4:4"
SHMPAGES="1152:1152"
PRIVVMPAGES="7680:8448"
NUMFILE="512:512"
NUMFLOCK="50:60"
NUMPTY="4:4"
NUMSIGINFO="256:256"
DCACHESIZE="196608:202752"
PHYSPAGES="0:unlimited"
NUMIPTENT="16:16"
DISKSPACE="512000:512000"
DISKINODES="80000:88000"
QUOTATIME="0"
CPUUNITS="250"
VE_LAYOUT="ploop"
VE_PRIVATE="/vz/private/$VEID"
OSTEMPLATE="%TEMPLATE%"
HOSTNAME="ploop103"
IP_ADDRESS="10.199.1.4"
`
	ovzDescriptor = `<?xml version="1.0"?>
<Parallels_disk_image Version="1.0">
  <Disk_Parameters>
    <Disk_size>%SECTORS%</Disk_size>
    <Cylinders>0</Cylinders>
    <Heads>16</Heads>
    <Sectors>63</Sectors>
    <Padding>0</Padding>
  </Disk_Parameters>
  <StorageData>
    <Storage>
      <Start>0</Start>
      <End>%SECTORS%</End>
      <Blocksize>2048</Blocksize>
      <Image>
        <GUID>{5fbaabe3-6958-40ff-92a7-860e329aab41}</GUID>
        <Type>Compressed</Type>
        <File>root.hdd</File>
      </Image>
    </Storage>
  </StorageData>
  <Snapshots>
    <TopGUID>{5fbaabe3-6958-40ff-92a7-860e329aab41}</TopGUID>
    <Shot>
      <GUID>{5fbaabe3-6958-40ff-92a7-860e329aab41}</GUID>
      <ParentGUID>{00000000-0000-0000-0000-000000000000}</ParentGUID>
    </Shot>
  </Snapshots>
</Parallels_disk_image>
`
)

// ovzNode is an OpenVZ node's tree under a temp dir.
type ovzNode struct {
	t    *testing.T
	root string
}

func newOVZNode(t *testing.T) *ovzNode {
	o := &ovzNode{t: t, root: t.TempDir()}
	o.write("etc/vz/vz.conf", ovzVZConf, 0o644)
	return o
}

func (o *ovzNode) path(rel string) string { return filepath.Join(o.root, rel) }

func (o *ovzNode) write(rel, data string, mode os.FileMode) {
	o.t.Helper()
	p := o.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		o.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		o.t.Fatal(err)
	}
}

func (o *ovzNode) run(name string, args ...string) {
	o.t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		o.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// config writes CTID.conf with the template's name filled in.
func (o *ovzNode) config(id, body, tmpl string) {
	name := strings.TrimSuffix(filepath.Base(tmpl), ".tar.gz")
	o.write("etc/vz/conf/"+id+".conf", strings.ReplaceAll(body, "%TEMPLATE%", name), 0o644)
}

// simfs unpacks a template into /vz/private/CTID, as vzctl create did.
func (o *ovzNode) simfs(id, tmpl string) {
	o.t.Helper()
	dir := o.path("vz/private/" + id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		o.t.Fatal(err)
	}
	o.run("tar", "--numeric-owner", "-xpzf", tmpl, "-C", dir)
	o.write("vz/private/"+id+"/etc/openvz-marker", "from the old node "+id+"\n", 0o644)
}

// ploop makes /vz/private/CTID/root.hdd: an ext4 file system holding the
// template (mkfs.ext4 -d), in a Parallels expanding image made by
// qemu-img, described by a DiskDescriptor.xml with one delta.
func (o *ovzNode) ploop(id, tmpl string) {
	o.t.Helper()
	scratch := o.t.TempDir()
	o.run("tar", "--numeric-owner", "-xpzf", tmpl, "-C", scratch)
	if err := os.WriteFile(filepath.Join(scratch, "etc/openvz-marker"), []byte("ploop "+id+"\n"), 0o644); err != nil {
		o.t.Fatal(err)
	}
	raw := filepath.Join(o.t.TempDir(), "fs.raw")
	o.run("truncate", "-s", "256M", raw)
	o.run("mkfs.ext4", "-q", "-F", "-d", scratch, raw)
	disk := gptDisk(o.t, raw)
	hdd := o.path("vz/private/" + id + "/root.hdd")
	if err := os.MkdirAll(hdd, 0o755); err != nil {
		o.t.Fatal(err)
	}
	o.run("qemu-img", "convert", "-f", "raw", "-O", "parallels", disk, filepath.Join(hdd, "root.hdd"))
	o.write("vz/private/"+id+"/root.hdd/DiskDescriptor.xml", strings.ReplaceAll(ovzDescriptor, "%SECTORS%", "526336"), 0o644)
}

// gptDisk puts the file system fs at 1 MiB into a disk with a GUID
// partition table, as ploop init lays out an image: the first GPT
// partition holds the file system. Only what a reader of the table
// needs is written (header at LBA 1, entries at LBA 2); the CRCs are
// not checked by the importer, which reads the one partition's extent.
func gptDisk(t *testing.T, fs string) string {
	t.Helper()
	st, err := os.Stat(fs)
	if err != nil {
		t.Fatal(err)
	}
	const sector, start = 512, 2048
	disk := fs + ".disk"
	f, err := os.Create(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, start*sector)
	copy(head[sector:], "EFI PART")
	binary.LittleEndian.PutUint64(head[sector+72:], 2)   // entries' LBA
	binary.LittleEndian.PutUint32(head[sector+80:], 128) // entries
	binary.LittleEndian.PutUint32(head[sector+84:], 128) // entry size
	e := head[2*sector:]
	copy(e, "\xaf\x3d\xc6\x0f\x83\x84\x72\x47\x8e\x79\x3d\x69\xd8\x47\x7d\xe4") // Linux data
	binary.LittleEndian.PutUint64(e[32:], start)
	binary.LittleEndian.PutUint64(e[40:], uint64(start+st.Size()/sector-1))
	if _, err := f.Write(head); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(fs)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := io.Copy(f, src); err != nil {
		t.Fatal(err)
	}
	return disk
}

// tree lists every path under dir with its size and mode, to show that
// nothing changed.
func tree(t *testing.T, dir string) string {
	var b strings.Builder
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil {
			b.WriteString(p + " " + info.Mode().String() + " " + info.ModTime().String() + "\n")
		}
		return nil
	})
	return b.String()
}

// Containers with addresses start in a world of their own
// (net_world_test.go): the node's routes and proxy entries go there.
func TestOpenVZImport(t *testing.T) {
	n := newNetWorld(t, false).node
	o := newOVZNode(t)
	o.config("101", ovzConf101, busyboxTmpl)
	o.simfs("101", busyboxTmpl)
	o.write("etc/vz/names/web", "", 0o644)
	os.Remove(o.path("etc/vz/names/web"))
	if err := os.Symlink("../conf/101.conf", o.path("etc/vz/names/web")); err != nil {
		t.Fatal(err)
	}
	o.write("etc/vz/conf/101.mount", "#!/bin/sh\ntouch \"$VZ_ROOT/mounted-$VEID\"\n", 0o755)
	o.config("102", ovzConf102(t), busyboxTmpl)
	o.simfs("102", busyboxTmpl)
	// A name only a link gives (vzctl 3.x kept no NAME in the file).
	if err := os.Symlink("/etc/vz/conf/102.conf", o.path("etc/vz/names/basic")); err != nil {
		t.Fatal(err)
	}
	o.config("103", ovzConf103, busyboxTmpl)
	o.ploop("103", busyboxTmpl)

	// --dry-run prints the plan and changes nothing, here or there.
	// (The log file is the only thing a dry run may write.)
	nodeState := func() string { return tree(t, n.path("conf")) + tree(t, n.path("private")) + tree(t, n.path("root")) }
	before, beforeNode := tree(t, o.root), nodeState()
	r := n.ok("vzctl", "import", "--from", o.root, "--dry-run")
	t.Logf("plan:\n%s", r.out)
	for _, want := range []string{"CT 101: simfs", "-> dir (move)", "name=web hostname=web101.example.org ip=10.199.1.1,10.199.1.2 onboot=yes",
		"CT 102: simfs", "CT 103: ploop", "-> image (convert)", "nfs:on left out", "stateless left out", "action scripts: mount",
		"node setting LOCKDIR="} {
		if !strings.Contains(r.out, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.out)
		}
	}
	if tree(t, o.root) != before || nodeState() != beforeNode {
		t.Fatalf("--dry-run changed files")
	}

	r = n.ok("vzctl", "import", "--from", o.root)
	t.Logf("import:\n%s", r)
	// 101 and 102 were renamed (same file system), 103 converted.
	for _, id := range []string{"101", "102"} {
		if _, err := os.Stat(o.path("vz/private/" + id)); !os.IsNotExist(err) {
			t.Errorf("old private area %s still there after a move: %v", id, err)
		}
		if _, err := os.Stat(n.path("private/" + id + "/etc/openvz-marker")); err != nil {
			t.Errorf("private area %s not in place: %v", id, err)
		}
	}
	if _, err := os.Stat(n.path("private/103/root.img")); err != nil {
		t.Errorf("ploop not converted: %v", err)
	}
	cfg, _ := os.ReadFile(n.path("conf/101.toml"))
	for _, want := range []string{"onboot = true", "bootorder = 10", `physpages = "0:65536"`, `ve_layout = "dir"`, "# not imported: NETFILTER=\"stateless\""} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("101.toml lacks %q:\n%s", want, cfg)
		}
	}
	if _, err := os.Stat(n.path("conf/101.mount")); err != nil {
		t.Errorf("action script not imported: %v", err)
	}

	if r := n.ok("vzctl", "status", "basic"); r.out != "CTID 102 exist unmounted down\n" {
		t.Errorf("name from the link: %q", r.out)
	}

	// A re-run changes nothing.
	after := tree(t, n.path("conf"))
	r = n.ok("vzctl", "import", "--from", o.root)
	if strings.Count(r.out, "skipped: already imported") != 3 {
		t.Errorf("re-run:\n%s", r)
	}
	if tree(t, n.path("conf")) != after {
		t.Errorf("re-run changed the configs")
	}

	// 101 boots as the old node had it: name, hostname, addresses,
	// limits, action script.
	n.ok("vzctl", "start", "web")
	if r := n.ok("vzctl", "exec2", "101", "hostname"); strings.TrimSpace(r.out) != "web101" && strings.TrimSpace(r.out) != "web101.example.org" {
		t.Errorf("hostname %q", r.out)
	}
	if r := n.ok("vzctl", "exec2", "101", "cat", "/etc/openvz-marker"); r.out != "from the old node 101\n" {
		t.Errorf("marker %q", r.out)
	}
	var js []struct {
		IP     []string `json:"ip"`
		Name   string   `json:"name"`
		OnBoot *bool    `json:"onboot"`
	}
	if err := json.Unmarshal([]byte(n.ok("vzlist", "-j", "101").out), &js); err != nil || len(js) != 1 {
		t.Fatalf("vzlist -j: %v %v", err, js)
	}
	if !slices.Equal(js[0].IP, []string{"10.199.1.1", "10.199.1.2"}) || js[0].Name != "web" || js[0].OnBoot == nil || !*js[0].OnBoot {
		t.Errorf("vzlist -j 101: %+v", js[0])
	}
	if got := n.memLimit("101"); got != "268435456" {
		t.Errorf("memory limit %s, want 256M", got)
	}
	if got := n.cpuQuota("101"); got != "50000" {
		t.Errorf("cpu quota %s, want 50%% of a 100ms period", got)
	}
	if _, err := os.Stat(n.path("mounted-101")); err != nil {
		t.Errorf("mount action script did not run: %v", err)
	}
	n.stopClean("101")

	// 103, the ploop, boots from its converted image.
	n.ok("vzctl", "start", "103")
	if r := n.ok("vzctl", "exec2", "103", "cat", "/etc/openvz-marker"); r.out != "ploop 103\n" {
		t.Errorf("ploop marker %q", r.out)
	}
	if r := n.ok("vzctl", "exec2", "103", "hostname"); strings.TrimSpace(r.out) != "ploop103" {
		t.Errorf("hostname %q", r.out)
	}
	if r := n.ok("vzctl", "exec2", "103", "cat", "/proc/sys/kernel/shmall"); strings.TrimSpace(r.out) != "1152" {
		t.Errorf("shmpages: shmall %q, want 1152", r.out)
	}
	if got := n.cgroupRead("103", "pids.max"); got != "40" {
		t.Errorf("numproc: pids.max %s, want 40", got)
	}
	n.stopClean("103")
	back103 := t.TempDir()
	n.ok("vzctl", "export", "103", back103)
	if b, err := os.ReadFile(filepath.Join(back103, "vz/private/103/etc/openvz-marker")); err != nil || string(b) != "ploop 103\n" {
		t.Errorf("export of an image container: %q %v", b, err)
	}
	if len(n.mounts()) > 0 {
		t.Errorf("export left mounts: %v", n.mounts())
	}

	// The way back: export writes what vzctl reads, and it imports again.
	back := t.TempDir()
	n.ok("vzctl", "export", "101", back)
	conf101, err := os.ReadFile(filepath.Join(back, "etc/vz/conf/101.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`VE_LAYOUT="simfs"`, `IP_ADDRESS="10.199.1.1 10.199.1.2"`, `ONBOOT="yes"`, `PHYSPAGES="0:65536"`, `NAME="web"`} {
		if !strings.Contains(string(conf101), want) {
			t.Errorf("exported 101.conf lacks %s:\n%s", want, conf101)
		}
	}
	if b, err := os.ReadFile(filepath.Join(back, "vz/private/101/etc/openvz-marker")); err != nil || string(b) != "from the old node 101\n" {
		t.Errorf("exported private area: %q %v", b, err)
	}
	n.fails(44, "vzctl", "export", "101", back)
	n.ok("vzctl", "destroy", "101")
	n.ok("vzctl", "import", "--from", back, "--copy")
	n.ok("vzctl", "start", "web")
	if r := n.ok("vzctl", "exec2", "web", "cat", "/etc/openvz-marker"); r.out != "from the old node 101\n" {
		t.Errorf("round trip marker %q", r.out)
	}
	n.stopClean("101")
	if _, err := os.Stat(filepath.Join(back, "vz/private/101/etc/openvz-marker")); err != nil {
		t.Errorf("--copy touched the source: %v", err)
	}
}

// TestOpenVZImportRefusals: what cannot be imported says why in one line
// and leaves both sides as they were.
func TestOpenVZImportRefusals(t *testing.T) {
	n := newNode(t)
	o := newOVZNode(t)
	o.config("103", ovzConf103, busyboxTmpl)
	o.ploop("103", busyboxTmpl)
	desc := o.path("vz/private/103/root.hdd/DiskDescriptor.xml")
	d, _ := os.ReadFile(desc)
	snap := strings.Replace(string(d), "</Snapshots>", "<Shot><GUID>{1}</GUID><ParentGUID>{5fbaabe3-6958-40ff-92a7-860e329aab41}</ParentGUID></Shot></Snapshots>", 1)
	os.WriteFile(desc, []byte(snap), 0o644)
	o.config("104", "VE_PRIVATE=/vz/private/104\nLOCAL_UID=100000\nLOCAL_GID=100000\n", busyboxTmpl)
	o.simfs("104", busyboxTmpl)
	o.config("105", "VE_PRIVATE=/vz/private/105\nIP_ADDRESS=10.199.1.300\n", busyboxTmpl)
	o.simfs("105", busyboxTmpl)
	before := tree(t, o.root)
	r := n.fails(85, "vzctl", "import", "--from", o.root)
	for _, want := range []string{"snapshot-delete", "LOCAL_UID=100000", "105.conf:2: IP_ADDRESS=\"10.199.1.300\""} {
		if !strings.Contains(r.out+r.err, want) {
			t.Errorf("no %q in:\n%s", want, r)
		}
	}
	if tree(t, o.root) != before {
		t.Errorf("a refused import changed the old node")
	}
	if ents, _ := os.ReadDir(n.path("conf")); len(ents) != 1 {
		t.Errorf("configs written: %v", ents)
	}
}

// TestOpenVZImportKilled: an import killed while it copies leaves no
// container; the next command on it rolls back, and a new import works.
func TestOpenVZImportKilled(t *testing.T) {
	n := newNetWorld(t, false).node
	o := newOVZNode(t)
	o.config("106", strings.Replace(ovzConf102(t), "10.199.1.3", "10.199.1.6", 1), busyboxTmpl)
	o.simfs("106", busyboxTmpl)
	// Enough data that the copy takes a while.
	o.run("dd", "if=/dev/urandom", "of="+o.path("vz/private/106/big"), "bs=1M", "count=400", "status=none")
	before := tree(t, o.root)

	c := n.cmd("vzctl", "import", "--from", o.root, "--copy")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	tmp := n.path("private/106.tmp/big")
	end := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(tmp); err == nil {
			break
		}
		if time.Now().After(end) {
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			c.Wait()
			t.Fatal("the copy never started")
		}
		time.Sleep(time.Millisecond)
	}
	// The whole group: vzctl and the cp it runs.
	syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	c.Wait()
	if _, err := os.Stat(n.path("conf/106.toml")); err == nil {
		t.Fatal("a killed import left a config")
	}
	// The next command on 106 cleans up (and then has no container).
	if r := n.run("vzctl", "mount", "106"); r.code != 14 || !strings.Contains(r.err, "did not finish; cleaning up") {
		t.Errorf("mount after the kill: want exit 14 after cleaning up:\n%s", r)
	}
	for _, p := range []string{"private/106.tmp", "private/106", "root/106"} {
		if _, err := os.Stat(n.path(p)); !os.IsNotExist(err) {
			t.Errorf("%s left after recovery: %v", p, err)
		}
	}
	if tree(t, o.root) != before {
		t.Errorf("the old node changed")
	}
	n.ok("vzctl", "import", "--from", o.root, "--copy")
	n.ok("vzctl", "start", "106")
	if r := n.ok("vzctl", "exec2", "106", "hostname"); strings.TrimSpace(r.out) != "ct102" {
		t.Errorf("hostname %q", r.out)
	}
	n.stopClean("106")
}

// TestOpenVZImportDebian: a Debian simfs private area with systemd boots
// after the import, and register takes one in place.
func TestOpenVZImportDebian(t *testing.T) {
	n := newNetWorld(t, false).node
	o := newOVZNode(t)
	deb := debianTemplate(t)
	o.config("110", strings.Replace(strings.Replace(ovzConf101, `NAME="web"`, `NAME="deb"`, 1), `VEID="101"`, `VEID="110"`, 1), deb)
	o.simfs("110", deb)
	n.ok("vzctl", "import", "--from", o.root)
	n.ok("vzctl", "start", "deb", "--wait")
	if r := n.ok("vzctl", "exec2", "110", "cat", "/proc/1/comm"); r.out != "systemd\n" {
		t.Errorf("init %q", r.out)
	}
	if r := n.ok("vzctl", "exec2", "110", "hostname"); strings.TrimSpace(r.out) != "web101.example.org" {
		t.Errorf("hostname %q", r.out)
	}
	if r := n.ok("vzctl", "exec2", "110", "ip", "-4", "-o", "addr", "show"); !strings.Contains(r.out, "10.199.1.1") || !strings.Contains(r.out, "10.199.1.2") {
		t.Errorf("addresses inside:\n%s", r.out)
	}
	n.stopClean("110")

	// register: a private area used where it is, its config beside it.
	o.config("111", "HOSTNAME=reg111\nIP_ADDRESS=10.199.1.11\nVEID=111\n", deb)
	o.simfs("111", deb)
	priv := o.path("vz/private/111")
	n.fails(21, "vzctl", "register", priv, "112", "--conf", o.path("etc/vz/conf/111.conf"))
	n.ok("vzctl", "register", priv, "111", "--conf", o.path("etc/vz/conf/111.conf"))
	n.ok("vzctl", "start", "111", "--wait")
	if r := n.ok("vzctl", "exec2", "111", "hostname"); strings.TrimSpace(r.out) != "reg111" {
		t.Errorf("hostname %q", r.out)
	}
	n.stopClean("111")
	if _, err := os.Stat(filepath.Join(priv, "etc/openvz-marker")); err != nil {
		t.Errorf("register moved the private area: %v", err)
	}
	n.fails(44, "vzctl", "register", priv, "111", "--conf", o.path("etc/vz/conf/111.conf"))
}

// TestOpenVZImportKilledAfterMove: an import killed after it renamed the
// old private area into place (here: while it waits for the node lock
// the test holds) has the next command rename it back, untouched.
func TestOpenVZImportKilledAfterMove(t *testing.T) {
	n := newNode(t)
	o := newOVZNode(t)
	o.config("107", "VE_PRIVATE=/vz/private/$VEID\nHOSTNAME=ct107\nONBOOT=no\n", busyboxTmpl)
	o.simfs("107", busyboxTmpl)
	before := tree(t, o.path("vz/private/107"))

	if err := os.MkdirAll(n.path("lock"), 0o755); err != nil {
		t.Fatal(err)
	}
	lf, err := os.OpenFile(n.path("lock/node.lck"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	c := n.cmd("vzctl", "import", "--from", o.root)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(n.path("private/107/etc/openvz-marker")); err == nil {
			break
		}
		if time.Now().After(end) {
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			c.Wait()
			t.Fatal("the private area was never moved")
		}
		time.Sleep(time.Millisecond)
	}
	syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	c.Wait()
	syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(o.path("vz/private/107")); !os.IsNotExist(err) {
		t.Fatalf("the old private area is still in place: the move did not happen (%v)", err)
	}
	if r := n.run("vzctl", "mount", "107"); r.code != 14 || !strings.Contains(r.err, "did not finish; cleaning up") {
		t.Errorf("mount after the kill: want exit 14 after cleaning up:\n%s", r)
	}
	if got := tree(t, o.path("vz/private/107")); got != before {
		t.Fatalf("the old private area was not moved back as it was:\n%s", got)
	}
	if _, err := os.Stat(n.path("private/107")); !os.IsNotExist(err) {
		t.Errorf("private/107 left: %v", err)
	}
	n.ok("vzctl", "import", "--from", o.root)
	if _, err := os.Stat(n.path("private/107/etc/openvz-marker")); err != nil {
		t.Errorf("second import: %v", err)
	}
}

// ovzConf102 is ve-basic (the sample conf/ovzconf's unit tests read too),
// not started at boot, with a container's own lines after it.
func ovzConf102(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../conf/ovzconf/testdata/ve-basic.conf-sample")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(string(b), `ONBOOT="yes"`, `ONBOOT="no"`, 1) + ovzConf102Tail
}
