package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"govz/conf"
	"govz/ct"
)

// netFlags are vzctl set's bridged-interface options (vzctl.md §5.4).
func netFlags() []cli.Flag {
	return []cli.Flag{
		// Not StringSliceFlags: those split values at commas.
		&cli.GenericFlag{Name: "netif_add", Value: &listValue{}, Usage: "add a bridged veth interface: IF[,MAC,HOST_IF,HOST_MAC,BRIDGE] (repeatable)"},
		&cli.StringSliceFlag{Name: "netif_del", Usage: "remove a bridged interface, or all"},
		&cli.StringFlag{Name: "ifname", Usage: "the bridged interface that --mac, --host_ifname, --host_mac, --bridge, --mac_filter, --ip_filter, --ipadd, --ipdel change"},
		&cli.StringFlag{Name: "mac", Usage: "MAC address of the --ifname interface inside the container"},
		&cli.StringFlag{Name: "host_ifname", Usage: "host-side name of the --ifname interface"},
		&cli.StringFlag{Name: "host_mac", Usage: "host-side MAC address of the --ifname interface"},
		&cli.StringFlag{Name: "bridge", Usage: "host bridge the --ifname interface joins"},
		&cli.StringFlag{Name: "mac_filter", Usage: "on|off: only the interface's own MAC may send (default on)"},
		&cli.StringFlag{Name: "ip_filter", Usage: "on|off: no router advertisements, redirects or DHCP server replies, and only the --ifname interface's own addresses (--ifname IF --ipadd) as sources (default on)"},
	}
}

// netOptions reads the options netFlags declares.
func netOptions(c *cli.Context) ct.NetSetOptions {
	o := ct.NetSetOptions{NetIfDel: c.StringSlice("netif_del"), IfName: c.String("ifname")}
	if v, ok := c.Generic("netif_add").(*listValue); ok {
		o.NetIfAdd = *v
	}
	str := func(name string) *string {
		if !c.IsSet(name) {
			return nil
		}
		v := c.String(name)
		return &v
	}
	o.MAC, o.HostIfName, o.HostMAC = str("mac"), str("host_ifname"), str("host_mac")
	o.Bridge, o.MACFilter, o.IPFilter = str("bridge"), str("mac_filter"), str("ip_filter")
	// With --ifname, --ipadd/--ipdel are that interface's (vzctl 7).
	if o.IfName != "" {
		o.IPAdd, o.IPDel = c.StringSlice("ipadd"), c.StringSlice("ipdel")
	}
	return o
}

// listValue collects every occurrence of a repeatable option, split at
// blanks as vzctl splits --netif_add (commas separate an item's fields).
type listValue []string

func (l *listValue) Set(s string) error { *l = append(*l, conf.SplitBlanks(s)...); return nil }
func (l *listValue) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, " ")
}
