// Command vztmpl manages the OS template cache: it lists the cached templates
// and builds new ones from the recipes embedded in the binary.
//
//	vztmpl list [-H] [-j]
//	vztmpl build busybox [--compress gz|xz|zst] [--force]
//	vztmpl build debian [--suite S] [--mirror URL] [--init I] [--network N] [--base TEMPLATE] [--compress gz|xz|zst] [--force]
//
// The cache is the cache/ directory of the template area in the global
// config ($VZ_ROOT/template/cache by default, VZ_ROOT defaulting to /vz)
// unless --cache names another directory.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"govz/conf"
	"govz/ct/vzerror"
	"govz/internal/clidoc"

	"govz/internal/exitcode"
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
	// A signal cancels the context; Build then kills the recipe and removes
	// its work files before main exits.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	err := newApp().RunContext(ctx, os.Args)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vztmpl: %v\n", err)
		os.Exit(exitcode.Of(err))
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:        "vztmpl",
		Usage:       "list and build OS templates",
		Description: description,
		Flags:       []cli.Flag{cacheFlag()},
		Commands: []*cli.Command{
			listCommand(),
			buildCommand(),
		},
		HideHelpCommand: true,
		OnUsageError:    usageError,
		// Errors are printed once, by main, with vzctl's exit codes.
		ExitErrHandler: func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return fmt.Errorf("unknown command %q: %w", c.Args().First(), vzerror.ErrSyntax)
			}
			return cli.ShowAppHelp(c)
		},
	}
}

func cacheFlag() cli.Flag {
	return &cli.StringFlag{
		Name:  "cache",
		Usage: "template cache `DIR` (default $VZ_ROOT/template/cache)",
	}
}

// cacheDir is --cache, else the cache/ directory of the global config's
// template area ($VZ_ROOT/template/cache by default; vzctl's TEMPLATE).
func cacheDir(c *cli.Context) (string, error) {
	dir := c.String("cache")
	if dir != "" {
		return dir, nil
	}
	p := conf.PathsFromEnv()
	g, err := conf.LoadGlobal(p)
	if err != nil {
		return "", err
	}
	return filepath.Join(p.Expand(conf.Str(g.Template), -1), "cache"), nil
}

func usageError(_ *cli.Context, err error, _ bool) error {
	return fmt.Errorf("%w: %w", err, vzerror.ErrSyntax)
}

// noArgs rejects stray arguments.
func noArgs(c *cli.Context) error {
	if c.Args().Present() {
		return fmt.Errorf("unexpected argument %q: %w", c.Args().First(), vzerror.ErrSyntax)
	}
	return nil
}
