package main

import (
	"os"

	"govz/internal/clidoc"
)

const description = `vztmpl lists the OS templates in the template cache and builds new ones from the recipes built into the binary (busybox from the host's busybox-static, debian with debootstrap). vzctl create --ostemplate NAME unpacks a cached template NAME.tar.{gz,xz,zst}.`

// docTool is vztmpl(8)'s source: the command table.
func docTool() clidoc.Tool {
	return clidoc.Tool{App: newApp(), Section: "8", Extra: []clidoc.Section{
		{Title: "Exit status", Text: "0 on success; otherwise vzctl's numbered codes, see vzctl(8)."},
		{Title: "Environment", Items: []clidoc.Item{{Tag: clidoc.Bold("VZ_ROOT"), Text: "Root of the installation (default /vz); the cache is $VZ_ROOT/template/cache unless vz.toml moves the template area."}}},
		{Title: "See also", Text: "vzctl(8), vz.toml(5)"},
	}}
}

func docMain(args []string) int { return clidoc.Run(docTool(), args, os.Stdout, os.Stderr) }
