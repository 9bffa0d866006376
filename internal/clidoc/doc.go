// Package clidoc renders man pages and shell completion from the urfave/cli
// tables that define govz's commands (and conf's key table), so the
// documentation cannot drift from what the binaries accept.
//
// Each binary dispatches the hidden verbs Verb (render a page or a
// completion script) and ValuesVerb (CTIDs, names, templates, samples for
// completion) before it builds its normal command line; the renderer is
// plain roff written here, not urfave's ToMan, whose markdown converter
// (go-md2man, blackfriday) would add work for every invocation.
package clidoc

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
)

// Verb is the hidden first argument that prints generated documentation:
//
//	vzctl __doc man|bash|zsh|conf-man
const Verb = "__doc"

// Tool is one binary's documentation source: its cli table plus the prose
// sections no flag table holds (exit status, files, environment).
type Tool struct {
	App     *cli.App
	Section string // man section, "8" for the admin's commands
	Extra   []Section
}

// Section is a man page section: prose, and tagged paragraphs.
type Section struct {
	Title string
	Text  string
	Items []Item
}

// Item is one tagged paragraph (.TP): an option, a key, an exit code.
type Item struct {
	Tag  string // roff already (use Bold/Italic); escaped by the caller
	Text string // plain text, escaped when rendered
}

// Main serves the hidden Verb for t: args are what follows it. The conf
// page is offered by the tool that passes confPage (vzctl).
func Main(t Tool, args []string, confPage func(version string) string, version string, w io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: %s %s man|bash|zsh", t.App.Name, Verb)
	}
	switch args[0] {
	case "man":
		_, err := io.WriteString(w, t.Man(version))
		return err
	case "bash":
		_, err := io.WriteString(w, Bash(t.App))
		return err
	case "zsh":
		_, err := io.WriteString(w, Zsh(t.App))
		return err
	case "conf-man":
		if confPage != nil {
			_, err := io.WriteString(w, confPage(version))
			return err
		}
	}
	return fmt.Errorf("unknown document %q", args[0])
}

// Command is a visible command with its full path ("build debian").
type Command struct {
	Path []string
	Cmd  *cli.Command
}

// Commands lists app's visible commands, subcommands after their parent.
func Commands(app *cli.App) []Command {
	var out []Command
	var walk func(prefix []string, cmds []*cli.Command)
	walk = func(prefix []string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			p := append(append([]string(nil), prefix...), c.Name)
			out = append(out, Command{Path: p, Cmd: c})
			walk(p, c.Subcommands)
		}
	}
	walk(nil, app.Commands)
	return out
}

// Option is one visible flag as the documentation names it.
type Option struct {
	Names []string // "--name" or "-n" forms, primary first
	Value string   // placeholder when it takes a value, else ""
	Usage string
}

// Options lists the visible flags, each with its dashes: vzctl's options
// are long ("--save") whatever their length, one-letter aliases short.
func Options(flags []cli.Flag) []Option {
	var out []Option
	for _, f := range flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		o := Option{}
		for i, n := range f.Names() {
			if len(n) == 1 && i > 0 {
				o.Names = append(o.Names, "-"+n)
			} else {
				o.Names = append(o.Names, "--"+n)
			}
		}
		if d, ok := f.(cli.DocGenerationFlag); ok {
			name, usage := unquoteUsage(d.GetUsage())
			o.Usage = usage
			if d.TakesValue() {
				o.Value = name
				if o.Value == "" {
					o.Value = "VALUE"
				}
			}
		}
		out = append(out, o)
	}
	return out
}

// ctidArg says whether a command's first argument is a container.
func ctidArg(c *cli.Command) bool {
	return strings.HasPrefix(c.ArgsUsage, "CTID") || strings.HasPrefix(c.ArgsUsage, "[CTID")
}

// unquoteUsage splits urfave's "`PLACEHOLDER`" convention off a usage
// string, as its help output does (the function is not exported).
func unquoteUsage(usage string) (name, text string) {
	i := strings.IndexByte(usage, '`')
	if i < 0 {
		return "", usage
	}
	j := strings.IndexByte(usage[i+1:], '`')
	if j < 0 {
		return "", usage
	}
	name = usage[i+1 : i+1+j]
	return name, usage[:i] + name + usage[i+2+j:]
}

// Run is a binary's hidden doc verb, argv[1:] = [verb, ...]: the values
// completion asks for (ValuesVerb KIND), or Main's pages and scripts. It
// returns the exit status; only main exits.
func Run(t Tool, args []string, stdout, stderr io.Writer) int {
	var err error
	if args[0] == ValuesVerb && len(args) == 2 {
		err = Values(args[1], stdout)
	} else {
		err = Main(t, args[1:], nil, "", stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
