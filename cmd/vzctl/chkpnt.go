package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"govz/ct"
	"govz/ct/vzerror"
)

// chkpntCmd is chkpnt or suspend: save the running container and stop it.
// vzmigrate's sub-steps (--suspend, --dump, --kill, --resume) are phases of
// that one operation; CRIU freezes, saves and kills in one request, so all
// three of --suspend --dump --kill together are the whole chkpnt. A phase
// alone (a frozen container waiting for --dump, --resume) is refused, not
// turned into the whole: vzmigrate would find its container gone.
func chkpntCmd(e *env, name string) *cli.Command {
	return &cli.Command{
		Name: name, Usage: "save the running container to a dump and stop it", ArgsUsage: "CTID",
		OnUsageError: usageErr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dumpfile", Usage: "dump directory (default DUMPDIR/Dump.CTID)"},
			&cli.BoolFlag{Name: "suspend", Hidden: true},
			&cli.BoolFlag{Name: "dump", Hidden: true},
			&cli.BoolFlag{Name: "kill", Hidden: true},
			&cli.BoolFlag{Name: "resume", Hidden: true},
		},
		Action: func(c *cli.Context) error {
			steps := 0
			for _, s := range []string{"suspend", "dump", "kill"} {
				if c.Bool(s) {
					steps++
				}
			}
			if c.Bool("resume") || steps != 0 && steps != 3 {
				return fmt.Errorf("%s: the separate phases --suspend, --dump, --kill, --resume are not supported yet, only all of --suspend --dump --kill (the whole checkpoint): %w", name, vzerror.ErrInvalidValue)
			}
			return e.withCT(c, func(n *ct.Node, id int) error { return n.Chkpnt(id, c.String("dumpfile")) })
		},
	}
}

// restoreCmd is restore or resume: bring a checkpointed container back.
func restoreCmd(e *env, name string) *cli.Command {
	return &cli.Command{
		Name: name, Usage: "restore the container from its dump", ArgsUsage: "CTID",
		OnUsageError: usageErr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dumpfile", Usage: "dump directory (default DUMPDIR/Dump.CTID)"},
			&cli.BoolFlag{Name: "undump", Hidden: true},
			&cli.BoolFlag{Name: "resume", Hidden: true},
			&cli.BoolFlag{Name: "kill", Hidden: true},
			&cli.BoolFlag{Name: "skip-remount", Hidden: true},
			&cli.BoolFlag{Name: "skip-fsck", Hidden: true},
		},
		Action: func(c *cli.Context) error {
			if c.Bool("kill") {
				return fmt.Errorf("%s --kill: a restore that is not resumed is not supported: %w", name, vzerror.ErrInvalidValue)
			}
			return e.withCT(c, func(n *ct.Node, id int) error { return n.Restore(id, c.String("dumpfile")) })
		},
	}
}
