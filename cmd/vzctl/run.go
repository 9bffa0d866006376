package main

import (
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"govz/ct"
	"govz/ct/vzerror"
)

func startCmd(e *env) *cli.Command {
	return &cli.Command{
		Name: "start", Usage: "boot the container's own init", ArgsUsage: "CTID",
		OnUsageError: usageErr,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "wait", Usage: "return when the guest has finished booting"},
			&cli.BoolFlag{Name: "force", Usage: "start even if disabled"},
			&cli.BoolFlag{Name: "skip-remount", Usage: "accepted for compatibility; a mounted root is kept"},
			&cli.BoolFlag{Name: "skip-fsck", Usage: "accepted for compatibility"},
		},
		Action: func(c *cli.Context) error {
			return e.withCT(c, func(n *ct.Node, id int) error {
				return n.Start(id, ct.StartOptions{Wait: c.Bool("wait"), Force: c.Bool("force")})
			})
		},
	}
}

func stopCmd(e *env) *cli.Command {
	return &cli.Command{
		Name: "stop", Usage: "halt the container cleanly (kill after the stop timeout)", ArgsUsage: "CTID",
		OnUsageError: usageErr,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "fast", Usage: "kill at once"},
			&cli.BoolFlag{Name: "skip-umount", Usage: "leave the root mounted"},
		},
		Action: func(c *cli.Context) error {
			return e.withCT(c, func(n *ct.Node, id int) error {
				return n.Stop(id, c.Bool("fast"), c.Bool("skip-umount"))
			})
		},
	}
}

func restartCmd(e *env) *cli.Command {
	return &cli.Command{
		Name: "restart", Usage: "stop (if running) and start", ArgsUsage: "CTID",
		OnUsageError: usageErr,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "wait"}, &cli.BoolFlag{Name: "force"}, &cli.BoolFlag{Name: "fast"},
			&cli.BoolFlag{Name: "skip-remount"}, &cli.BoolFlag{Name: "skip-fsck"},
		},
		Action: func(c *cli.Context) error {
			return e.withCT(c, func(n *ct.Node, id int) error {
				return n.Restart(id, c.Bool("fast"), ct.StartOptions{Wait: c.Bool("wait"), Force: c.Bool("force")})
			})
		},
	}
}

// execCmd is exec, exec2 or exec3: everything after the CTID is the
// command, so flags are not parsed.
func execCmd(e *env, name string, mode ct.ExecMode, usage string) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: "CTID COMMAND [ARG...]",
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) < 2 {
				return fmt.Errorf("usage: vzctl %s CTID COMMAND [ARG...]: %w", name, vzerror.ErrNotEnoughParams)
			}
			return e.withID(args[0], func(n *ct.Node, id int) error { return n.Exec(id, args[1:], mode) })
		},
	}
}

func enterCmd(e *env) *cli.Command {
	return &cli.Command{
		Name: "enter", Usage: "root shell inside the container", ArgsUsage: "CTID [--exec COMMAND [ARG...]]",
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) < 1 {
				return fmt.Errorf("container id is not given: %w", vzerror.ErrInvalidValue)
			}
			var execArgs []string
			if len(args) > 1 {
				if args[1] != "--exec" || len(args) < 3 {
					return fmt.Errorf("bad enter options %q (want --exec COMMAND): %w", args[1:], vzerror.ErrSyntax)
				}
				execArgs = args[2:]
			}
			return e.withID(args[0], func(n *ct.Node, id int) error { return n.Enter(id, execArgs) })
		},
	}
}

func consoleCmd(e *env) *cli.Command {
	return &cli.Command{
		Name: "console", Usage: "attach to the container's console (detach: Esc .)", ArgsUsage: "CTID [TTY]",
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) < 1 || len(args) > 2 {
				return fmt.Errorf("usage: vzctl console CTID [TTY]: %w", vzerror.ErrInvalidValue)
			}
			tty := 1
			if len(args) == 2 {
				v, err := strconv.Atoi(args[1])
				if err != nil || v < 0 {
					return fmt.Errorf("bad tty number %q: %w", args[1], vzerror.ErrInvalidValue)
				}
				tty = v
			}
			e.log.Infof("Attached to CT console; press Esc . to detach")
			return e.withID(args[0], func(n *ct.Node, id int) error { return n.Console(id, tty) })
		},
	}
}

func runscriptCmd(e *env) *cli.Command {
	return &cli.Command{
		Name: "runscript", Usage: "run a host script inside the container (a stopped one is mounted for it)", ArgsUsage: "CTID SCRIPT [ARG...]",
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) < 2 {
				return fmt.Errorf("usage: vzctl runscript CTID SCRIPT: %w", vzerror.ErrNotEnoughParams)
			}
			return e.withID(args[0], func(n *ct.Node, id int) error { return n.Runscript(id, args[1], args[2:]) })
		},
	}
}
