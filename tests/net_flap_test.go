package tests

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	ifupPostOnce sync.Once
	ifupPostErr  error
)

// buildIfupPost adds vzifup-post to the run's binaries.
func buildIfupPost(t *testing.T) {
	t.Helper()
	ifupPostOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", binDir+"/", "govz/cmd/vzifup-post").CombinedOutput()
		if err != nil {
			ifupPostErr = fmt.Errorf("building vzifup-post: %w\n%s", err, out)
		}
	})
	if ifupPostErr != nil {
		t.Fatal(ifupPostErr)
	}
}

// flapUplink takes the node's uplink down and up, then does what ifup
// does after: the kernel removed the IPv6 address (keep_addr_on_down is
// off) and every route through the device with it.
func (w *netWorld) flapUplink() {
	w.t.Helper()
	for _, c := range [][]string{
		{"link", "set", w.uplink, "down"},
		{"link", "set", w.uplink, "up"},
		{"addr", "replace", "fd00:77::2/64", "dev", w.uplink, "nodad"},
		{"route", "replace", "default", "via", "10.77.0.1"},
		{"-6", "route", "replace", "default", "via", "fd00:77::1"},
	} {
		w.sh("ip", append([]string{"-n", w.nodeNS}, c...)...)
	}
	w.waitIPv6()
}

// hook installs scripts/ifupdown/vzifup-post as make install does, for
// this run's binaries, and returns a function that runs it in the node
// with arguments args (space-separated) and environment env.
func (w *netWorld) hook() func(args string, env ...string) {
	w.t.Helper()
	src, err := os.ReadFile("../scripts/ifupdown/vzifup-post")
	if err != nil {
		w.t.Fatal(err)
	}
	path := filepath.Join(w.t.TempDir(), "vzifup-post")
	if err := os.WriteFile(path, []byte(strings.NewReplacer("@SBINDIR@", binDir, "@VZ_ROOT@", w.root).Replace(string(src))), 0o755); err != nil {
		w.t.Fatal(err)
	}
	return func(args string, env ...string) {
		w.t.Helper()
		c := exec.Command("nsenter", append([]string{"--net=/run/netns/" + w.nodeNS, "--", path}, strings.Fields(args)...)...)
		c.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
		if out, err := c.CombinedOutput(); err != nil || len(out) > 0 {
			w.t.Errorf("hook %s %v: %v\n%s", args, env, err, out)
		}
	}
}

// TestNetFlap: an uplink that goes down and up loses the containers'
// proxy entries (the kernel's pneigh_ifdown), and with them the LAN;
// vzifup-post UPLINK gives them back, announced, and the record and the
// node's state stay exact; vzifup-post --watch does the same unasked.
func TestNetFlap(t *testing.T) {
	buildIfupPost(t)
	w := newNetWorld(t, false)
	// The LAN peer takes unsolicited announcements into its caches, so
	// they can be seen (by default it only refreshes entries it has; for
	// NDP the kernel creates entries only on a router).
	w.sh("ip", "netns", "exec", w.lanNS, "sysctl", "-q", "-w", "net.ipv4.conf.lan0.arp_accept=1",
		"net.ipv6.conf.lan0.forwarding=1", "net.ipv6.conf.lan0.accept_untracked_na=1")
	before := w.state()
	addrs := []string{"10.77.0.10", "fd00:77::10"}
	w.ok("vzctl", "create", "101", "--ipadd", addrs[0], "--ipadd", addrs[1])
	w.ok("vzctl", "start", "101")
	for _, a := range addrs {
		if !w.lanPings(a) {
			t.Fatalf("the LAN peer cannot ping %s before the flap", a)
		}
	}
	proxies := func() string { return w.sh("ip", "-n", w.nodeNS, "neigh", "show", "proxy") }
	want := []string{"10.77.0.10 dev up0 proxy", "fd00:77::10 dev up0 proxy"}
	for _, e := range want {
		if !strings.Contains(proxies(), e) {
			t.Fatalf("no proxy entry %q before the flap:\n%s", e, proxies())
		}
	}
	record, err := os.ReadFile(w.path("run/101/net.json"))
	if err != nil {
		t.Fatal(err)
	}

	w.flapUplink()
	if p := proxies(); strings.Contains(p, "10.77.0.10") || strings.Contains(p, "fd00:77::10") {
		t.Fatalf("the proxy entries survived the flap: the test cannot see the bug:\n%s", p)
	}
	// The LAN's caches expire; a host that never talked to the container
	// has none. Then nothing answers for its addresses.
	flushLAN := func() {
		w.sh("ip", "-n", w.lanNS, "-4", "neigh", "flush", "dev", "lan0")
		w.sh("ip", "-n", w.lanNS, "-6", "neigh", "flush", "dev", "lan0")
	}
	flushLAN()
	for _, a := range addrs {
		if w.lanPings(a) {
			t.Fatalf("the LAN peer reaches %s without its proxy entry: the test cannot see the bug", a)
		}
	}

	flushLAN()
	r := w.ok("vzifup-post", "up0")
	if !strings.Contains(r.out, "Container 101: proxy entries restored: 10.77.0.10 on up0, fd00:77::10 on up0") {
		t.Errorf("vzifup-post output:\n%s", r)
	}
	for _, e := range want {
		if !strings.Contains(proxies(), e) {
			t.Errorf("no proxy entry %q after vzifup-post:\n%s", e, proxies())
		}
	}
	// Announced: the LAN peer learned the addresses at the node's MAC
	// before it asked.
	nodeMAC := strings.Fields(w.sh("ip", "-n", w.nodeNS, "-br", "link", "show", "up0"))[2]
	neigh := w.sh("ip", "-n", w.lanNS, "neigh", "show", "dev", "lan0")
	for _, a := range addrs {
		if !strings.Contains(neigh, a+" lladdr "+nodeMAC) {
			t.Errorf("the LAN peer did not learn %s from an announcement:\n%s", a, neigh)
		}
	}
	for _, a := range addrs {
		if !w.lanPings(a) {
			t.Errorf("the LAN peer cannot ping %s after vzifup-post", a)
		}
	}
	if now, _ := os.ReadFile(w.path("run/101/net.json")); string(now) != string(record) {
		t.Errorf("the network record changed:\n%s\nwas:\n%s", now, record)
	}
	// A device none of the addresses uses, and a second run: nothing
	// more, no error.
	if r := w.ok("vzifup-post", "lo"); r.out != "" {
		t.Errorf("vzifup-post lo:\n%s", r)
	}
	w.fails(20, "vzifup-post")

	// The hook as ifupdown runs it after another flap, then as
	// NetworkManager's dispatcher does: again (nothing more) and for a
	// down (nothing).
	hook := w.hook()
	w.flapUplink()
	hook("", "IFACE=up0", "MODE=start", "PHASE=post-up", "ADDRFAM=inet")
	for _, e := range want {
		if !strings.Contains(proxies(), e) {
			t.Errorf("no proxy entry %q after the ifupdown hook:\n%s", e, proxies())
		}
	}
	hook("up0 up")
	hook("up0 down")
	if got := strings.Count(proxies(), "proxy"); got != 2 {
		t.Errorf("%d proxy entries after the hook ran again:\n%s", got, proxies())
	}

	// vzifup-post --watch does it on its own, for any way the link came
	// back up.
	watch := w.cmd("vzifup-post", "--watch")
	stdout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	watch.Stderr = &stderr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() {
		waitErr = watch.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		watch.Process.Kill()
		<-exited
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "Watching links\n" {
		t.Fatalf("vzifup-post --watch: %q, %v\n%s", line, err, stderr.String())
	}
	w.flapUplink()
	flushLAN()
	for i := 0; !strings.Contains(proxies(), want[0]) || !strings.Contains(proxies(), want[1]); i++ {
		if i == 100 {
			t.Fatalf("the watcher did not restore the proxy entries:\n%s\n%s", proxies(), stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, a := range addrs {
		if !w.lanPings(a) {
			t.Errorf("the LAN peer cannot ping %s after the watcher's restore", a)
		}
	}
	watch.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("vzifup-post --watch after SIGTERM: %v\n%s", waitErr, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("vzifup-post --watch did not stop on SIGTERM")
	}

	// Stopped, the container leaves the node as it was.
	w.ok("vzctl", "stop", "101")
	w.sameState(before)
}
