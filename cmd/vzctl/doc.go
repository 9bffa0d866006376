package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"govz/ct/vzlog"
	"govz/internal/clidoc"
)

// globalFlags are the options before the command; run parses them itself
// (vzctl's grammar), the table documents and completes them.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "quiet", Usage: "print errors only"},
		&cli.BoolFlag{Name: "verbose", Usage: "more messages; repeatable"},
		&cli.BoolFlag{Name: "version", Usage: "print the version and exit"},
	}
}

const description = `vzctl creates, starts, stops and changes OpenVZ-style system containers on a stock Linux kernel: each container is a tree of processes in its own namespaces and cgroup, booted from its own init, with a private area on disk. A container is named by its numeric CTID (1 and up) or by the name set with --name.

Options follow the CTID, as in OpenVZ: vzctl set 101 --ram 512M --save. VZ_ROOT relocates the whole installation.`

// docTool is vzctl(8)'s source: the command table plus what no flag holds.
func docTool(app *cli.App) clidoc.Tool {
	return clidoc.Tool{App: app, Section: "8", Extra: []clidoc.Section{
		clidoc.ExitCodes(),
		{Title: "Environment", Items: []clidoc.Item{
			{Tag: clidoc.Bold("VZ_ROOT"), Text: "Root of the installation (default /vz): configs, templates, private areas, locks, logs."},
		}},
		{Title: "Files", Items: []clidoc.Item{
			{Tag: clidoc.Italic("$VZ_ROOT/conf/vz.toml"), Text: "Global configuration, see vz.toml(5)."},
			{Tag: clidoc.Italic("$VZ_ROOT/conf/CTID.toml"), Text: "Configuration of container CTID."},
			{Tag: clidoc.Italic("$VZ_ROOT/conf/samples/NAME.toml"), Text: "Config samples for create --config and set --applyconfig."},
			{Tag: clidoc.Italic("$VZ_ROOT/conf/names/NAME"), Text: "Container names (symlinks to the configs)."},
			{Tag: clidoc.Italic("$VZ_ROOT/template/cache/"), Text: "OS templates, see vztmpl(8)."},
			{Tag: clidoc.Italic("$VZ_ROOT/log/vzctl.log"), Text: "Log file (logfile in vz.toml)."},
		}},
		{Title: "See also", Text: "vzlist(8), vztmpl(8), vzifup-post(8), vz.toml(5)"},
	}}
}

// docMain serves the hidden documentation verbs (see clidoc).
func docMain(args []string, stdout, stderr io.Writer) int {
	var err error
	if args[0] == clidoc.ValuesVerb {
		if len(args) != 2 {
			err = fmt.Errorf("usage: vzctl %s ctids|templates|samples", clidoc.ValuesVerb)
		} else {
			err = clidoc.Values(args[1], stdout)
		}
	} else {
		e := &env{log: &vzlog.Logger{Prog: "vzctl", Out: stdout, Err: stderr}}
		err = clidoc.Main(docTool(newApp(e, stdout, stderr)), args[1:], clidoc.ConfMan, version, stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
