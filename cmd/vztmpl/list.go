package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"govz/templates"
)

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the templates in the cache",
		Flags: []cli.Flag{
			cacheFlag(),
			&cli.BoolFlag{Name: "no-header", Aliases: []string{"H"}, Usage: "omit the header line"},
			&cli.BoolFlag{Name: "json", Aliases: []string{"j"}, Usage: "print JSON"},
		},
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			err := noArgs(c)
			if err != nil {
				return err
			}
			dir, err := cacheDir(c)
			if err != nil {
				return err
			}
			list, err := templates.Cache{Dir: dir}.List()
			if err != nil {
				return err
			}
			type entry struct {
				templates.Template
				templates.Contents
			}
			entries := []entry{}
			for _, t := range list {
				ct, err := templates.Cache{Dir: dir}.Contents(c.Context, t)
				if err != nil {
					fmt.Fprintf(os.Stderr, "vztmpl: warning: %v\n", err)
				}
				entries = append(entries, entry{t, ct})
			}
			if c.Bool("json") {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(entries)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
			if !c.Bool("no-header") {
				fmt.Fprintln(w, "NAME\tSIZE\tDATE\tOS\tINIT\tNETWORK")
			}
			dash := func(s string) string {
				if s == "" {
					return "-"
				}
				return s
			}
			for _, e := range entries {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, size(e.Size), e.ModTime.Format("2006-01-02 15:04"),
					dash(strings.ReplaceAll(e.OS, " ", "-")), dash(e.Init), dash(strings.Join(e.Network, ",")))
			}
			return w.Flush()
		},
	}
}

// size prints n like ls -sh: 1.0M, 118M.
func size(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d", n)
	}
	v := float64(n) / 1024
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v < 10 {
		return fmt.Sprintf("%.1f%c", v, units[i])
	}
	return fmt.Sprintf("%.0f%c", v, units[i])
}
