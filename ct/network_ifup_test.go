package ct

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"govz/conf"
	"govz/ct/ctnet"
	"govz/ct/lock"
	"govz/ct/runstate"
	"govz/ct/vzerror"
	"govz/ct/vzlog"
	"govz/net/link"
	"govz/net/venet"
)

// ifupNode is an installation in a temp dir whose "running" containers
// are this test process (alive, in this network namespace), over a fake
// node namespace with an uplink up0 (default route of both families) and
// a second device eth1.
type ifupNode struct {
	*Node
	host      *link.Fake
	announced []string
}

func newIfupNode(t *testing.T, neighbourDevs string) *ifupNode {
	g := conf.Defaults()
	g.NeighbourDevs = &neighbourDevs
	n := &ifupNode{Node: &Node{Paths: conf.Paths{Root: t.TempDir()}, Global: g, Log: &vzlog.Logger{}}, host: link.NewFake()}
	n.host.AddExisting("up0", false)
	n.host.AddExisting("eth1", false)
	n.host.Default[false] = []string{"up0"}
	n.host.Default[true] = []string{"up0"}
	n.host.Neighbours = []string{"up0", "eth1"}
	return n
}

// addCT makes container id with a config, a run record (running: this
// process; else a record whose init is gone) and a network record of
// routed addresses, each "ADDR=DEV+DEV".
func (n *ifupNode) addCT(t *testing.T, id int, running bool, addrs ...string) {
	t.Helper()
	if err := os.MkdirAll(n.Paths.ConfDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.Paths.CTConfig(id), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rd := n.RunDir(id)
	if err := os.MkdirAll(rd, 0o755); err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	start, err := runstate.StartTime(self)
	if err != nil {
		t.Fatal(err)
	}
	if !running {
		start++ // a PID reused by another process
	}
	if err := runstate.Write(rd, &runstate.State{ID: fmt.Sprint(id), SupervisorPID: self, InitPID: self,
		InitStartTime: start, BootID: "boot1"}); err != nil {
		t.Fatal(err)
	}
	st := &ctnet.State{}
	if addrs != nil {
		st.Venet = &venet.State{HostIf: venet.HostIf(id)}
		for _, s := range addrs {
			a, devs, _ := strings.Cut(s, "=")
			ip := netip.MustParseAddr(a)
			rec := venet.Addr{Prefix: netip.PrefixFrom(ip, ip.BitLen())}
			if devs != "" {
				rec.Neigh = strings.Split(devs, "+")
			}
			st.Venet.Addrs = append(st.Venet.Addrs, rec)
			// The host route: the node routes the address to the container.
			n.host.AddRoute(venet.HostRoute(st.Venet.HostIf, ip))
		}
	} else {
		st.NetIfs = []string{"ifname=eth0,bridge=br0"} // bridged only
	}
	if err := ctnet.WriteState(rd, st); err != nil {
		t.Fatal(err)
	}
}

func (n *ifupNode) record(t *testing.T, id int) string {
	t.Helper()
	st, err := ctnet.ReadState(n.RunDir(id))
	if err != nil {
		t.Fatal(err)
	}
	if st.Venet == nil {
		return ""
	}
	var out []string
	for _, a := range st.Venet.Addrs {
		out = append(out, a.Prefix.Addr().String()+"="+strings.Join(a.Neigh, "+"))
	}
	return strings.Join(out, " ")
}

func (n *ifupNode) run(t *testing.T, dev string, deadline time.Time) (string, error) {
	t.Helper()
	done, err := n.netIfUp(dev, n.host, func(dev string, a netip.Addr) error {
		n.announced = append(n.announced, a.String()+" on "+dev)
		return nil
	}, deadline)
	var out []string
	for id := 100; id < 110; id++ {
		for _, r := range done[id] {
			out = append(out, fmt.Sprintf("%d: %s", id, r))
		}
	}
	return strings.Join(out, "\n"), err
}

// TestNetIfUp is the selection of NetIfUp (vzifup-post): which
// containers and which of their addresses get a proxy entry on the device
// that came up, under each neighbour_devs mode.
func TestNetIfUp(t *testing.T) {
	for _, tc := range []struct {
		mode, dev string
		want      string // restored
		rec101    string // 101's record after
		rec104    string
	}{
		{mode: "detect", dev: "up0",
			want: `101: 10.77.0.10 on up0
101: fd00:77::10 on up0
104: 10.77.0.40 on up0`,
			rec101: "10.77.0.10=up0 fd00:77::10=up0 10.88.0.5=eth1",
			rec104: "10.77.0.40=up0"},
		{mode: "detect", dev: "eth1",
			want:   `101: 10.88.0.5 on eth1`,
			rec101: "10.77.0.10=up0 fd00:77::10=up0 10.88.0.5=eth1",
			rec104: "10.77.0.40="},
		{mode: "detect", dev: "eth7",
			rec101: "10.77.0.10=up0 fd00:77::10=up0 10.88.0.5=eth1",
			rec104: "10.77.0.40="},
		{mode: "list:up0", dev: "up0",
			want: `101: 10.77.0.10 on up0
101: fd00:77::10 on up0
101: 10.88.0.5 on up0
104: 10.77.0.40 on up0`,
			rec101: "10.77.0.10=up0 fd00:77::10=up0 10.88.0.5=eth1+up0",
			rec104: "10.77.0.40=up0"},
		{mode: "list:eth1", dev: "up0",
			want: `101: 10.77.0.10 on up0
101: fd00:77::10 on up0`,
			rec101: "10.77.0.10=up0 fd00:77::10=up0 10.88.0.5=eth1",
			rec104: "10.77.0.40="},
		{mode: "all", dev: "up0",
			want: `101: 10.77.0.10 on up0
101: fd00:77::10 on up0
101: 10.88.0.5 on up0
104: 10.77.0.40 on up0`,
			rec101: "10.77.0.10=up0 fd00:77::10=up0 10.88.0.5=eth1+up0",
			rec104: "10.77.0.40=up0"},
		{mode: "all", dev: "",
			want: `101: 10.77.0.10 on up0
101: 10.77.0.10 on eth1
101: fd00:77::10 on up0
101: fd00:77::10 on eth1
101: 10.88.0.5 on eth1
101: 10.88.0.5 on up0
104: 10.77.0.40 on up0
104: 10.77.0.40 on eth1`,
			rec101: "10.77.0.10=up0+eth1 fd00:77::10=up0+eth1 10.88.0.5=eth1+up0",
			rec104: "10.77.0.40=up0+eth1"},
	} {
		t.Run(tc.mode+" "+tc.dev, func(t *testing.T) {
			n := newIfupNode(t, tc.mode)
			n.addCT(t, 101, true, "10.77.0.10=up0", "fd00:77::10=up0", "10.88.0.5=eth1")
			n.addCT(t, 102, true)                    // bridged only
			n.addCT(t, 103, false, "10.77.0.30=up0") // its init is gone
			n.addCT(t, 104, true, "10.77.0.40")      // nothing was detected at its start
			n.addCT(t, 105, true, "10.77.0.50=up0")  // no config: not a container of this node
			os.Remove(n.Paths.CTConfig(105))         // (IDs come from configs)
			got, err := n.run(t, tc.dev, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("restored:\n%s\nwant:\n%s", got, tc.want)
			}
			if a := strings.Join(n.announced, "\n"); a != strings.ReplaceAll(strings.ReplaceAll(tc.want, "101: ", ""), "104: ", "") {
				t.Errorf("announced:\n%s", a)
			}
			var proxies []string
			for _, l := range strings.Split(n.host.State(), "\n") {
				if p, ok := strings.CutPrefix(l, "ip neigh add proxy "); ok {
					proxies = append(proxies, p)
				}
			}
			if len(proxies) != strings.Count(tc.want, " on ") {
				t.Errorf("the node's proxy entries: %q", proxies)
			}
			if r := n.record(t, 101); r != tc.rec101 {
				t.Errorf("101's record %q, want %q", r, tc.rec101)
			}
			if r := n.record(t, 104); r != tc.rec104 {
				t.Errorf("104's record %q, want %q", r, tc.rec104)
			}
		})
	}
}

// TestNetIfUpLocked: a container another command holds is waited for
// until the deadline, then reported; the others are done.
func TestNetIfUpLocked(t *testing.T) {
	n := newIfupNode(t, "detect")
	n.addCT(t, 101, true, "10.77.0.10=up0")
	n.addCT(t, 102, true, "10.77.0.20=up0")
	l, err := lock.Acquire(n.LockDir(), 101, "set")
	if err != nil {
		t.Fatal(err)
	}
	got, err := n.run(t, "up0", time.Now().Add(100*time.Millisecond))
	if !errors.Is(err, vzerror.ErrLocked) || !strings.Contains(err.Error(), "container 101") {
		t.Errorf("error %v, want 101 locked", err)
	}
	if got != "102: 10.77.0.20 on up0" {
		t.Errorf("restored %q", got)
	}
	// Released within the wait: done.
	go func() {
		time.Sleep(100 * time.Millisecond)
		l.Release()
	}()
	got, err = n.run(t, "up0", time.Now().Add(5*time.Second))
	if err != nil || got != "101: 10.77.0.10 on up0\n102: 10.77.0.20 on up0" {
		t.Errorf("after release: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(n.LockDir(), "101.lck")); !os.IsNotExist(err) {
		t.Errorf("the lock stays: %v", err)
	}
}
