package ctnet

import (
	"errors"
	"testing"

	"govz/conf"
	"govz/ct/vzerror"
)

func TestNetConf(t *testing.T) {
	f := false
	eff := &conf.Config{IPAddress: []string{"10.0.0.1/24", "fd00::1", "10.0.0.2"}, IPv6: &f,
		NetIf: []string{"ifname=eth0,bridge=br0"}, NeighbourDevs: conf.Defaults().NeighbourDevs}
	var warned []string
	nc, err := HostPlan(7, eff, func(f string, a ...any) { warned = append(warned, f) })
	if err != nil {
		t.Fatal(err)
	}
	if len(nc.Addrs) != 2 || nc.Addrs[0].String() != "10.0.0.1/24" || nc.Addrs[1].String() != "10.0.0.2/32" {
		t.Errorf("addresses %v", nc.Addrs)
	}
	if len(warned) != 1 {
		t.Errorf("warnings %v, want one about the IPv6 address", warned)
	}
	if len(nc.NetIfs) != 1 || nc.NetIfs[0].HostName != "veth7.0" || nc.NetIfs[0].MAC == nil {
		t.Errorf("netifs %+v", nc.NetIfs)
	}
	bad := "list:"
	if _, err := HostPlan(7, &conf.Config{NeighbourDevs: &bad}, func(string, ...any) {}); !errors.Is(err, vzerror.ErrInvalidConfig) {
		t.Errorf("bad neighbour_devs: %v", err)
	}
}

func TestNetGuestConfig(t *testing.T) {
	h := "web.example"
	c := GuestConfig(&conf.Config{Hostname: &h, Nameserver: []string{"10.0.0.53"}, SearchDomain: []string{}}, Plan{IPv6: true})
	if c.Hostname != h || len(c.Nameservers) != 1 || c.Search == nil || len(c.Search) != 0 || c.Iface != "venet0" {
		t.Errorf("%+v", c)
	}
	// An unset search list leaves the guest's alone.
	if c := GuestConfig(&conf.Config{}, Plan{}); c.Search != nil || c.Nameservers != nil {
		t.Errorf("%+v", c)
	}
}
