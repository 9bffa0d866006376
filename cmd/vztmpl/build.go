package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"govz/templates"
)

// buildCommand has one subcommand per recipe, so that each takes its own
// flags after the recipe name (urfave/cli v2 stops parsing flags at the
// first positional argument).
func buildCommand() *cli.Command {
	common := func() []cli.Flag {
		return []cli.Flag{
			cacheFlag(),
			&cli.StringFlag{Name: "compress", Value: "gz", Usage: "compression: gz, xz or zst"},
			&cli.BoolFlag{Name: "force", Usage: "rebuild even if the template is cached"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show the recipe's own output"},
		}
	}
	return &cli.Command{
		Name:         "build",
		Usage:        "build a template from a recipe",
		OnUsageError: usageError,
		Subcommands: []*cli.Command{
			{
				Name:         "busybox",
				Usage:        "busybox-ARCH from the host's static busybox (busybox-static), offline",
				Flags:        common(),
				OnUsageError: usageError,
				Action:       runBuild("busybox"),
			},
			{
				Name:  "debian",
				Usage: "debian-VERSION-ARCH[-FLAVOUR] or ubuntu-VERSION-ARCH[-FLAVOUR] with debootstrap (FLAVOUR: the non-default --init and --network)",
				Flags: append(common(),
					&cli.StringFlag{Name: "suite", Value: templates.DefaultSuite, Usage: "release code name: bookworm, trixie, jammy, noble, ..."},
					&cli.StringFlag{Name: "mirror", Usage: "archive `URL` (default: the host's apt mirror)"},
					&cli.StringFlag{Name: "base", Usage: "start from the cached `TEMPLATE` of the same release (debian-12-x86_64) instead of debootstrap: apt adds and removes what differs"},
					&cli.StringFlag{Name: "init", Value: templates.Inits[0], Usage: "the guest's init: " + strings.Join(templates.Inits, ", ")},
					&cli.StringFlag{Name: "network", Value: templates.Networks[0], Usage: "what configures the guest's network: " +
						strings.Join(templates.Networks, ", ") + " (all but ifupdown need systemd)"},
				),
				OnUsageError: usageError,
				Action:       runBuild("debian"),
			},
		},
		Action: func(c *cli.Context) error {
			err := noArgs(c)
			if err != nil {
				return err
			}
			return cli.ShowSubcommandHelp(c)
		},
	}
}

func runBuild(recipe string) cli.ActionFunc {
	return func(c *cli.Context) error {
		err := noArgs(c)
		if err != nil {
			return err
		}
		dir, err := cacheDir(c)
		if err != nil {
			return err
		}
		path, err := templates.Build(c.Context, recipe, templates.BuildOptions{
			CacheDir: dir,
			Suite:    c.String("suite"),
			Mirror:   c.String("mirror"),
			Base:     c.String("base"),
			Init:     c.String("init"),
			Network:  c.String("network"),
			Compress: c.String("compress"),
			Out:      os.Stderr,
			Force:    c.Bool("force"),
			Verbose:  c.Bool("verbose"),
		})
		if err != nil {
			return err
		}
		fmt.Println(path)
		return nil
	}
}
