package tests

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/net/nettest"
)

// migWorld is two nodes for vzmigrate: two relocated installations, each
// with its own network namespace on one LAN segment (a bridge in a third
// namespace, which also holds the LAN peer 10.78.0.1); each node also
// has a bridge br0 without an address on the same segment (a second veth
// pair), for bridged containers (--netif_add eth0,,,,br0). The source is
// 10.78.0.2, the destination 10.78.0.3, where an OpenSSH server of the
// test's own (host key, authorized key and sshd_config in a temp dir, no
// PAM, only that key) listens on port 2222 and is killed by PID at the
// end. The sessions it starts get the destination's VZ_ROOT and the
// test's binaries on PATH (sshd_config SetEnv), so `ssh ... vzctl`
// reaches the destination installation.
type migWorld struct {
	src, dst *node
	lanNS    string
	sshOpts  string
}

func newMigWorld(t *testing.T) *migWorld {
	t.Helper()
	if _, err := exec.LookPath("/usr/sbin/sshd"); err != nil {
		t.Fatalf("sshd missing: apt-get install openssh-server (Makefile DEB_PKGS): %v", err)
	}
	tag := strconv.FormatInt(time.Now().UnixNano()%1e9, 36) + strconv.Itoa(os.Getpid()%1000)
	w := &migWorld{src: newNode(t), dst: newNode(t), lanNS: "gvml-" + tag}
	w.src.netns, w.dst.netns = "gvms-"+tag, "gvmd-"+tag
	for _, ns := range []string{w.lanNS, w.src.netns, w.dst.netns} {
		nettest.NewNS(t, ns)
	}
	// Before the namespaces go: containers are stopped where their
	// supervisors live.
	t.Cleanup(func() {
		for _, n := range []*node{w.src, w.dst} {
			ents, _ := os.ReadDir(n.path("conf"))
			for _, e := range ents {
				if id, ok := strings.CutSuffix(e.Name(), ".toml"); ok && id != "vz" {
					n.cmd("vzctl", "stop", "--fast", id).Run()
				}
			}
		}
	})
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	sh("ip", "-n", w.lanNS, "link", "add", "lanbr", "type", "bridge")
	sh("ip", "-n", w.lanNS, "addr", "add", "10.78.0.1/24", "dev", "lanbr")
	sh("ip", "-n", w.lanNS, "link", "set", "lanbr", "up")
	sh("ip", "-n", w.lanNS, "link", "set", "lo", "up")
	for i, n := range []*node{w.src, w.dst} {
		port := "p" + strconv.Itoa(i)
		sh("ip", "-n", w.lanNS, "link", "add", port, "index", strconv.Itoa(40+i), "type", "veth", "peer", "name", "up0", "netns", n.netns)
		sh("ip", "-n", w.lanNS, "link", "set", port, "master", "lanbr")
		sh("ip", "-n", w.lanNS, "link", "set", port, "up")
		sh("ip", "netns", "exec", n.netns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv4.neigh.up0.proxy_delay=0")
		sh("ip", "-n", n.netns, "link", "set", "lo", "up")
		sh("ip", "-n", n.netns, "addr", "add", "10.78.0."+strconv.Itoa(2+i)+"/24", "dev", "up0")
		sh("ip", "-n", n.netns, "link", "set", "up0", "up")
		bport := "b" + strconv.Itoa(i)
		sh("ip", "-n", w.lanNS, "link", "add", bport, "index", strconv.Itoa(42+i), "type", "veth", "peer", "name", "lan1", "netns", n.netns)
		sh("ip", "-n", w.lanNS, "link", "set", bport, "master", "lanbr")
		sh("ip", "-n", w.lanNS, "link", "set", bport, "up")
		sh("ip", "-n", n.netns, "link", "add", "br0", "type", "bridge")
		sh("ip", "-n", n.netns, "link", "set", "lan1", "master", "br0")
		sh("ip", "-n", n.netns, "link", "set", "lan1", "up")
		sh("ip", "-n", n.netns, "link", "set", "br0", "up")
		old, err := os.ReadFile(n.path("conf/vz.toml"))
		if err != nil {
			t.Fatal(err)
		}
		n.writeFile("conf/vz.toml", string(old)+"setup_sysctls = true\n")
	}
	w.sshOpts = w.startSSHD(t)
	return w
}

// startSSHD starts the destination's sshd and returns the ssh options
// that reach it.
func (w *migWorld) startSSHD(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	for _, k := range []string{"hostkey", "clientkey"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", p(k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, _ := os.ReadFile(p("clientkey.pub"))
	os.WriteFile(p("authorized_keys"), pub, 0o600)
	hostPub, _ := os.ReadFile(p("hostkey.pub"))
	os.WriteFile(p("known_hosts"), []byte("[10.78.0.3]:2222 "+string(hostPub)), 0o600)
	cfg := strings.Join([]string{
		"ListenAddress 10.78.0.3:2222",
		"HostKey " + p("hostkey"),
		"AuthorizedKeysFile " + p("authorized_keys"),
		"PidFile " + p("sshd.pid"),
		"UsePAM no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PubkeyAuthentication yes",
		"PermitRootLogin prohibit-password",
		"StrictModes no",
		"SetEnv VZ_ROOT=" + w.dst.root + " PATH=" + binDir + ":/usr/sbin:/usr/bin:/sbin:/bin",
		"",
	}, "\n")
	os.WriteFile(p("sshd_config"), []byte(cfg), 0o600)
	// sshd's privilege separation directory; made here only if missing.
	if _, err := os.Stat("/run/sshd"); os.IsNotExist(err) {
		if err := os.Mkdir("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove("/run/sshd") })
	}
	cmd := exec.Command("nsenter", "--net=/run/netns/"+w.dst.netns, "--", "/usr/sbin/sshd", "-D", "-e", "-f", p("sshd_config"))
	logf, _ := os.Create(p("sshd.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(p("sshd.log"))
			t.Logf("sshd log:\n%s", b)
		}
	})
	opts := "-F /dev/null -p 2222 -i " + p("clientkey") + " -o UserKnownHostsFile=" + p("known_hosts") +
		" -o StrictHostKeyChecking=yes -o ConnectTimeout=5"
	for i := 0; i < 100; i++ {
		c := exec.Command("nsenter", append([]string{"--net=/run/netns/" + w.src.netns, "--", "ssh"},
			append(strings.Fields(opts), "root@10.78.0.3", "true")...)...)
		if c.Run() == nil {
			return opts
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(p("sshd.log"))
	t.Fatalf("sshd in the destination namespace never answered:\n%s", b)
	return ""
}

func (w *migWorld) lanPings(addr string) bool {
	for i := 0; i < 5; i++ {
		if exec.Command("nsenter", "--net=/run/netns/"+w.lanNS, "--", "busybox", "ping", "-c", "1", "-W", "1", addr).Run() == nil {
			return true
		}
	}
	return false
}

// vzmigrate starts vzmigrate on the source.
func (w *migWorld) vzmigrate(args ...string) *exec.Cmd {
	return w.src.cmd("vzmigrate", append([]string{"--ssh=" + w.sshOpts}, args...)...)
}

// nothingOn asserts node n holds nothing of container id: no config, no
// private area or leftover of one, no mount point. A receive that failed
// may still be rolling back when vzmigrate returns: it gets a few seconds.
func nothingOn(t *testing.T, n *node, id string) {
	t.Helper()
	var left []string
	for i := 0; i < 100; i++ {
		left = nil
		for _, p := range []string{"conf/" + id + ".toml", "private/" + id, "private/" + id + ".tmp", "root/" + id} {
			if _, err := os.Lstat(n.path(p)); err == nil {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("destination left with %v", left)
}

// runningWith asserts container id runs on n with the file /root/f
// holding want, and the LAN peer reaches addr.
func (w *migWorld) runningWith(t *testing.T, n *node, id, want, addr string) {
	t.Helper()
	if st := n.ok("vzctl", "status", id).out; !strings.Contains(st, "exist mounted running") {
		log, _ := os.ReadFile(n.path("run/" + id + "/supervisor.log"))
		t.Fatalf("container %s on %s: %s\nsupervisor.log:\n%s", id, n.root, st, log)
	}
	if got := n.ok("vzctl", "exec2", id, "cat /root/f").out; strings.TrimSpace(got) != want {
		t.Errorf("container %s: /root/f = %q, want %q", id, got, want)
	}
	if !w.lanPings(addr) {
		t.Errorf("LAN peer cannot reach %s", addr)
	}
}

// TestMigrateOffline moves a routed busybox container between two nodes
// over SSH, after three interrupted tries that must each leave one
// working container on the source and nothing on the destination:
//   - the destination already has the CTID: refused (9) before the stop;
//   - the destination is full (its private areas on a 24 MB tmpfs): the
//     copy fails (13), the container is started again on the source;
//   - ssh is killed mid-copy: the copy fails (6), the receive rolls back.
//
// Then the migration succeeds: the
// container runs on the destination with its CTID, name, address and
// files, the LAN peer reaches it there, and the source has nothing left.
func TestMigrateOffline(t *testing.T) {
	w := newMigWorld(t)
	src, dst := w.src, w.dst
	const addr = "10.78.0.50"
	src.ok("vzctl", "create", "101", "--ostemplate", "busybox-"+arch(), "--ipadd", addr, "--hostname", "mig1", "--name", "migweb")
	src.ok("vzctl", "set", "101", "--cpuunits", "777", "--save")
	src.ok("vzctl", "start", "101")
	src.ok("vzctl", "exec2", "101", "echo before > /root/f")
	w.runningWith(t, src, "101", "before", addr)

	// 1. The CTID exists on the destination.
	dst.ok("vzctl", "create", "101", "--ostemplate", "busybox-"+arch())
	r := src.result(w.vzmigrate("root@10.78.0.3", "101"))
	if r.code != 9 {
		t.Errorf("destination has 101: want exit 9, got:\n%s", r)
	}
	w.runningWith(t, src, "101", "before", addr)
	dst.ok("vzctl", "destroy", "101")
	nothingOn(t, dst, "101")

	// A payload large enough for the copy to take a while.
	src.ok("vzctl", "exec2", "101", "dd if=/dev/urandom of=/root/big bs=1M count=160 2>/dev/null")

	// 2. The destination is full.
	if err := unix.Mount("tmpfs", dst.path("private"), "tmpfs", 0, "size=24m,mode=0700"); err != nil {
		t.Fatal(err)
	}
	r = src.result(w.vzmigrate("root@10.78.0.3", "101"))
	nothingOn(t, dst, "101")
	if err := unix.Unmount(dst.path("private"), 0); err != nil {
		t.Errorf("unmounting the small tmpfs: %v", err)
	}
	if r.code != 13 {
		t.Errorf("destination full: want exit 13, got:\n%s", r)
	}
	t.Logf("destination full: %s", strings.TrimSpace(r.err))
	w.runningWith(t, src, "101", "before", addr)

	// 3. ssh killed mid-copy: once the destination has begun writing.
	stdout, stderr, err := w.migrateKillingSSH(t, dst, "--json", "root@10.78.0.3", "101")
	if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != 6 {
		t.Errorf("ssh killed: want exit 6, got %v:\n%s\n%s", err, stdout, stderr)
	}
	if evs := jsonEvents(t, stdout); evs[len(evs)-1]["event"] != "error" || evs[len(evs)-1]["code"].(float64) != 6 {
		t.Errorf("--json final event: %v", evs[len(evs)-1])
	}
	nothingOn(t, dst, "101")
	w.runningWith(t, src, "101", "before", addr)

	// The migration.
	src.ok("vzctl", "exec2", "101", "rm /root/big; echo after > /root/f")
	r = src.result(w.vzmigrate("--json", "root@10.78.0.3", "101"))
	if r.code != 0 {
		t.Fatalf("vzmigrate:\n%s", r)
	}
	evs := jsonEvents(t, r.out)
	res := evs[len(evs)-1]["result"].(map[string]any)
	t.Logf("offline migration of a routed busybox: %.2f s, downtime %.2f s, %v bytes", res["seconds"], res["downtime_seconds"], res["bytes"])
	nothingOn(t, src, "101")
	w.runningWith(t, dst, "migweb", "after", addr)
	if got := dst.ok("vzlist", "-H", "-o", "ctid,name,hostname,ip,cpuunits", "101").out; strings.Join(strings.Fields(got), " ") != "101 migweb mig1 "+addr+" 777" {
		t.Errorf("on the destination: %q", got)
	}
}

// childrenNamed lists the PIDs of parent's descendants whose command is
// name (vzmigrate runs under nsenter, ssh under vzmigrate).
// migrateKillingSSH runs vzmigrate with args and kills its ssh children
// once the destination has begun writing the private area: an
// interrupted copy. It returns vzmigrate's exit and output.
func (w *migWorld) migrateKillingSSH(t *testing.T, dst *node, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	c := w.vzmigrate(args...)
	var out, errb strings.Builder
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	for i := 0; i < 3000 && !killed; i++ {
		if _, err := os.Stat(dst.path("private/101.tmp")); err == nil {
			for _, pid := range childrenNamed(c.Process.Pid, "ssh") {
				syscall.Kill(pid, syscall.SIGKILL)
				killed = true
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	err = c.Wait()
	if !killed {
		t.Fatalf("the copy was never caught in progress (vzmigrate: %v)\n%s\n%s", err, out.String(), errb.String())
	}
	return out.String(), errb.String(), err
}

func childrenNamed(parent int, name string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
		if strings.TrimSpace(string(comm)) != name {
			continue
		}
		for p := pid; p > 1; {
			st, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
			if err != nil {
				break
			}
			f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
			pp, _ := strconv.Atoi(f[1])
			if pp == parent {
				out = append(out, pid)
				break
			}
			p = pp
		}
	}
	return out
}
