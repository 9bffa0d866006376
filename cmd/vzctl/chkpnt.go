package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"govz/ct"
	"govz/ct/migrate"
	"govz/ct/vzerror"
)

// chkpntCmd is chkpnt or suspend: save the running container and stop it.
// vzmigrate's sub-steps are phases of that operation, run as separate
// commands: --suspend freezes the container (it stays running for
// status), --dump saves a suspended one into the dump and leaves it
// frozen, --kill kills a suspended one (its dump then makes it
// suspended, as after a whole chkpnt), --resume thaws a suspended one and
// removes its dump. None, or all three of --suspend --dump --kill, is the
// whole chkpnt; other combinations run in the order suspend, dump,
// kill or resume (ct.ChkpntPlan).
func chkpntCmd(e *env, name string) *cli.Command {
	return &cli.Command{
		Name: name, Usage: "save the running container to a dump and stop it", ArgsUsage: "CTID",
		OnUsageError: usageErr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dumpfile", Usage: "dump directory (default DUMPDIR/Dump.CTID)"},
			&cli.BoolFlag{Name: "suspend", Hidden: true, Usage: "freeze the container only"},
			&cli.BoolFlag{Name: "dump", Hidden: true, Usage: "save a suspended container, leave it frozen"},
			&cli.BoolFlag{Name: "kill", Hidden: true, Usage: "kill a suspended container"},
			&cli.BoolFlag{Name: "resume", Hidden: true, Usage: "thaw a suspended container, remove its dump"},
		},
		Action: func(c *cli.Context) error {
			steps, err := ct.ChkpntPlan(c.Bool("suspend"), c.Bool("dump"), c.Bool("kill"), c.Bool("resume"))
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return e.withCT(c, func(n *ct.Node, id int) error {
				if steps == nil {
					return n.Chkpnt(id, c.String("dumpfile"))
				}
				return n.ChkpntSteps(id, c.String("dumpfile"), steps)
			})
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
			// vzmigrate --online's destination: everything but the
			// restore itself before the source freezes.
			&cli.BoolFlag{Name: "wait-stdin", Hidden: true, Usage: "restore once the line \"go\" is read on stdin, after the checks"},
		},
		Action: func(c *cli.Context) error {
			if c.Bool("kill") {
				return fmt.Errorf("%s --kill: a restore that is not resumed is not supported: %w", name, vzerror.ErrInvalidValue)
			}
			var ready func() error
			if c.Bool("wait-stdin") {
				ready = func() error {
					// vzmigrate freezes the source once it reads this.
					fmt.Fprintln(os.Stdout, migrate.RestoreReady)
					return readGo(os.Stdin)
				}
			}
			return e.withCT(c, func(n *ct.Node, id int) error { return n.RestoreWhen(id, c.String("dumpfile"), ready) })
		},
	}
}

// readGo reads one line from r and wants it to be "go". It reads byte by
// byte: nothing after the line is taken from a stdin others share.
func readGo(r io.Reader) error {
	var line []byte
	b := make([]byte, 1)
	for {
		k, err := r.Read(b)
		if k == 1 && b[0] != '\n' {
			line = append(line, b[0])
			continue
		}
		if k == 1 || err != nil {
			if string(line) == "go" {
				return nil
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("reading stdin: %w", err)
			}
			return fmt.Errorf("stdin said %q, not go", line)
		}
	}
}
