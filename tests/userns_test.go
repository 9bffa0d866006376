package tests

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// User-namespaced containers (LOCAL_UID/LOCAL_GID): the guest's root is an
// unprivileged host UID, its root file system an idmapped mount of the
// unchanged private area.

const (
	nsUID = 200000
	nsGID = 300000
)

// setUserNS gives container id a user namespace (stored; the container is
// stopped).
func (n *node) setUserNS(id string) {
	n.t.Helper()
	n.ok("vzctl", "set", id, "--local_uid", strconv.Itoa(nsUID), "--local_gid", strconv.Itoa(nsGID), "--save")
}

// createInMode creates container id in one user namespace mode whatever
// the suite's own (GOVZ_E2E_IDMODE, which decides only what a bare create
// gives): identity-mapped, or the fixed range setUserNS gives.
func (n *node) createInMode(id string, identity bool) {
	n.t.Helper()
	if identity {
		n.ok("vzctl", "create", id, "--local_uid", "0")
		return
	}
	n.ok("vzctl", "create", id)
	n.setUserNS(id)
}

// procIDs returns the real UID and GID of host process pid.
func procIDs(t *testing.T, pid int) (uid, gid string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Uid:"); ok {
			uid = strings.Fields(v)[0]
		}
		if v, ok := strings.CutPrefix(l, "Gid:"); ok {
			gid = strings.Fields(v)[0]
		}
	}
	return uid, gid
}

// probeSrc opens each path given O_WRONLY, without O_CREAT or O_TRUNC,
// and closes it again without writing a byte: it prints "PATH ok" or
// "PATH ERRNO". It runs inside containers, statically linked.
const probeSrc = `package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	for _, p := range os.Args[1:] {
		fd, err := syscall.Open(p, syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
		switch {
		case err == nil:
			syscall.Close(fd)
			fmt.Println(p, "ok")
		case err == syscall.EACCES:
			fmt.Println(p, "EACCES")
		case err == syscall.EPERM:
			fmt.Println(p, "EPERM")
		case err == syscall.EROFS:
			fmt.Println(p, "EROFS")
		case err == syscall.ENOENT:
			fmt.Println(p, "ENOENT")
		default:
			fmt.Println(p, int(err.(syscall.Errno)))
		}
	}
}
`

// buildProbe builds the probe once per test.
func buildProbe(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "probe.go"), []byte(probeSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "probe")
	c := exec.Command("go", "build", "-o", bin, "probe.go")
	c.Dir = dir
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("building the probe: %v\n%s", err, out)
	}
	return bin
}

// hostGlobal are host-wide kernel files a container's root must never be
// able to write, as paths relative to a procfs or sysfs mount, each only
// if the host has it (this kernel may lack sysrq).
var hostGlobalProc = []string{"sysrq-trigger", "sys/kernel/core_pattern", "sys/vm/drop_caches", "sys/kernel/modprobe"}
var hostGlobalSys = []string{"kernel/mm/transparent_hugepage/enabled", "kernel/uevent_helper", "power/state"}

func existing(base string, rel []string) []string {
	var out []string
	for _, r := range rel {
		if _, err := os.Stat(filepath.Join(base, r)); err == nil {
			out = append(out, r)
		}
	}
	return out
}

// probe runs the probe in container id on the given paths and returns
// path -> result.
func (n *node) probe(id string, paths ...string) map[string]string {
	n.t.Helper()
	r := n.ok("vzctl", append([]string{"exec2", id, "/probe"}, paths...)...)
	got := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(r.out))
	for sc.Scan() {
		if p, res, ok := strings.Cut(sc.Text(), " "); ok {
			got[p] = res
		}
	}
	return got
}

func TestUsernsBusybox(t *testing.T) {
	probe := buildProbe(t)
	n := newNode(t)
	n.ok("vzctl", "create", "101", "--hostname", "uns101")
	// A range with identity for the other half is refused, so is a host
	// range overlapping the host's own IDs; a file edited by hand to hold
	// one key only does not start.
	n.fails(21, "vzctl", "set", "101", "--local_uid", strconv.Itoa(nsUID), "--local_gid", "0", "--save")
	n.fails(21, "vzctl", "set", "101", "--local_uid", "1000", "--local_gid", "1000", "--save")
	cfg, err := os.ReadFile(n.path("conf/101.toml"))
	if err != nil {
		t.Fatal(err)
	}
	n.writeFile("conf/101.toml", regexp.MustCompile(`(?m)^local_[ug]id = .*\n`).ReplaceAllString(string(cfg), "")+
		fmt.Sprintf("local_uid = %d\n", nsUID))
	n.fails(85, "vzctl", "start", "101")
	n.noLeftovers()
	n.setUserNS("101")
	copyFile(t, probe, n.path("private/101/probe"))
	os.Chmod(n.path("private/101/probe"), 0o755)

	n.ok("vzctl", "start", "101")
	if r := n.ok("vzctl", "exec", "101", "id -u"); r.out != "0\n" {
		t.Fatalf("exec id -u: %q", r.out)
	}
	if r := n.ok("vzctl", "exec2", "101", "id"); !strings.HasPrefix(r.out, "uid=0(root) gid=0(root)") {
		t.Fatalf("exec2 id: %q", r.out)
	}
	if r := n.ok("vzctl", "exec2", "101", "cat", "/proc/self/uid_map", "/proc/self/gid_map"); strings.Join(strings.Fields(r.out), " ") != fmt.Sprintf("0 %d 65536 0 %d 65536", nsUID, nsGID) {
		t.Fatalf("id maps: %q", r.out)
	}
	_, pid := n.runState("101")
	if uid, gid := procIDs(t, pid); uid != strconv.Itoa(nsUID) || gid != strconv.Itoa(nsGID) {
		t.Fatalf("init %d runs as %s:%s on the host, want %d:%d", pid, uid, gid, nsUID, nsGID)
	}
	// Files keep their on-disk owners: created inside by root, they are
	// host root's on disk; the template's root files are root's inside.
	n.ok("vzctl", "exec2", "101", "echo x > /root/made-inside && chown 1000:1000 /root && mkdir -p /root/u && chown 33:44 /root/u")
	for p, want := range map[string][2]uint32{"root/made-inside": {0, 0}, "root": {1000, 1000}, "root/u": {33, 44}} {
		var st syscall.Stat_t
		if err := syscall.Lstat(n.path("private/101/"+p), &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != want[0] || st.Gid != want[1] {
			t.Errorf("%s is %d:%d on disk, want %d:%d", p, st.Uid, st.Gid, want[0], want[1])
		}
	}
	if r := n.ok("vzctl", "exec2", "101", "stat", "-c", "%u:%g", "/etc/passwd", "/bin/busybox"); r.out != "0:0\n0:0\n" {
		t.Fatalf("template files inside: %q", r.out)
	}
	// The guest can build its own cgroup subtree (INNER is delegated).
	n.ok("vzctl", "exec2", "101", "for d in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do [ -w $d/cgroup.procs ] && mkdir $d/uns-sub && echo $$ > $d/uns-sub/cgroup.procs && exit 0; done; exit 1")

	// enter gets a pty of the guest's devpts, owned by the guest's root.
	c := n.cmd("vzctl", "enter", "101", "--exec", "id -u; stat -c pty=%u:%g $(tty); exit")
	c.Stdin = strings.NewReader("")
	out, err := c.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "pty=0:5") || !strings.Contains(string(out), "\n0\r\n") {
		t.Fatalf("enter: %v\n%q", err, out)
	}
	// The console: the guest's root may open /dev/console, and what it
	// writes reaches vzctl console.
	if r := n.ok("vzctl", "exec2", "101", "stat", "-c", "%u:%g", "/dev/console"); r.out != "0:5\n" {
		t.Fatalf("/dev/console owner inside: %q", r.out)
	}
	n.ok("vzctl", "exec2", "101", "echo uns-console-marker > /dev/console")
	readConsole(t, n, "101", "uns-console-marker")

	// Device nodes are the host's, bound: usable, but not mknod-able.
	if r := n.ok("vzctl", "exec2", "101", "echo x > /dev/null && head -c 4 /dev/urandom | wc -c"); strings.TrimSpace(r.out) != "4" {
		t.Fatalf("device nodes: %q", r.out)
	}
	if r := n.run("vzctl", "exec2", "101", "mknod", "/root/sda", "b", "8", "0"); r.code == 0 {
		t.Fatal("mknod of a block device succeeded inside")
	}

	escapeProbes(t, n, "101")

	// restart, and reboot from inside: a new boot, still in its user
	// namespace.
	boot1, _ := n.runState("101")
	n.ok("vzctl", "restart", "101")
	boot2, pid2 := n.runState("101")
	if boot2 == boot1 || boot2 == "" {
		t.Fatalf("restart: boot id %q -> %q", boot1, boot2)
	}
	if uid, _ := procIDs(t, pid2); uid != strconv.Itoa(nsUID) {
		t.Fatalf("after restart init runs as %s", uid)
	}
	n.ok("vzctl", "exec", "101", "reboot")
	end := time.Now().Add(30 * time.Second)
	for {
		if b, pid := n.runState("101"); b != "" && b != boot2 && n.run("vzctl", "exec2", "101", "true").code == 0 {
			if uid, _ := procIDs(t, pid); uid != strconv.Itoa(nsUID) {
				t.Fatalf("after reboot init runs as %s", uid)
			}
			break
		}
		if time.Now().After(end) {
			t.Fatal("the guest did not come back from reboot")
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.ok("vzctl", "stop", "101")
	if s := n.status("101"); s != "CTID 101 exist unmounted down" {
		t.Fatalf("status after stop %q", s)
	}
	n.noLeftovers()

	// The same private area boots without a user namespace again: nothing
	// on disk was chowned.
	n.ok("vzctl", "set", "101", "--local_uid", "0", "--local_gid", "0", "--save")
	n.ok("vzctl", "start", "101")
	if r := n.ok("vzctl", "exec2", "101", "cat", "/root/made-inside"); r.out != "x\n" {
		t.Fatalf("privileged boot of the same area: %q", r.out)
	}
	_, pid = n.runState("101")
	if uid, _ := procIDs(t, pid); uid != "0" {
		t.Fatalf("privileged init runs as %s", uid)
	}
	// A privileged container cannot uncover host files either (it only
	// opens them): its mounts are locked (lock_test.go).
	copyFile(t, probe, n.path("root/101/probe"))
	os.Chmod(n.path("root/101/probe"), 0o755)
	n.fails(1, "vzctl", "exec2", "101", "umount -l /proc/sys 2>/dev/null && exit 0 || exit 1")
	if got := n.probe("101", "/proc/sys/kernel/core_pattern"); got["/proc/sys/kernel/core_pattern"] != "EROFS" {
		t.Fatalf("privileged probe: %v (expected EROFS)", got)
	}
	n.ok("vzctl", "stop", "101")
	n.noLeftovers()
}

// escapeProbes: root in a user-namespaced container may not remove the
// read-only and masking mounts (they are locked) nor mount procfs or sysfs
// afresh; if it could, the host-wide files behind them would still be
// closed to it (not its own ID).
func escapeProbes(t *testing.T, n *node, id string) {
	t.Helper()
	procFiles := existing("/proc", hostGlobalProc)
	sysFiles := existing("/sys", hostGlobalSys)
	if len(procFiles) == 0 || len(sysFiles) == 0 {
		t.Fatalf("no host-global files to probe: %v %v", procFiles, sysFiles)
	}
	// Unmount what covers /proc: refused, the mounts are locked.
	for _, c := range []string{"umount /proc/sysrq-trigger", "umount -l /proc/sys", "umount /proc/kcore"} {
		if r := n.run("vzctl", "exec2", id, c+" 2>/dev/null && echo DONE"); strings.Contains(r.out, "DONE") {
			t.Errorf("%q succeeded in the container", c)
		}
	}
	var paths []string
	for _, f := range procFiles {
		paths = append(paths, "/proc/"+f)
	}
	// A fresh procfs elsewhere: refused (mount_too_revealing: the locked
	// masks leave no fully visible procfs).
	if r := n.run("vzctl", "exec2", id, "mkdir -p /mnt/p && mount -t proc proc /mnt/p"); r.code == 0 {
		t.Errorf("a fresh procfs mount succeeded in the container")
		for _, f := range procFiles {
			paths = append(paths, "/mnt/p/"+f)
		}
	}
	got := n.probe(id, paths...)
	t.Logf("procfs probes: %v", got)
	if len(got) != len(paths) {
		t.Errorf("probe answered %v for %v", got, paths)
	}
	for p, res := range got {
		if res != "EACCES" && res != "EROFS" {
			t.Errorf("open(%s, O_WRONLY) in the container: %s, want EACCES or EROFS", p, res)
		}
	}
	// sysfs: read-write per mount, and a fresh instance if the kernel
	// lets it be made.
	n.run("vzctl", "exec2", id, "mount", "-o", "remount,bind,rw", "/sys")
	paths = nil
	for _, f := range sysFiles {
		paths = append(paths, "/sys/"+f)
	}
	for _, opt := range []string{"rw", "ro"} {
		if r := n.run("vzctl", "exec2", id, "mkdir -p /mnt/s"+opt+" && mount -t sysfs -o "+opt+" sysfs /mnt/s"+opt); r.code == 0 {
			for _, f := range sysFiles {
				paths = append(paths, "/mnt/s"+opt+"/"+f)
			}
		}
	}
	// Even a writable sysfs would not help: host-wide files belong to an
	// ID the namespace does not map, so root inside has no override.
	if r := n.ok("vzctl", "exec2", id, "stat -c %u:%g /sys/"+sysFiles[0]+" /proc/sys/kernel/core_pattern"); r.out != "65534:65534\n65534:65534\n" {
		t.Errorf("host-wide kernel files seen from inside owned by %q, want the overflow ID", r.out)
	}
	got = n.probe(id, paths...)
	t.Logf("sysfs probes: %v", got)
	if len(got) != len(paths) {
		t.Errorf("probe answered %v for %v", got, paths)
	}
	for p, res := range got {
		if res == "ok" || res == "ENOENT" {
			t.Errorf("open(%s, O_WRONLY) in the container: %s, want it refused", p, res)
		}
	}
	n.run("vzctl", "exec2", id, "umount /mnt/p /mnt/srw /mnt/sro 2>/dev/null; true")
}

// readConsole attaches vzctl console until want shows up, then detaches.
func readConsole(t *testing.T, n *node, id, want string) {
	t.Helper()
	c := n.cmd("vzctl", "console", id)
	in, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) && time.Now().Before(end) {
		time.Sleep(20 * time.Millisecond)
	}
	io.WriteString(in, "\x1b.")
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.Process.Kill()
		<-done
	}
	if !strings.Contains(out.String(), want) {
		t.Fatalf("console output lacks %q: %q", want, out.String())
	}
}

// TestUsernsDebian: a Debian 12 systemd guest in a user namespace boots to
// "running" with no failed units and stops cleanly.
func TestUsernsDebian(t *testing.T) {
	n := newNode(t)
	src := debianTemplate(t)
	if err := os.Link(src, n.path("template/cache/"+filepath.Base(src))); err != nil {
		t.Fatal(err)
	}
	name := strings.TrimSuffix(filepath.Base(src), ".tar.gz")
	n.ok("vzctl", "create", "101", "--ostemplate", name, "--hostname", "unsdeb")
	n.setUserNS("101")
	n.ok("vzctl", "start", "101", "--wait")
	r := n.run("vzctl", "exec2", "101", "systemctl", "is-system-running", "--wait")
	if strings.TrimSpace(r.out) != "running" {
		failed := n.run("vzctl", "exec2", "101", "systemctl", "--failed", "--no-legend", "--no-pager")
		t.Fatalf("is-system-running: %q; failed units:\n%s", r.out, failed.out)
	}
	_, pid := n.runState("101")
	if uid, _ := procIDs(t, pid); uid != strconv.Itoa(nsUID) {
		t.Fatalf("systemd runs as host uid %s", uid)
	}
	// systemd built its tree in the delegated cgroup, and its services run
	// under their own (mapped) users.
	if r := n.ok("vzctl", "exec2", "101", "systemctl", "show", "-p", "ControlGroup", "--value", "systemd-journald"); strings.TrimSpace(r.out) != "/system.slice/systemd-journald.service" {
		t.Fatalf("journald's cgroup: %q", r.out)
	}
	if r := n.ok("vzctl", "exec2", "101", "hostname"); r.out != "unsdeb\n" {
		t.Fatalf("hostname %q", r.out)
	}
	n.stopClean("101")
}

// TestUsernsLayouts: the idmapped root works on each storage layout's file
// system: a directory on the host's, a btrfs subvolume, an ext4 image.
func TestUsernsLayouts(t *testing.T) {
	for _, l := range []struct{ layout, fstype string }{{"dir", ""}, {"btrfs", "btrfs"}, {"image", "ext4"}} {
		t.Run(l.layout, func(t *testing.T) {
			var n *node
			args := []string{"create", "101", "--layout", l.layout}
			if l.fstype == "" {
				n = newNode(t)
			} else {
				n = newNodeOn(t, scratchFS(t, l.fstype, 1<<30))
				n.cgParent = fmt.Sprintf("govz-test-%d-uns-%s", os.Getpid(), l.layout)
				n.writeFile("conf/vz.toml", n.baseVZConf())
				t.Cleanup(func() { removeCgroupParent(n.cgroupParent()) })
				args = append(args, "--diskspace", "64M")
			}
			n.ok("vzctl", args...)
			n.setUserNS("101")
			n.ok("vzctl", "start", "101")
			if r := n.ok("vzctl", "exec2", "101", "touch /root/f && stat -c %u:%g /root/f /etc/passwd"); r.out != "0:0\n0:0\n" {
				t.Fatalf("owners inside: %q", r.out)
			}
			if r := n.ok("vzctl", "exec2", "101", `awk '$5 == "/" && /idmapped/' /proc/self/mountinfo | wc -l`); strings.TrimSpace(r.out) != "1" {
				t.Fatalf("root is not idmapped: %q", r.out)
			}
			_, pid := n.runState("101")
			if uid, _ := procIDs(t, pid); uid != strconv.Itoa(nsUID) {
				t.Fatalf("init runs as host uid %s", uid)
			}
			var st syscall.Stat_t
			if err := syscall.Stat(n.path("root/101/root/f"), &st); err != nil || st.Uid != 0 {
				t.Fatalf("file made inside: %v, owner %d on the host", err, st.Uid)
			}
			n.ok("vzctl", "stop", "101")
			n.noLeftovers()
		})
	}
}
