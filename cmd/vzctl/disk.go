package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"govz/ct"
	"govz/ct/supervisor"
	"govz/internal/progress"
)

func createCmd(e *env) *cli.Command {
	return &cli.Command{
		Name:         "create",
		Usage:        "create a container from an OS template",
		ArgsUsage:    "CTID",
		OnUsageError: usageErr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "ostemplate", Usage: "OS template (default: def_ostemplate)"},
			&cli.StringFlag{Name: "config", Usage: "config sample (default: configfile)"},
			&cli.StringFlag{Name: "private", Usage: "private area path ($VEID expands)"},
			&cli.StringFlag{Name: "root", Usage: "mount point path ($VEID expands)"},
			&cli.StringFlag{Name: "hostname"},
			&cli.StringFlag{Name: "name"},
			&cli.StringFlag{Name: "description"},
			&cli.StringSliceFlag{Name: "ipadd", Aliases: []string{"ip"}, Usage: "address, repeatable"},
			&cli.StringFlag{Name: "layout", Usage: "storage layout: dir, btrfs, image, overlay or auto (default: ve_layout)"},
			&cli.StringFlag{Name: "diskspace", Usage: "disk space soft[:hard] limit, KB or K/M/G/T suffix (the image size for --layout image)"},
			&cli.StringFlag{Name: "diskinodes", Usage: "inode soft[:hard] limit"},
			&cli.StringFlag{Name: "local_uid", Usage: "first host UID of the container's 65536: a number, auto (a free range of local_id_pool) or 0 (identity mapping); default: vz.toml's local_uid, else auto"},
			&cli.StringFlag{Name: "local_gid", Usage: "first host GID (default: as local_uid)"},
		},
		Action: func(c *cli.Context) error {
			return e.withCT(c, func(n *ct.Node, id int) error {
				return n.Create(id, ct.CreateOptions{
					OSTemplate:  c.String("ostemplate"),
					Config:      c.String("config"),
					Private:     c.String("private"),
					Root:        c.String("root"),
					Hostname:    c.String("hostname"),
					Name:        c.String("name"),
					Description: c.String("description"),
					IPAdd:       splitIPs(c, "ipadd", e.log.Warnf),
					Layout:      c.String("layout"),
					DiskSpace:   c.String("diskspace"),
					DiskInodes:  c.String("diskinodes"),
					LocalUID:    c.String("local_uid"),
					LocalGID:    c.String("local_gid"),
					Progress:    e.progress("Unpacking the template"),
				})
			})
		},
	}
}

func destroyCmd(e *env, name string) *cli.Command {
	return &cli.Command{
		Name: name, Usage: "destroy a stopped, unmounted container", ArgsUsage: "CTID",
		OnUsageError: usageErr,
		Action: func(c *cli.Context) error {
			return e.withCT(c, func(n *ct.Node, id int) error { return n.Destroy(id) })
		},
	}
}

func mountCmd(e *env) *cli.Command {
	return &cli.Command{
		Name: "mount", Usage: "mount the container's private area at its root", ArgsUsage: "CTID",
		OnUsageError: usageErr,
		Action: func(c *cli.Context) error {
			return e.withCT(c, func(n *ct.Node, id int) error { return n.Mount(id) })
		},
	}
}

func umountCmd(e *env) *cli.Command {
	return &cli.Command{
		Name: "umount", Usage: "unmount a stopped container", ArgsUsage: "CTID",
		OnUsageError: usageErr,
		Action: func(c *cli.Context) error {
			return e.withCT(c, func(n *ct.Node, id int) error { return n.Umount(id) })
		},
	}
}

func statusCmd(e *env, out io.Writer) *cli.Command {
	return &cli.Command{
		Name: "status", Usage: "print CTID ID exist|deleted mounted|unmounted running|down", ArgsUsage: "CTID",
		OnUsageError: usageErr,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "also print the path of the container's supervisor log"},
		},
		Action: func(c *cli.Context) error {
			// status keeps stdout for its one line (vzctl forces quiet).
			e.log.Quiet = true
			return e.withCT(c, func(n *ct.Node, id int) error {
				st, err := n.Status(id)
				if err != nil {
					return err
				}
				fmt.Fprintln(out, st.String())
				if c.Bool("verbose") {
					fmt.Fprintln(out, "supervisor log: "+supervisor.LogPath(n.RunDir(id)))
				}
				return nil
			})
		},
	}
}

// progress is a bar for long work on the console, nil (none) with --quiet
// or when stdout is not a terminal.
func (e *env) progress(desc string) func(done, total int64) {
	if e.log.Quiet {
		return nil
	}
	return progress.Bytes(e.log.Out, desc)
}

// storageProgress is ct.Node.Progress: progress's bar for bytes or plain
// counts, under the same rules as progress.
func (e *env) storageProgress(desc string, bytes bool) func(done, total int64) {
	if e.log.Quiet {
		return nil
	}
	if bytes {
		return progress.Bytes(e.log.Out, desc)
	}
	return progress.Count(e.log.Out, desc)
}
