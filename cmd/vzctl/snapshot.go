package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"govz/ct"
	"govz/ct/snapshot"
	"govz/ct/vzerror"
)

// snapshotErr gives the snapshot failures vzctl's own codes (156 create,
// 158 delete, 159 switch, 167 list).
func snapshotErr(err error) error {
	var c interface{ ExitCode() int }
	if err != nil && errors.As(err, &c) {
		return &vzerror.ExitError{Status: c.ExitCode(), Err: err}
	}
	return err
}

func snapshotIDFlag(required bool) cli.Flag {
	return &cli.StringFlag{Name: "id", Aliases: []string{"uuid"}, Required: required, Usage: "snapshot UUID"}
}

func snapshotCmds(e *env, stdout io.Writer) []*cli.Command {
	return []*cli.Command{
		{
			Name:         "snapshot",
			Usage:        "take a snapshot of the private area and config (btrfs snapshot, image reflink, else a full copy, said so); a running container is frozen for the copy",
			ArgsUsage:    "CTID",
			OnUsageError: usageErr,
			Flags: []cli.Flag{snapshotIDFlag(false),
				&cli.StringFlag{Name: "name"}, &cli.StringFlag{Name: "description"},
				&cli.BoolFlag{Name: "skip-suspend", Usage: "do not freeze a running container (the copy is then not crash-consistent)"},
				&cli.BoolFlag{Name: "skip-config", Usage: "do not keep a copy of the config"}},
			Action: func(c *cli.Context) error {
				return snapshotErr(e.withCT(c, func(n *ct.Node, id int) error {
					r, err := snapshot.Create(n, id, snapshot.Options{UUID: c.String("id"), Name: c.String("name"),
						Desc: c.String("description"), SkipSuspend: c.Bool("skip-suspend"), SkipConfig: c.Bool("skip-config")})
					if err != nil {
						return err
					}
					how := r.Copy
					if r.Copy == "full copy" {
						how += ": layout " + r.Layout + " cannot snapshot cheaply here"
					}
					frozen := "not running: no freeze"
					switch {
					case r.Running && r.FrozenMS > 0:
						frozen = fmt.Sprintf("container frozen %.1f ms", r.FrozenMS)
					case r.Running:
						frozen = "not frozen (--skip-suspend): not crash-consistent"
					}
					e.log.Infof("Snapshot {%s} of container %d created (%s; %s)", r.UUID, id, how, frozen)
					if r.Running {
						e.log.Infof("No memory dump (checkpointing not available): switching to it restarts the container from its disk")
					}
					return nil
				}))
			},
		},
		{
			Name:         "snapshot-list",
			Usage:        "list a container's snapshots",
			ArgsUsage:    "CTID",
			OnUsageError: usageErr,
			Flags: []cli.Flag{snapshotIDFlag(false),
				&cli.BoolFlag{Name: "no-header", Aliases: []string{"H"}},
				&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "fields: uuid, parent_uuid, current, date, name, desc, copy"}},
			Action: func(c *cli.Context) error {
				return snapshotErr(e.withCT(c, func(n *ct.Node, id int) error {
					return snapshotList(c, n, id, stdout)
				}))
			},
		},
		{
			Name:         "snapshot-switch",
			Usage:        "roll a container back to a snapshot (its current state is lost); a running one is restarted from the snapshot",
			ArgsUsage:    "CTID",
			OnUsageError: usageErr,
			Flags: []cli.Flag{snapshotIDFlag(true),
				&cli.BoolFlag{Name: "skip-config", Usage: "keep the current config"}},
			Action: func(c *cli.Context) error {
				return snapshotErr(e.withCT(c, func(n *ct.Node, id int) error {
					uuid, err := snapshot.ParseUUID(c.String("id"))
					if err != nil {
						return err
					}
					res, err := snapshot.Switch(n, id, uuid, c.Bool("skip-config"))
					if err != nil {
						return err
					}
					e.log.Infof("Container %d switched to snapshot {%s} (%s)", id, uuid, res.Copy)
					if res.Restarted {
						e.log.Infof("Container %d restarted from the snapshot's disk (no memory dump)", id)
					}
					return nil
				}))
			},
		},
		{
			Name:         "snapshot-delete",
			Usage:        "delete a snapshot",
			ArgsUsage:    "CTID",
			OnUsageError: usageErr,
			Flags:        []cli.Flag{snapshotIDFlag(true)},
			Action: func(c *cli.Context) error {
				return snapshotErr(e.withCT(c, func(n *ct.Node, id int) error {
					uuid, err := snapshot.ParseUUID(c.String("id"))
					if err != nil {
						return err
					}
					if err := snapshot.Delete(n, id, uuid); err != nil {
						return err
					}
					e.log.Infof("Snapshot {%s} of container %d deleted", uuid, id)
					return nil
				}))
			},
		},
	}
}

var snapshotFields = map[string]struct {
	head string
	get  func(r snapshot.Record, cur string) string
}{
	"uuid":        {"UUID", func(r snapshot.Record, _ string) string { return "{" + r.UUID + "}" }},
	"parent_uuid": {"PARENT_UUID", func(r snapshot.Record, _ string) string { return braces(r.Parent) }},
	"current": {"C", func(r snapshot.Record, cur string) string {
		if r.UUID == cur {
			return "*"
		}
		return ""
	}},
	"date": {"DATE", func(r snapshot.Record, _ string) string { return r.Date.Local().Format("2006-01-02 15:04:05") }},
	"name": {"NAME", func(r snapshot.Record, _ string) string { return r.Name }},
	"desc": {"DESC", func(r snapshot.Record, _ string) string { return r.Desc }},
	"copy": {"COPY", func(r snapshot.Record, _ string) string { return strings.ReplaceAll(r.Copy, " ", "-") }},
}

func braces(u string) string {
	if u == "" {
		return ""
	}
	return "{" + u + "}"
}

func snapshotList(c *cli.Context, n *ct.Node, id int, stdout io.Writer) error {
	fields := []string{"parent_uuid", "current", "uuid", "date", "name"}
	if o := c.String("output"); o != "" {
		fields = nil
		for _, f := range strings.Split(o, ",") {
			if a, ok := map[string]string{"id": "uuid", "parent_id": "parent_uuid"}[f]; ok {
				f = a
			}
			if _, ok := snapshotFields[f]; !ok {
				return fmt.Errorf("unknown snapshot-list field %q: %w", f, vzerror.ErrInvalidValue)
			}
			fields = append(fields, f)
		}
	}
	var only string
	if c.String("id") != "" {
		u, err := snapshot.ParseUUID(c.String("id"))
		if err != nil {
			return err
		}
		only = u
	}
	rs, cur, err := snapshot.List(n, id)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 1, ' ', 0)
	if !c.Bool("no-header") {
		var h []string
		for _, f := range fields {
			h = append(h, snapshotFields[f].head)
		}
		fmt.Fprintln(tw, strings.Join(h, "\t"))
	}
	for _, r := range rs {
		if only != "" && r.UUID != only {
			continue
		}
		var v []string
		for _, f := range fields {
			v = append(v, snapshotFields[f].get(r, cur))
		}
		fmt.Fprintln(tw, strings.Join(v, "\t"))
	}
	return tw.Flush()
}
