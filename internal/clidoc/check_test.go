package clidoc

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func testApp() *cli.App {
	return &cli.App{
		Name:  "t",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "quiet"}},
		Commands: []*cli.Command{
			{Name: "create", Usage: "make one: now", ArgsUsage: "CTID", Flags: []cli.Flag{
				&cli.StringFlag{Name: "ostemplate", Usage: "template `NAME`"},
				&cli.BoolFlag{Name: "json", Aliases: []string{"j"}},
			}},
			{Name: "build", Subcommands: []*cli.Command{{Name: "debian", Flags: []cli.Flag{&cli.StringFlag{Name: "suite"}}}}},
			{Name: "secret", Hidden: true, Flags: []cli.Flag{&cli.BoolFlag{Name: "hidden-opt"}}},
		},
	}
}

// Check passes the documents rendered from the table, and names what a
// page or script lacks or invents: the test over the real binaries can fail.
func TestCheckFindsDrift(t *testing.T) {
	app := testApp()
	man, bash, zsh := Tool{App: app, Section: "8"}.Man("v"), Bash(app), Zsh(app)
	if p := Check(app, man, bash, zsh); len(p) != 0 {
		t.Fatalf("rendered documents: %v", p)
	}
	for _, w := range []string{"hidden-opt", "secret"} {
		if strings.Contains(man+bash+zsh, w) {
			t.Errorf("hidden %s documented", w)
		}
	}
	bad := strings.Replace(man, `\fB\-\-ostemplate\fR`, `\fB\-\-ostemplat\fR`, 1)
	bad = strings.Replace(bad, `.SS "build debian"`, `.SS "build"`, 1)
	p := strings.Join(Check(app, bad, bash, zsh), "\n")
	for _, want := range []string{"option --ostemplate missing", "option --ostemplat is not in the table", "command build debian missing"} {
		if !strings.Contains(p, want) {
			t.Errorf("drifted man page: %q not reported in\n%s", want, p)
		}
	}
	badBash := strings.Replace(bash, "opts='--suite'", "opts=''", 1)
	badZsh := strings.Replace(zsh, "'create:", "'crate:", 1)
	p = strings.Join(Check(app, man, badBash, badZsh), "\n")
	for _, want := range []string{"bash completion: option --suite missing", "zsh completion: command crate is not in the table"} {
		if !strings.Contains(p, want) {
			t.Errorf("drifted completion: %q not reported in\n%s", want, p)
		}
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		`.hidden`:    `\&.hidden`,
		`a\b`:        `a\eb`,
		"--x\n'y":    "\\-\\-x\n\\&'y",
		"plain text": "plain text",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}
