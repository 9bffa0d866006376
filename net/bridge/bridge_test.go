package bridge

import (
	"slices"
	"strings"
	"testing"

	"govz/net/link"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ifname=eth0", "ifname=eth0,mac_filter=on"},
		{"ifname=eth0,mac=00:18:51:AA:BB:CC,host_ifname=veth1.0,host_mac=00:18:51:00:00:01,bridge=vmbr0,mac_filter=off",
			"ifname=eth0,mac=00:18:51:aa:bb:cc,host_ifname=veth1.0,host_mac=00:18:51:00:00:01,bridge=vmbr0,mac_filter=off"},
	} {
		n, err := Parse(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if n.String() != tc.want {
			t.Errorf("%s: %s, want %s", tc.in, n, tc.want)
		}
		if again, err := Parse(n.String()); err != nil || again.String() != n.String() {
			t.Errorf("%s does not round-trip: %v %v", n, again, err)
		}
	}
	for _, bad := range []string{"", "eth0", "ifname=", "ifname=venet0", "ifname=eth0,mac=01:00:00:00:00:01",
		"ifname=eth0,mac=zz", "ifname=eth0,bridge=a/b", "ifname=averyveryverylongname", "ifname=eth0,color=red",
		"ifname=eth0,mac_filter=maybe"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseAdd(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"eth0", "ifname=eth0,mac_filter=on"},
		{"eth1,,,,br0", "ifname=eth1,bridge=br0,mac_filter=on"},
		{"eth1,02:00:00:00:00:01,vh1,02:00:00:00:00:02,br0",
			"ifname=eth1,mac=02:00:00:00:00:01,host_ifname=vh1,host_mac=02:00:00:00:00:02,bridge=br0,mac_filter=on"},
	} {
		n, err := ParseAdd(tc.in)
		if err != nil || n.String() != tc.want {
			t.Errorf("%s: %s %v, want %s", tc.in, n, err, tc.want)
		}
	}
	for _, bad := range []string{"", "eth0,a,b,c,d,e", "eth0,nomac"} {
		if _, err := ParseAdd(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestComplete(t *testing.T) {
	n := Complete(101, NetIf{Name: "eth0"})
	if n.HostName != "veth101.0" {
		t.Errorf("host name %s", n.HostName)
	}
	if n.MAC == nil || n.HostMAC == nil || n.MAC.String() == n.HostMAC.String() {
		t.Errorf("MACs %v %v", n.MAC, n.HostMAC)
	}
	if again := Complete(101, NetIf{Name: "eth0"}); again.MAC.String() != n.MAC.String() {
		t.Error("MAC is not stable")
	}
	if other := Complete(102, NetIf{Name: "eth0"}); other.MAC.String() == n.MAC.String() {
		t.Error("two containers got one MAC")
	}
	if n.MAC[0] != 0x02 {
		t.Errorf("MAC %s is not locally administered unicast", n.MAC)
	}
	for _, tc := range []struct {
		ct         int
		ifname     string
		wantPrefix string
	}{{2147483644, "eth0", "vzb"}, {101, "lan", "vzb"}, {7, "eth12", "veth7.12"}} {
		h := HostName(tc.ct, tc.ifname)
		if !strings.HasPrefix(h, tc.wantPrefix) || len(h) > 15 || link.CheckName(h) != nil {
			t.Errorf("HostName(%d, %s) = %s", tc.ct, tc.ifname, h)
		}
	}
}

func TestUpDown(t *testing.T) {
	for _, tc := range []struct {
		name     string
		n        NetIf
		want     string
		filtered bool
	}{
		{"filtered", NetIf{Name: "eth0", Bridge: "br0", MACFilter: true, IPFilter: true}, `bridge fdb add 02:c3:5e:24:06:e4 dev veth101.0 master static
bridge link set dev veth101.0 locked on learning off
ip link add veth101.0 address 02:eb:0f:10:e6:22 type veth peer name eth0 netns /proc/9/ns/net address 02:c3:5e:24:06:e4
ip link set veth101.0 alias "govz:veth 101 eth0"
ip link set veth101.0 master br0
ip link set veth101.0 up
`, true},
		{"unfiltered", NetIf{Name: "eth0", Bridge: "br0"}, `ip link add veth101.0 address 02:eb:0f:10:e6:22 type veth peer name eth0 netns /proc/9/ns/net address 02:c3:5e:24:06:e4
ip link set veth101.0 alias "govz:veth 101 eth0"
ip link set veth101.0 master br0
ip link set veth101.0 up
`, false},
		{"no bridge", NetIf{Name: "eth0", MACFilter: true, IPFilter: true}, `ip link add veth101.0 address 02:eb:0f:10:e6:22 type veth peer name eth0 netns /proc/9/ns/net address 02:c3:5e:24:06:e4
ip link set veth101.0 alias "govz:veth 101 eth0"
ip link set veth101.0 up
`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := link.NewFake()
			host.AddExisting("br0", true)
			nf := &fakeNF{}
			e := &Env{CT: 101, Host: host, Filter: nf, GuestNS: "/proc/9/ns/net"}
			if err := Up(e, tc.n); err != nil {
				t.Fatal(err)
			}
			if got := host.State(); got != tc.want {
				t.Errorf("state:\n%s\nwant:\n%s", got, tc.want)
			}
			if got := slices.Equal(nf.keys, []string{"veth101.0"}); got != tc.filtered {
				t.Errorf("filtered ports %v", nf.keys)
			}
			if err := Down(e, Complete(101, tc.n)); err != nil {
				t.Fatal(err)
			}
			if err := Down(e, Complete(101, tc.n)); err != nil {
				t.Fatalf("second Down: %v", err)
			}
			if got := host.State(); got != "" || nf.table {
				t.Errorf("after Down:\n%s\nfilter table left: %v", got, nf.table)
			}
		})
	}
	t.Run("undo", func(t *testing.T) {
		for _, step := range []string{"master", "locked", "nft", "up"} {
			host := link.NewFake()
			host.AddExisting("br0", true)
			nf := &fakeNF{fail: step == "nft"}
			host.FailOn = step
			if err := Up(&Env{CT: 101, Host: host, Filter: nf, GuestNS: "/proc/9/ns/net"}, NetIf{Name: "eth0", Bridge: "br0", MACFilter: true, IPFilter: true}); err == nil {
				t.Fatalf("%s: no error", step)
			}
			if got := host.State(); got != "" || nf.table {
				t.Errorf("%s: left behind:\n%s\nfilter table: %v", step, got, nf.table)
			}
		}
	})
	t.Run("not a bridge", func(t *testing.T) {
		host := link.NewFake()
		host.AddExisting("eth9", false)
		if err := Up(&Env{CT: 101, Host: host, Filter: &fakeNF{}}, NetIf{Name: "eth0", Bridge: "eth9"}); err == nil {
			t.Fatal("enslaved to a non-bridge")
		}
		if got := host.State(); got != "" {
			t.Errorf("left behind:\n%s", got)
		}
	})
}
