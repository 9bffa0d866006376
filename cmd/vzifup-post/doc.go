package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"govz/internal/clidoc"
)

// docApp is vzifup-post's option table. run parses the two options itself
// (no flag library for two words); a test holds run to this table.
func docApp() *cli.App {
	return &cli.App{
		Name:      "vzifup-post",
		Usage:     "restore the containers' proxy ARP/NDP entries on a device that came up",
		UsageText: "vzifup-post [--quiet] DEVICE\nvzifup-post --watch",
		ArgsUsage: "DEVICE",
		Description: `The kernel deletes every proxy ARP/NDP entry of a device when the device goes down, so after ifdown and ifup (or ip link set DEV down/up) the LAN no longer reaches the containers' routed addresses. The network scripts run vzifup-post DEVICE once the device is up again (/etc/network/if-up.d/vzifup-post); it restores the entries of every running container and announces the addresses.

With --watch it stays and does so for every link that comes up, until SIGTERM or SIGINT (vzifup-post.service). Run it in the network namespace the containers were started from.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Usage: "print errors only"},
			&cli.BoolFlag{Name: "watch", Usage: "restore the entries of every link that comes up, until SIGTERM or SIGINT"},
		},
	}
}

func docMain(args []string) int {
	t := clidoc.Tool{App: docApp(), Section: "8", Extra: []clidoc.Section{
		{Title: "Exit status", Text: "0 on success; otherwise vzctl's numbered codes, see vzctl(8)."},
		{Title: "Environment", Items: []clidoc.Item{{Tag: clidoc.Bold("VZ_ROOT"), Text: "Root of the installation (default /vz)."}}},
		{Title: "See also", Text: "vzctl(8)"},
	}}
	if err := clidoc.Main(t, args[1:], nil, "", os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
