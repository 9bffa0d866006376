package clidoc

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"
)

// Check compares the documents rendered for app with app's table, reading
// them back as an admin's tools would: the option tags of the man page
// (.TP lines), its command headings (.SS), and the words the completion
// scripts offer. It returns one line per command or option one of them
// misses, or shows without the table having it; none is a pass. The table
// walk here is its own (raw Names, not Options) so a renderer bug shows.
func Check(app *cli.App, man, bash, zsh string) []string {
	wantCmds, wantOpts := map[string]bool{}, map[string]bool{}
	dash := func(n string, i int) string {
		if len(n) == 1 && i > 0 {
			return "-" + n
		}
		return "--" + n
	}
	addFlags := func(fs []cli.Flag) {
		for _, f := range fs {
			if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
				continue
			}
			for i, n := range f.Names() {
				wantOpts[dash(n, i)] = true
			}
		}
	}
	addFlags(app.Flags)
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			wantCmds[prefix+c.Name] = true
			addFlags(c.Flags)
			walk(prefix+c.Name+" ", c.Subcommands)
		}
	}
	walk("", app.Commands)

	var problems []string
	compare := func(doc, what string, want, got map[string]bool) {
		problems = append(problems, diff(doc, what, want, got)...)
	}
	manCmds, manOpts := manEntries(man)
	compare("man page", "command", wantCmds, manCmds)
	compare("man page", "option", wantOpts, manOpts)
	// Completion offers command names word by word: "build debian" is
	// "debian" after "build".
	wantWords := map[string]bool{}
	for c := range wantCmds {
		f := strings.Fields(c)
		wantWords[f[len(f)-1]] = true
	}
	for _, c := range app.Commands {
		for _, a := range c.Aliases {
			wantWords[a] = true
		}
	}
	for name, script := range map[string]string{"bash completion": bash, "zsh completion": zsh} {
		words, opts := completionEntries(script)
		compare(name, "command", wantWords, words)
		compare(name, "option", wantOpts, opts)
	}
	return problems
}

var (
	optTag = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\\fB((?:\\-){1,2}[^\\ ]+(?:\\-[^\\ ]+)*)\\fR`) })
	// A quoted word list: bash's compgen -W '...' and opts='...', zsh's
	// cmds=('name:desc' ...) and opts=(...).
	bashList = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?:compgen -W|opts=) ?'([^']*)'`) })
	zshCmds  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[( ]'([^':]+):`) })
	zshOpts  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`opts=\(([^)]*)\)`) })
)

func manEntries(man string) (cmds, opts map[string]bool) {
	cmds, opts = map[string]bool{}, map[string]bool{}
	lines := strings.Split(man, "\n")
	sec := ""
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, ".SH "):
			sec = strings.TrimPrefix(l, ".SH ")
		case strings.HasPrefix(l, ".SS ") && sec == "COMMANDS":
			head := strings.Trim(strings.TrimPrefix(l, ".SS "), `"`)
			for _, c := range strings.Split(unroff(head), ", ") {
				cmds[c] = true
			}
		case l == ".TP" && i+1 < len(lines) && strings.Contains(sec, "OPTIONS") || l == ".TP" && sec == "COMMANDS":
			for _, m := range optTag().FindAllStringSubmatch(lines[i+1], -1) {
				opts[unroff(m[1])] = true
			}
		}
	}
	return cmds, opts
}

func completionEntries(script string) (words, opts map[string]bool) {
	words, opts = map[string]bool{}, map[string]bool{}
	add := func(w string) {
		if strings.HasPrefix(w, "-") {
			opts[w] = true
		} else if w != "" {
			words[w] = true
		}
	}
	for _, m := range bashList().FindAllStringSubmatch(script, -1) {
		for _, w := range strings.Fields(m[1]) {
			add(w)
		}
	}
	for _, l := range strings.Split(script, "\n") {
		if strings.Contains(l, "cmds=(") {
			for _, m := range zshCmds().FindAllStringSubmatch(l, -1) {
				add(m[1])
			}
		}
		for _, m := range zshOpts().FindAllStringSubmatch(l, -1) {
			for _, w := range strings.Fields(m[1]) {
				add(w)
			}
		}
	}
	return words, opts
}

func unroff(s string) string {
	return strings.NewReplacer(`\-`, "-", `\e`, `\`, `\&`, "").Replace(s)
}

func sorted(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var boldTag = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\\fB([^\\]+(?:\\-[^\\]+)*)\\fR`) })

// tagged returns the bold tags of the .TP items in sections whose title
// contains part.
func tagged(man, part string) map[string]bool {
	out := map[string]bool{}
	lines := strings.Split(man, "\n")
	sec := ""
	for i, l := range lines {
		if strings.HasPrefix(l, ".SH ") {
			sec = l
		}
		if l == ".TP" && strings.Contains(sec, part) && i+1 < len(lines) {
			if m := boldTag().FindStringSubmatch(lines[i+1]); m != nil {
				out[unroff(m[1])] = true
			}
		}
	}
	return out
}

// CheckConf compares vz.toml(5) with conf's key table.
func CheckConf(man string, keys []string) []string {
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	return diff("vz.toml(5)", "key", want, tagged(man, "KEYS"))
}

// CheckExit compares a page's EXIT STATUS items with the exit-code table.
func CheckExit(man string, codes []string) []string {
	want := map[string]bool{}
	for _, c := range codes {
		want[c] = true
	}
	return diff("man page", "exit code", want, tagged(man, "EXIT STATUS"))
}

func diff(doc, what string, want, got map[string]bool) []string {
	var problems []string
	for _, k := range sorted(want) {
		if !got[k] {
			problems = append(problems, fmt.Sprintf("%s: %s %s missing", doc, what, k))
		}
	}
	for _, k := range sorted(got) {
		if !want[k] {
			problems = append(problems, fmt.Sprintf("%s: %s %s is not in the table", doc, what, k))
		}
	}
	return problems
}
