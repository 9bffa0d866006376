// Command vzlist lists govz containers with OpenVZ vzlist's options,
// fields and output formats.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"govz/ct/inventory"
	"govz/ct/listing"
	"govz/ct/vzerror"
	"govz/ct/vzlog"
	"govz/internal/clidoc"
	"govz/internal/reexec"
)

func main() {
	// No hidden verb runs here (internal/reexec): refused, not parsed.
	if code, ok := reexec.Dispatch(os.Args, nil); ok {
		os.Exit(code)
	}
	if len(os.Args) > 1 && (os.Args[1] == clidoc.Verb || os.Args[1] == clidoc.ValuesVerb) {
		os.Exit(docMain(os.Args[1:]))
	}
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(argv []string, stdout, stderr io.Writer) int {
	err := newApp(stdout, stderr).Run(argv)
	if err == nil {
		return 0
	}
	if !errors.Is(err, errNotFound) {
		m := err.Error()
		fmt.Fprintln(stderr, strings.ToUpper(m[:1])+m[1:])
	}
	// vzctl's vzlist knows one failure code: every error exits 1, not
	// vzctl's numbered codes.
	return 1
}

func newApp(stdout, stderr io.Writer) *cli.App {
	log := &vzlog.Logger{Prog: "vzlist", Out: stderr, Err: stderr}
	return &cli.App{
		Name:                   "vzlist",
		Usage:                  "list containers",
		Description:            description,
		UsageText:              "vzlist [-a|-S] [-n] [-H] [-t] [-j] [-o field[,field...]|-1] [-s [-]field] [-h pattern] [-N pattern] [-d pattern] [CTID ...]\n   vzlist -L",
		HideHelpCommand:        true,
		HideHelp:               true,
		UseShortOptionHandling: true,
		Writer:                 stdout,
		ErrWriter:              stderr,
		ExitErrHandler:         func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%w: %w", err, vzerror.ErrSyntax)
		},
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "all containers"},
			&cli.BoolFlag{Name: "stopped", Aliases: []string{"S"}, Usage: "only containers not running"},
			&cli.BoolFlag{Name: "name", Aliases: []string{"n"}, Usage: "show names instead of CTIDs"},
			&cli.BoolFlag{Name: "no-header", Aliases: []string{"H"}, Usage: "no header line"},
			&cli.BoolFlag{Name: "no-trim", Aliases: []string{"t"}, Usage: "do not trim long values"},
			&cli.BoolFlag{Name: "json", Aliases: []string{"j"}, Usage: "JSON output"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "fields to show"},
			&cli.BoolFlag{Name: "1", Usage: "CTIDs only, one per line (-H -octid)"},
			&cli.StringFlag{Name: "sort", Aliases: []string{"s"}, Usage: "sort by field, -field reverses"},
			&cli.StringFlag{Name: "hostname", Aliases: []string{"h"}, Usage: "filter by hostname glob"},
			&cli.StringFlag{Name: "name_filter", Aliases: []string{"N"}, Usage: "filter by name glob"},
			&cli.StringFlag{Name: "description", Aliases: []string{"d"}, Usage: "filter by description glob"},
			&cli.BoolFlag{Name: "list", Aliases: []string{"L"}, Usage: "list field names"},
			&cli.BoolFlag{Name: "help", Usage: "show usage"},
		},
		Action: func(c *cli.Context) error {
			if c.Bool("help") {
				return cli.ShowAppHelp(c)
			}
			if c.Bool("list") {
				for _, f := range listing.Names() {
					fmt.Fprintf(stdout, "%-15s %-15s\n", f.Name, f.Header)
				}
				return nil
			}
			n, err := inventory.Open(log)
			if err != nil {
				return err
			}
			var ids []int
			for _, a := range c.Args().Slice() {
				id, err := n.Resolve(a)
				if err != nil {
					// vzlist's own words for a bad CTID or unknown name.
					return fmt.Errorf("CT ID %s is invalid.: %w", a, err)
				}
				ids = append(ids, id)
			}
			o := listing.Options{
				Fields: c.String("output"), NoHeader: c.Bool("no-header"), NoTrim: c.Bool("no-trim"),
				JSON: c.Bool("json"), Sort: c.String("sort"), Hostname: c.String("hostname"),
				Name: c.String("name_filter"), Desc: c.String("description"), Stopped: c.Bool("stopped"),
			}
			if c.Bool("1") {
				o.Fields, o.NoHeader = "ctid", true
			}
			if o.Fields == "" && c.Bool("name") {
				o.Fields = listing.DefaultNameFields
			}
			// The candidates are what vzlist collects before it filters:
			// the running containers, every one with -a or -S, the named
			// ones. -S, -h, -N and -d filter while printing, so they may
			// leave a header alone (or an empty JSON list).
			infos, err := listing.List(n, listing.Filter{All: c.Bool("all") || c.Bool("stopped"), IDs: ids, Fields: o.FieldNames()})
			if err != nil {
				return err
			}
			out, err := listing.Format(infos, o)
			if err != nil {
				return err
			}
			if len(infos) == 0 {
				// vzlist prints nothing on stdout, JSON or not; only named
				// containers make it an error (vzctl bug #2149).
				fmt.Fprintln(stderr, "Container(s) not found")
				if len(ids) > 0 {
					return errNotFound
				}
				return nil
			}
			_, err = io.WriteString(stdout, out)
			return err
		},
	}
}

// errNotFound is named containers that do not exist; the message is
// already printed.
var errNotFound = errors.New("container(s) not found")
