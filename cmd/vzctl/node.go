package main

import (
	"context"
	"fmt"
	"os/signal"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"govz/ct/vzerror"
)

// bootNodeCmd and shutdownNodeCmd are the entry points of the vz systemd
// unit (OpenVZ's /etc/init.d/vz start and stop).
func bootNodeCmd(e *env) *cli.Command {
	return &cli.Command{
		Name:         "boot-node",
		Usage:        "start the containers that run at node boot (onboot, or running when the node went down), by bootorder, ve_parallel at a time",
		OnUsageError: usageErr,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q: %w", c.Args().First(), vzerror.ErrSyntax)
			}
			n, err := e.node()
			if err != nil {
				return err
			}
			// systemd cancels a start job with SIGTERM: begin no more
			// starts, let those under way finish.
			ctx, stop := signal.NotifyContext(context.Background(), unix.SIGTERM, unix.SIGINT)
			defer stop()
			return n.BootNode(ctx)
		},
	}
}

func shutdownNodeCmd(e *env) *cli.Command {
	return &cli.Command{
		Name:         "shutdown-node",
		Usage:        "stop every running container at once, keeping what ran for the next boot-node",
		OnUsageError: usageErr,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "timeout", Usage: "seconds for all containers together (default: shutdown_timeout)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q: %w", c.Args().First(), vzerror.ErrSyntax)
			}
			if c.Int("timeout") < 0 {
				return fmt.Errorf("bad --timeout %d: %w", c.Int("timeout"), vzerror.ErrInvalidValue)
			}
			n, err := e.node()
			if err != nil {
				return err
			}
			return n.ShutdownNode(time.Duration(c.Int("timeout")) * time.Second)
		},
	}
}
