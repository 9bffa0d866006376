package ct

import (
	"errors"
	"strings"
	"testing"

	"govz/conf"
	"govz/ct/vzerror"
)

func TestEditNetIfs(t *testing.T) {
	s := func(v string) *string { return &v }
	base := []string{"ifname=eth0,mac=02:00:00:00:00:01,host_ifname=veth101.0,host_mac=02:00:00:00:00:02,bridge=br0,mac_filter=on"}
	for _, tc := range []struct {
		name string
		list []string
		o    NetSetOptions
		want string // entries joined by " | "
		err  error
	}{
		{name: "add fills names and MACs", o: NetSetOptions{NetIfAdd: []string{"eth0,,,,br0"}},
			want: "ifname=eth0,mac=02:c3:5e:24:06:e4,host_ifname=veth101.0,host_mac=02:eb:0f:10:e6:22,bridge=br0,mac_filter=on"},
		{name: "del", list: base, o: NetSetOptions{NetIfDel: []string{"eth0"}}, want: ""},
		{name: "del all then add", list: base, o: NetSetOptions{NetIfDel: []string{"all"}, NetIfAdd: []string{"eth1,02:00:00:00:00:09"}},
			want: "ifname=eth1,mac=02:00:00:00:00:09,host_ifname=veth101.1,host_mac=02:33:95:46:87:95,mac_filter=on"},
		{name: "change", list: base, o: NetSetOptions{IfName: "eth0", MACFilter: s("off"), Bridge: s("br1"), MAC: s("02:00:00:00:00:05")},
			want: "ifname=eth0,mac=02:00:00:00:00:05,host_ifname=veth101.0,host_mac=02:00:00:00:00:02,bridge=br1,mac_filter=off"},
		{name: "addresses and ip_filter", list: base, o: NetSetOptions{IfName: "eth0", IPFilter: s("off"),
			IPAdd: []string{"10.0.0.5/24", "fd00::5", "10.0.0.6"}, IPDel: []string{"all"}},
			want: base[0] + ",ip_filter=off,ip=10.0.0.5/24 fd00::5 10.0.0.6"},
		{name: "address removed", list: []string{base[0] + ",ip=10.0.0.5/24 fd00::5"}, o: NetSetOptions{IfName: "eth0", IPDel: []string{"10.0.0.5"}},
			want: base[0] + ",ip=fd00::5"},
		{name: "bad address", list: base, o: NetSetOptions{IfName: "eth0", IPAdd: []string{"10.0.0.300"}}, err: conf.ErrBadIP},
		{name: "add existing", list: base, o: NetSetOptions{NetIfAdd: []string{"eth0"}}, err: vzerror.ErrInvalidValue},
		{name: "change missing", list: base, o: NetSetOptions{IfName: "eth7", MAC: s("02:00:00:00:00:05")}, err: vzerror.ErrInvalidValue},
		{name: "change without ifname", list: base, o: NetSetOptions{MAC: s("02:00:00:00:00:05")}, err: vzerror.ErrSyntax},
		{name: "bad mac", list: base, o: NetSetOptions{IfName: "eth0", MAC: s("01:00:00:00:00:05")}, err: vzerror.ErrInvalidValue},
		{name: "host name clash", list: base, o: NetSetOptions{NetIfAdd: []string{"eth1,,veth101.0"}}, err: vzerror.ErrInvalidValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := editNetIfs(101, tc.list, tc.o, func(string, ...any) {})
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if j := strings.Join(got, " | "); j != tc.want {
				t.Errorf("got  %s\nwant %s", j, tc.want)
			}
		})
	}
}
