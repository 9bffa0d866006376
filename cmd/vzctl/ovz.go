package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"govz/ct"
	"govz/ct/ovzimport"
	"govz/ct/vzerror"
)

// OpenVZ import and export (docs/OPENVZ-IMPORT.md). register is vzctl's
// (Virtuozzo 7) command for a private area that exists; import is its
// bulk form for a whole OpenVZ node, a vzctl command too so that one
// tool covers the node's containers; export is the way back.

func registerCmd(e *env) *cli.Command {
	return &cli.Command{
		Name: "register", Usage: "make a container of an existing OpenVZ private area, used where it is", ArgsUsage: "PATH CTID",
		OnUsageError: usageErr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "conf", Usage: "the container's vzctl CTID.conf (default: PATH/ve.conf when it exists)"},
			&cli.BoolFlag{Name: "force", Usage: "register even when the config's VEID names another container"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return fmt.Errorf("usage: vzctl register PATH CTID [--force]: %w", vzerror.ErrNotEnoughParams)
			}
			n, err := e.node()
			if err != nil {
				return err
			}
			id, numeric, err := ct.ParseID(c.Args().Get(1))
			if !numeric || err != nil {
				return fmt.Errorf("bad container id %q: %w", c.Args().Get(1), vzerror.ErrInvalidValue)
			}
			e.log.CT = id
			return ovzimport.Register(n, c.Args().Get(0), id, c.String("conf"), c.Bool("force"))
		},
	}
}

func importCmd(e *env, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name: "import", Usage: "take over the containers of an OpenVZ node (configs, simfs and ploop private areas)", ArgsUsage: "[CTID...]",
		OnUsageError: usageErr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "the OpenVZ node's root (a mounted disk, a copy, or /)", Required: true},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the plan, change nothing"},
			&cli.BoolFlag{Name: "copy", Usage: "copy simfs private areas, leaving the old ones as they are"},
			&cli.BoolFlag{Name: "move", Usage: "rename simfs private areas into place where on the same file system (the default)"},
		},
		Action: func(c *cli.Context) error {
			if c.Bool("copy") && c.Bool("move") {
				return fmt.Errorf("--copy and --move exclude each other: %w", vzerror.ErrSyntax)
			}
			var ids []int
			for _, a := range c.Args().Slice() {
				id, numeric, err := ct.ParseID(a)
				if !numeric || err != nil {
					return fmt.Errorf("bad container id %q: %w", a, vzerror.ErrInvalidValue)
				}
				ids = append(ids, id)
			}
			n, err := e.node()
			if err != nil {
				return err
			}
			o := ovzimport.Options{From: c.String("from"), IDs: ids}
			if c.Bool("copy") {
				o.Mode = ovzimport.Copy
			}
			p, err := ovzimport.MakePlan(n, o)
			if err != nil {
				return err
			}
			p.Print(stdout)
			if c.Bool("dry-run") {
				return nil
			}
			return ovzimport.Execute(n, p)
		},
	}
}

func exportCmd(e *env) *cli.Command {
	return &cli.Command{
		Name: "export", Usage: "write a stopped container as OpenVZ files (CTID.conf and a simfs private area) under DIR", ArgsUsage: "CTID DIR",
		OnUsageError: usageErr,
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return fmt.Errorf("usage: vzctl export CTID DIR: %w", vzerror.ErrNotEnoughParams)
			}
			return e.withID(c.Args().Get(0), func(n *ct.Node, id int) error {
				return ovzimport.Export(n, id, c.Args().Get(1))
			})
		},
	}
}
