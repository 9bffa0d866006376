package main

import (
	"io"
	"strconv"
	"strings"
	"testing"

	"govz/conf"
	"govz/ct/vzlog"
	"govz/internal/clidoc"
	"govz/internal/exitcode"
)

// The man page and both completion scripts name every command and option
// of the table, and nothing else; vz.toml(5) every config key; the EXIT
// STATUS section every code of the exit-code table.
func TestDocsCoverTables(t *testing.T) {
	e := &env{log: &vzlog.Logger{Prog: "vzctl", Out: io.Discard, Err: io.Discard}}
	app := newApp(e, io.Discard, io.Discard)
	tool := docTool(app)
	man := tool.Man("test")
	for _, p := range clidoc.Check(app, man, clidoc.Bash(app), clidoc.Zsh(app)) {
		t.Error(p)
	}
	var codes []string
	for _, c := range exitcode.Classes() {
		codes = append(codes, strconv.Itoa(c.Code))
	}
	for _, p := range clidoc.CheckExit(man, codes) {
		t.Error(p)
	}
	var keys []string
	for _, k := range conf.Keys {
		keys = append(keys, k.Name)
	}
	for _, p := range clidoc.CheckConf(clidoc.ConfMan("test"), keys) {
		t.Error(p)
	}
}

// run's own parsing of the options before the command accepts every global
// option of the table, and only those.
func TestGlobalFlagsParsed(t *testing.T) {
	var args []string
	for _, f := range globalFlags() {
		args = append(args, "--"+f.Names()[0])
	}
	var out strings.Builder
	// --version ends the parsing with status 0 once every other one passed.
	if code := run(append([]string{"vzctl"}, args...), &out, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "vzctl version") {
		t.Fatalf("vzctl %v: status %d, output %q", args, code, out.String())
	}
	if code := run([]string{"vzctl", "--no-such-global", "status", "101"}, io.Discard, io.Discard); code != 20 {
		t.Fatalf("an unknown global option: status %d, want 20", code)
	}
}

// vzctl help COMMAND prints the same summary line the man page has.
func TestHelpMatchesMan(t *testing.T) {
	e := &env{log: &vzlog.Logger{Prog: "vzctl", Out: io.Discard, Err: io.Discard}}
	man := docTool(newApp(e, io.Discard, io.Discard)).Man("test")
	for _, c := range clidoc.Commands(newApp(e, io.Discard, io.Discard)) {
		var out strings.Builder
		if code := run([]string{"vzctl", "help", c.Cmd.Name}, &out, io.Discard); code != 0 {
			t.Fatalf("vzctl help %s: status %d", c.Cmd.Name, code)
		}
		if !strings.Contains(out.String(), c.Cmd.Usage) {
			t.Errorf("vzctl help %s does not show %q:\n%s", c.Cmd.Name, c.Cmd.Usage, out.String())
		}
		first := strings.ToUpper(c.Cmd.Usage[:1]) + c.Cmd.Usage[1:]
		if !strings.Contains(man, clidoc.Escape(strings.TrimSuffix(first, "."))+".\n") {
			t.Errorf("man page lacks %s's summary %q", c.Cmd.Name, first)
		}
	}
}
