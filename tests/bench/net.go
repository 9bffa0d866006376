package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Section "net" (issue #4): TCP throughput from a container to a LAN peer
// in routed (venet) and bridged mode against the node's own throughput to
// that peer, and the time from `vzctl set --ipadd` on a running container
// to the LAN peer's first echo reply from the new address.
//
// Everything happens in worlds of the bench's own, as in the networking
// tests: a "node" network namespace where vzctl runs (under `nsenter
// --net=`, which leaves the mount namespace alone, unlike `ip netns exec`,
// so the containers' mounts stay where the bench sees them), joined by a
// veth uplink to a "lan" namespace holding the LAN peer. No interface,
// address, route or rule of the host is touched; deleting the two
// namespaces removes every interface, route, proxy entry and netfilter
// rule made in them.

const (
	lanPeer   = "10.77.0.1"
	routedIP  = "10.77.0.10"
	bridgedIP = "10.77.0.30"
	// iperfDir is where the host's iperf3 and its libraries go inside the
	// busybox container, run through the copied dynamic loader so that
	// the guest's own /lib (none: busybox is static) plays no part.
	iperfDir = "/opt/govz-bench-iperf3"
)

// netWorld is one node + LAN pair of namespaces.
type netWorld struct {
	b         *bench
	node, lan string // names under /run/netns
	uplink    string // the node's device facing the LAN: up0, or br0 when bridged
}

func netnsPath(ns string) string { return "/run/netns/" + ns }

// newNetWorld builds a world as tests/net_world_test.go does: the LAN peer
// 10.77.0.1/24 and fd00:77::1/64 on lan0, the node 10.77.0.2/24 on its
// uplink (up0, or a bridge br0 with up0 as a port), routing on, no proxy
// delay. Its namespaces are deleted by the undo stack.
func (b *bench) newNetWorld(kind string, bridged bool) (*netWorld, error) {
	tag := strconv.Itoa(os.Getpid()) + "-" + kind
	w := &netWorld{b: b, node: "gzb-node-" + tag, lan: "gzb-lan-" + tag, uplink: "up0"}
	for _, ns := range []string{w.node, w.lan} {
		if _, err := b.run("ip", "netns", "add", ns); err != nil {
			return nil, err
		}
		b.undo.push("netns "+ns, func() error { return b.cleanupRun(nil, "ip", "netns", "del", ns) })
	}
	ipn := func(ns string, args ...string) []string { return append([]string{"ip", "-n", ns}, args...) }
	sysctl := func(ns string, kv ...string) []string {
		return append([]string{"nsenter", "--net=" + netnsPath(ns), "--", "sysctl", "-q", "-w"}, kv...)
	}
	// Distinct ifindexes on the two ends of the veth: a veth whose peer
	// shares its index is not seen as a plain link and its carrier comes
	// late (see net_world_test.go).
	steps := [][]string{
		ipn(w.lan, "link", "add", "lan0", "index", "20", "type", "veth", "peer", "name", "up0", "netns", w.node),
		sysctl(w.lan, "net.ipv6.conf.lan0.accept_dad=0"),
		ipn(w.lan, "addr", "add", lanPeer+"/24", "dev", "lan0"),
		ipn(w.lan, "addr", "add", "fd00:77::1/64", "dev", "lan0", "nodad"),
		ipn(w.lan, "link", "set", "lan0", "up"),
		ipn(w.lan, "link", "set", "lo", "up"),
	}
	if bridged {
		w.uplink = "br0"
		steps = append(steps, ipn(w.node, "link", "add", "br0", "type", "bridge"))
	}
	steps = append(steps,
		sysctl(w.node, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
			"net.ipv6.conf.up0.accept_dad=0", "net.ipv6.conf."+w.uplink+".accept_dad=0",
			"net.ipv6.conf."+w.uplink+".proxy_ndp=1", "net.ipv4.neigh."+w.uplink+".proxy_delay=0",
			"net.ipv6.neigh."+w.uplink+".proxy_delay=0"),
		ipn(w.node, "link", "set", "lo", "up"))
	if bridged {
		steps = append(steps, ipn(w.node, "link", "set", "up0", "master", "br0"), ipn(w.node, "link", "set", "up0", "up"))
	}
	steps = append(steps,
		ipn(w.node, "addr", "add", "10.77.0.2/24", "dev", w.uplink),
		ipn(w.node, "addr", "add", "fd00:77::2/64", "dev", w.uplink, "nodad"),
		ipn(w.node, "link", "set", w.uplink, "up"),
		ipn(w.node, "route", "add", "default", "via", lanPeer))
	for _, s := range steps {
		if _, err := b.run(s[0], s[1:]...); err != nil {
			return nil, fmt.Errorf("building the %s world: %w", kind, err)
		}
	}
	return w, nil
}

// in runs a command in namespace ns, timed.
func (w *netWorld) in(ns, name string, args ...string) (time.Duration, string, error) {
	return w.b.timed("nsenter", append([]string{"--net=" + netnsPath(ns), "--", name}, args...)...)
}

// vzctl runs the bench's vzctl in the node namespace, timed.
func (w *netWorld) vzctl(args ...string) (time.Duration, string, error) {
	argv := append([]string{"--net=" + netnsPath(w.node), "--", w.b.vzctlBin}, args...)
	c, err := w.b.prepare(w.b.ctx, []string{"VZ_ROOT=" + w.b.vzRoot}, "nsenter", argv...)
	if err != nil {
		return 0, "", err
	}
	return c.runTimed()
}

// newCT creates a busybox container with the given create options and
// starts it in the node; the undo stack stops it there (where its
// supervisor tears the network down) and destroys it.
func (w *netWorld) newCT(opts ...string) (string, error) {
	b := w.b
	id := b.newCT()
	name := strings.TrimSuffix(filepath.Base(b.tmplBusybox), ".tar.gz")
	args := append([]string{"--quiet", "create", id, "--ostemplate", name}, opts...)
	if _, _, err := w.vzctl(args...); err != nil {
		return "", err
	}
	b.undo.push("container "+id, func() error {
		c, err := b.prepare(b.ctx, []string{"VZ_ROOT=" + b.vzRoot}, "nsenter", "--net="+netnsPath(w.node), "--",
			b.vzctlBin, "--quiet", "stop", "--fast", id)
		if err == nil {
			c.runTimed()
		}
		b.destroyCT(id, []string{"VZ_ROOT=" + b.vzRoot})
		return nil
	})
	return id, nil
}

// startIperfServer runs `iperf3 -s` as the LAN peer until the section
// ends, and waits until it listens.
func (w *netWorld) startIperfServer() error {
	b := w.b
	c, err := b.bgStart(nil, "nsenter", "--net="+netnsPath(w.lan), "--", "iperf3", "-s")
	if err != nil {
		return err
	}
	b.undo.push("iperf3 server in "+w.lan, func() error {
		if alive(c.c.Process.Pid) {
			b.bgKill(c)
		}
		return nil
	})
	// nsenter without --fork execs iperf3 in place: the PID is the
	// server's, and /proc/PID/net is the LAN namespace's.
	pid := c.c.Process.Pid
	return b.waitFor(10*time.Second, "iperf3 -s to listen", func() bool {
		return listening(pid, 5201)
	})
}

// listening reports whether pid's network namespace has a TCP socket
// listening on port.
func listening(pid, port int) bool {
	for _, f := range []string{"tcp", "tcp6"} {
		s, _ := readSmall(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if tcpListening(s, port) {
			return true
		}
	}
	return false
}

// tcpListening parses /proc/net/tcp{,6}: local_address is ADDR:PORT in
// hex, st 0A is LISTEN.
func tcpListening(table string, port int) bool {
	want := fmt.Sprintf(":%04X", port)
	for _, l := range strings.Split(table, "\n") {
		f := strings.Fields(l)
		if len(f) > 3 && strings.HasSuffix(f[1], want) && f[3] == "0A" {
			return true
		}
	}
	return false
}

// installIperf copies the host's iperf3 with every library ldd names and
// the dynamic loader into the container's private area.
func installIperf(private string) error {
	bin, err := exec.LookPath("iperf3")
	if err != nil {
		return err
	}
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		return fmt.Errorf("ldd %s: %w", bin, err)
	}
	libs, loader, err := parseLdd(string(out))
	if err != nil {
		return err
	}
	dst := filepath.Join(private, iperfDir)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	files := map[string]string{"iperf3": bin, "ld.so": loader}
	for name, p := range libs {
		files[name] = p
	}
	for name, src := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, name), data, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// parseLdd reads ldd's output: "soname => /path (0x...)" per library and
// "/lib64/ld-linux-x86-64.so.2 (0x...)" for the loader; the vDSO has no
// file.
func parseLdd(out string) (libs map[string]string, loader string, err error) {
	libs = map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 0:
		case len(f) >= 3 && f[1] == "=>":
			if f[2] == "not" {
				return nil, "", fmt.Errorf("ldd: %s not found", f[0])
			}
			if strings.HasPrefix(f[2], "/") {
				libs[f[0]] = f[2]
			}
		case strings.HasPrefix(f[0], "/"):
			loader = f[0]
		}
	}
	if loader == "" {
		return nil, "", fmt.Errorf("ldd names no dynamic loader:\n%s", out)
	}
	return libs, loader, nil
}

// iperfIn is the command line of the copied iperf3 inside a container.
func iperfIn(args ...string) []string {
	return append([]string{iperfDir + "/ld.so", "--library-path", iperfDir, iperfDir + "/iperf3"}, args...)
}

// parseIperf returns the receiver's throughput in Gbit/s from iperf3 -J's
// output, which may follow other lines (vzctl's).
func parseIperf(out string) (float64, error) {
	i := strings.Index(out, "{")
	if i < 0 {
		return 0, fmt.Errorf("no JSON in iperf3's output: %s", tail(out))
	}
	var r struct {
		Error string `json:"error"`
		End   struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.NewDecoder(strings.NewReader(out[i:])).Decode(&r); err != nil {
		return 0, fmt.Errorf("iperf3 -J: %w", err)
	}
	if r.Error != "" {
		return 0, fmt.Errorf("iperf3: %s", r.Error)
	}
	if r.End.SumReceived.BitsPerSecond <= 0 {
		return 0, errors.New("iperf3 reported no throughput")
	}
	return r.End.SumReceived.BitsPerSecond / 1e9, nil
}

// contender is one figure measured in rounds: each run yields one value.
type contender struct {
	name string
	off  string // why it is not (or no longer) measured
	run  func() (float64, error)
	got  series
}

// contend runs every contender warm+runs times, rotating the order every
// round so a drift of the (shared) host hits all of them alike.
func (b *bench) contend(cs []*contender, warm, runs int) {
	for round := -warm; round < runs && b.ctx.Err() == nil; round++ {
		for i := range cs {
			c := cs[(i+max(round, 0))%len(cs)]
			if c.off != "" || b.ctx.Err() != nil {
				continue
			}
			v, err := c.run()
			switch {
			case err != nil && round < 0:
				b.logf("%s (warm-up): %v", c.name, err)
				c.off = "failed: " + errFirstLine(err)
			case err != nil:
				b.logf("%s (round %d): %v", c.name, round, err)
				if c.got.fails++; c.got.fails >= maxFails {
					c.off = fmt.Sprintf("failed %d times, last: %s", c.got.fails, errFirstLine(err))
				}
			case round >= 0:
				c.got.addV(v)
			}
		}
	}
}

// fig is the contender's cell.
func (c *contender) fig() *series {
	if len(c.got.vals) > 0 {
		return &c.got
	}
	if c.off == "" {
		c.off = "no successful run"
	}
	return naSeries(c.name + ": " + c.off)
}

// undoNetnsMount: `ip netns add` makes /run/netns a mount point of itself
// the first time; undo that only if this run did it and nobody else uses it
// by then.
func (b *bench) undoNetnsMount() {
	if len(mountsUnder("/run/netns")) == 0 {
		b.undo.push("/run/netns mount", func() error {
			if ents, err := os.ReadDir("/run/netns"); err == nil && len(ents) == 0 && len(mountsUnder("/run/netns")) > 0 {
				return unix.Unmount("/run/netns", 0)
			}
			return nil
		})
	}
}

// setGlobalConf rewrites the installation's vz.toml as its original plus
// extra lines; the undo stack puts the original back.
func (b *bench) setGlobalConf(orig []byte, extra string) error {
	return os.WriteFile(filepath.Join(b.vzRoot, "conf", "vz.toml"), append(append([]byte{}, orig...), extra...), 0o644)
}

func (b *bench) sectionNet() (*table, error) {
	confPath := filepath.Join(b.vzRoot, "conf", "vz.toml")
	orig, err := os.ReadFile(confPath)
	if err != nil {
		return nil, err
	}
	b.undo.push("restoring vz.toml", func() error { return os.WriteFile(confPath, orig, 0o644) })
	// The node's sysctls are set above as an admin would; vzctl may add
	// what else it needs, in the node namespace it runs in.
	if err := b.setGlobalConf(orig, "setup_sysctls = true\n"); err != nil {
		return nil, err
	}
	b.undoNetnsMount()
	routed, err := b.newNetWorld("r", false)
	if err != nil {
		return nil, err
	}
	bridged, err := b.newNetWorld("b", true)
	if err != nil {
		return nil, err
	}
	rid, err := routed.newCT("--ipadd", routedIP+"/24")
	if err != nil {
		return nil, err
	}
	bid, err := bridged.newCT()
	if err != nil {
		return nil, err
	}
	if _, _, err := bridged.vzctl("--quiet", "set", bid, "--netif_add", "eth0,,,,br0", "--save"); err != nil {
		return nil, err
	}
	iperfOff := ""
	if _, err := exec.LookPath("iperf3"); err != nil {
		iperfOff = "iperf3 not installed (apt-get install iperf3 failed)"
	} else {
		for _, id := range []string{rid, bid} {
			if err := installIperf(b.privateDir(id)); err != nil {
				iperfOff = "copying iperf3 into the container: " + errFirstLine(err)
			}
		}
	}
	for _, w := range []*netWorld{routed, bridged} {
		id := rid
		if w == bridged {
			id = bid
		}
		if _, _, err := w.vzctl("--quiet", "start", id, "--wait"); err != nil {
			return nil, err
		}
		if iperfOff == "" {
			if err := w.startIperfServer(); err != nil {
				iperfOff = "iperf3 -s: " + errFirstLine(err)
			}
		}
	}
	// The bridged guest configures its own interface, as in the tests.
	if _, _, err := bridged.vzctl("--quiet", "exec2", bid, "ip link set eth0 up && ip addr add "+bridgedIP+"/24 dev eth0"); err != nil {
		return nil, err
	}

	t := &table{
		title: "net. Networking (issue #4): routed (venet) and bridged veth, in namespaces of the bench's own",
		peers: []string{peerLXC},
	}
	b.netThroughput(t, routed, bridged, rid, bid, iperfOff)
	b.netIPAdd(t, routed, rid, orig)
	return t, nil
}

// netThroughput adds the three throughput rows.
func (b *bench) netThroughput(t *table, routed, bridged *netWorld, rid, bid, off string) {
	secs := "5"
	if b.cfg.quick {
		secs = "2"
	}
	client := func(warm bool) []string {
		d := secs
		if warm {
			d = "1"
		}
		return []string{"-c", lanPeer, "-t", d, "-J", "--connect-timeout", "3000"}
	}
	warming := true
	fromNode := func(w *netWorld) func() (float64, error) {
		return func() (float64, error) {
			_, out, err := w.in(w.node, "iperf3", client(warming)...)
			if err != nil {
				return 0, err
			}
			return parseIperf(out)
		}
	}
	fromCT := func(w *netWorld, id string) func() (float64, error) {
		return func() (float64, error) {
			_, out, err := w.vzctl(append([]string{"--quiet", "exec2", id}, iperfIn(client(warming)...)...)...)
			if err != nil {
				return 0, err
			}
			return parseIperf(out)
		}
	}
	boundR := &contender{name: "node -> LAN (routed world)", off: off, run: fromNode(routed)}
	oursR := &contender{name: "routed CT -> LAN", off: off, run: fromCT(routed, rid)}
	boundB := &contender{name: "node -> LAN via br0 (bridged world)", off: off, run: fromNode(bridged)}
	oursB := &contender{name: "bridged CT -> LAN", off: off, run: fromCT(bridged, bid)}
	all := []*contender{boundR, oursR, boundB, oursB}
	if b.cfg.warmup > 0 {
		b.contend(all, 1, 0)
	}
	warming = false
	b.contend(all, 0, b.cfg.runs)

	noLXC := naSeries("LXC: routed (veth + lxc.net.0.ipv4.address + proxy) and bridged veth set-ups not built in the bench")
	t.add(row{what: "TCP throughput routed (venet) CT -> LAN peer, Gbit/s", ours: oursR.fig(), bound: boundR.fig(), peers: []*series{noLXC}})
	t.add(row{what: "TCP throughput bridged veth CT -> LAN peer, Gbit/s", ours: oursB.fig(), bound: boundB.fig(), peers: []*series{noLXC}})
	t.note("throughput: iperf3 -c %s -t %s (receiver's figure), %d runs per row, rotating order; iperf3 -s runs as the LAN peer", lanPeer, secs, b.cfg.runs)
	t.note("inside the busybox container runs the host's own iperf3 binary, its ldd libraries and loader copied into %s (no network", iperfDir)
	t.note("  needed, unlike installing it in the Debian template; same binary as the bound). Ratios below 1 = slower than the bound")
	t.note("bound: node -> LAN peer with no container, iperf3 from the node namespace itself, in the same world as the row: routed row")
	t.note("  over up0 directly, bridged row through br0 (up0 is its port)")
}

// netIPAdd adds the --ipadd -> first reply rows.
func (b *bench) netIPAdd(t *table, w *netWorld, id string, orig []byte) {
	p, err := openICMP(netnsPath(w.lan))
	if err != nil {
		na := naSeries("raw ICMP socket in the LAN namespace: " + errFirstLine(err))
		t.add(row{what: "--ipadd -> first reply", ours: na, bound: na})
		return
	}
	defer p.close()
	const timeout = 10 * time.Second
	n := 0
	flush := func() error {
		_, _, err := w.b.timed("ip", "-n", w.lan, "neigh", "flush", "dev", "lan0")
		return err
	}
	ipadd := func(skip bool) func() (float64, error) {
		return func() (float64, error) {
			extra := "setup_sysctls = true\n"
			if skip {
				extra += "skip_arpdetect = true\n"
			}
			if err := b.setGlobalConf(orig, extra); err != nil {
				return 0, err
			}
			// A fresh address each run, unknown to the LAN peer.
			n++
			addr := netip.AddrFrom4([4]byte{10, 77, 0, byte(100 + n%100)})
			if err := flush(); err != nil {
				return 0, err
			}
			d, err := p.firstReply(addr, func() error {
				_, _, err := w.vzctl("--quiet", "set", id, "--ipadd", addr.String())
				return err
			}, timeout)
			if _, _, err2 := w.vzctl("--quiet", "set", id, "--ipdel", addr.String()); err2 != nil && err == nil {
				err = err2
			}
			return ms(d), err
		}
	}
	floor := func() (float64, error) {
		if err := flush(); err != nil {
			return 0, err
		}
		d, err := p.firstReply(netip.MustParseAddr(routedIP), func() error { return nil }, timeout)
		return ms(d), err
	}
	probe := &contender{name: "--ipadd (probe)", run: ipadd(false)}
	skip := &contender{name: "--ipadd (skip_arpdetect)", run: ipadd(true)}
	bound := &contender{name: "floor", run: floor}
	b.contend([]*contender{probe, skip, bound}, b.cfg.warmup, b.cfg.runs)
	b.setGlobalConf(orig, "setup_sysctls = true\n")

	noLXC := naSeries("LXC: no live address add (lxc.net.0.ipv4.address applies at start)")
	t.add(row{what: "vzctl set --ipadd (running CT) -> first LAN reply, default duplicate-address probe, ms", ours: probe.fig(), bound: bound.fig(), peers: []*series{noLXC}})
	t.add(row{what: "vzctl set --ipadd (running CT) -> first LAN reply, skip_arpdetect = true, ms", ours: skip.fig(), bound: bound.fig(), peers: []*series{noLXC}})
	t.note("--ipadd: the LAN peer sends an ICMP echo every 1 ms (raw socket in its namespace) from just before `vzctl set CT --ipadd A`")
	t.note("  (no --save; --ipdel after each run) until the first reply from A; a fresh 10.77.0.1xx each run, the LAN's neighbour cache flushed")
	t.note("  bound: the same from a flushed cache to an address already in place (%s): ARP + echo, the network's own floor", routedIP)
}

// icmpPinger is a raw ICMP socket opened in another network namespace
// (a socket stays in the namespace it was made in).
type icmpPinger struct {
	fd  int
	ids uint16
}

// openICMP opens the socket on a thread moved into the namespace at
// nsPath. The thread moves back afterwards; if it cannot, it stays locked
// and ends with its goroutine, so no other goroutine runs in that
// namespace.
func openICMP(nsPath string) (*icmpPinger, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, err}
			return
		}
		defer unix.Close(self)
		target, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, err}
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, err}
			return
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		if unix.Setns(self, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{fd, err}
	}()
	r := <-ch
	if r.err != nil {
		return nil, r.err
	}
	// Receives wake up now and then to notice the end of a run.
	tv := unix.NsecToTimeval(int64(20 * time.Millisecond))
	if err := unix.SetsockoptTimeval(r.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(r.fd)
		return nil, err
	}
	return &icmpPinger{fd: r.fd, ids: uint16(os.Getpid())}, nil
}

func (p *icmpPinger) close() { unix.Close(p.fd) }

// firstReply starts the clock, sends an echo request to dst every
// millisecond, runs act (the command under test) and returns the time
// from the clock's start to the first echo reply from dst.
func (p *icmpPinger) firstReply(dst netip.Addr, act func() error, timeout time.Duration) (time.Duration, error) {
	got := make(chan time.Time, 1)
	stop := make(chan struct{})
	t0 := time.Now()
	wg := p.ping(dst, stop, func(at time.Time) bool { got <- at; return false })
	defer wg.Wait()
	defer close(stop)
	if err := act(); err != nil {
		return 0, err
	}
	select {
	case at := <-got:
		return at.Sub(t0), nil
	case <-time.After(timeout):
		return 0, fmt.Errorf("no echo reply from %s within %s", dst, timeout)
	}
}

// ping sends an echo request to dst every millisecond and passes the
// arrival time of each reply from dst to onReply, until onReply returns
// false or stop is closed; the caller closes stop, then waits on the
// returned group.
func (p *icmpPinger) ping(dst netip.Addr, stop <-chan struct{}, onReply func(time.Time) bool) *sync.WaitGroup {
	p.ids++
	id := p.ids
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		to := &unix.SockaddrInet4{Addr: dst.As4()}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for seq := uint16(0); ; seq++ {
			// Errors (no neighbour yet) are what is being waited out.
			unix.Sendto(p.fd, echoRequest(id, seq), 0, to)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, _, err := unix.Recvfrom(p.fd, buf, 0)
			now := time.Now()
			if err == nil && isEchoReply(buf[:n], dst, id) && !onReply(now) {
				return
			}
		}
	}()
	return &wg
}

// echoRequest is an ICMP echo request (RFC 792) with 8 bytes of payload.
func echoRequest(id, seq uint16) []byte {
	m := make([]byte, 16)
	m[0] = 8 // echo request
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	copy(m[8:], "govzbnch")
	binary.BigEndian.PutUint16(m[2:], inetChecksum(m))
	return m
}

// inetChecksum is the Internet checksum (RFC 1071).
func inetChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// isEchoReply reports whether pkt (an IPv4 datagram as a raw socket
// returns it) is an echo reply from src with our id.
func isEchoReply(pkt []byte, src netip.Addr, id uint16) bool {
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		return false
	}
	ihl := int(pkt[0]&0x0f) * 4
	if len(pkt) < ihl+8 || pkt[9] != unix.IPPROTO_ICMP {
		return false
	}
	from, _ := netip.AddrFromSlice(pkt[12:16])
	icmp := pkt[ihl:]
	return from == src && icmp[0] == 0 && icmp[1] == 0 && binary.BigEndian.Uint16(icmp[4:]) == id
}
