// Command vzctl manages govz containers with OpenVZ vzctl's grammar:
//
//	vzctl [--quiet|--verbose] COMMAND CTID|NAME [options]
//
// Each command parses its flags, calls one library function and prints;
// errors become one line on stderr and vzctl's numbered exit code.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"govz/ct"
	"govz/ct/lxcfs"
	"govz/ct/nsinit"
	"govz/ct/vzerror"
	"govz/ct/vzlog"
	"govz/internal/clidoc"

	"govz/internal/exitcode"
	"govz/internal/reexec"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// env is one invocation: the logger and, once a command needs it, the node.
type env struct {
	log      *vzlog.Logger
	skipLock bool
}

func (e *env) node() (*ct.Node, error) {
	n, err := ct.OpenNode(e.log)
	if err != nil {
		return nil, err
	}
	n.SkipLock = e.skipLock
	n.Progress = e.storageProgress
	e.log.ConsoleLevel += ct.Verbosity(n)
	e.log.OpenFile(ct.LogFile(n), ct.LogLevel(n))
	return n, nil
}

// withCT resolves the one CTID argument and runs f with the node.
func (e *env) withCT(c *cli.Context, f func(n *ct.Node, id int) error) error {
	if c.NArg() < 1 {
		return fmt.Errorf("container id is not given: %w", vzerror.ErrInvalidValue)
	}
	if c.NArg() > 1 {
		return fmt.Errorf("unexpected argument %q: %w", c.Args().Get(1), vzerror.ErrSyntax)
	}
	return e.withID(c.Args().First(), f)
}

// withID resolves a CTID or name and runs f with the node.
func (e *env) withID(arg string, f func(n *ct.Node, id int) error) error {
	n, err := e.node()
	if err != nil {
		return err
	}
	id, err := n.Resolve(arg)
	if err != nil {
		return err
	}
	e.log.CT = id
	return f(n, id)
}

func main() {
	// vzctl is the executable every re-exec runs: its hidden verbs first
	// (internal/reexec; nsenter's are C constructors, before main).
	if code, ok := reexec.Dispatch(os.Args, reexecHandlers()); ok {
		os.Exit(code)
	}
	if len(os.Args) > 1 && (os.Args[1] == clidoc.Verb || os.Args[1] == clidoc.ValuesVerb) {
		os.Exit(docMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// reexecHandlers are the Go hidden verbs vzctl runs.
func reexecHandlers() reexec.Handlers {
	return reexec.Handlers{
		reexec.Supervisor: ct.SupervisorMain,
		reexec.NSInit:     func([]string) int { nsinit.Main(); return 1 }, // never returns
		reexec.LXCFS:      lxcfs.Main,
	}
}

func run(argv []string, stdout, stderr io.Writer) int {
	log := &vzlog.Logger{Prog: "vzctl", Out: stdout, Err: stderr}
	defer log.Close()
	args := argv[1:]
	// Global flags precede the command, as in vzctl.
	skipLock := false
	for len(args) > 0 {
		switch args[0] {
		case "--quiet":
			log.Quiet = true
		case "--verbose":
			log.ConsoleLevel++
		case "--skiplock":
			skipLock = true
		case "--version":
			fmt.Fprintln(stdout, "vzctl version "+version)
			return 0
		default:
			goto done
		}
		args = args[1:]
	}
done:
	e := &env{log: log, skipLock: skipLock}
	app := newApp(e, stdout, stderr)
	err := app.Run(append([]string{"vzctl"}, reorder(args)...))
	// exec2/exec3 pass the command's status on silently, as vzctl does.
	if exit := (*vzerror.ExitError)(nil); err != nil && !(errors.As(err, &exit) && exit.Quiet) {
		fmt.Fprintln(stderr, errorLine(err))
	}
	return exitcode.Of(err)
}

// errorLine makes the one line an error prints: the message, capitalised
// once here (library errors are lower-case), without newlines.
func errorLine(err error) string {
	m := strings.ReplaceAll(err.Error(), "\n", " ")
	if m != "" && m[0] >= 'a' && m[0] <= 'z' {
		m = string(m[0]-'a'+'A') + m[1:]
	}
	return m
}

// verbatim commands take everything after the CTID as their own arguments
// (the command to run, console's tty number).
var verbatim = map[string]bool{"exec": true, "exec2": true, "exec3": true, "runscript": true, "enter": true, "console": true}

// reorder moves the CTID behind the options: vzctl writes "set 101 --save",
// while the flag parser stops at the first positional argument.
func reorder(args []string) []string {
	if len(args) < 2 || verbatim[args[0]] || isFlag(args[1]) {
		return args
	}
	// backup, restore-backup, register, import and export take two
	// positional arguments: every one before the first option moves.
	k := 2
	for k < len(args) && !isFlag(args[k]) {
		k++
	}
	out := []string{args[0]}
	out = append(out, args[k:]...)
	return append(append(out, "--"), args[1:k]...)
}

// isFlag tells options from a CTID: "-1" is a (bad) CTID, "--fast" is not.
func isFlag(a string) bool {
	return strings.HasPrefix(a, "--") || len(a) > 1 && a[0] == '-' && (a[1] < '0' || a[1] > '9')
}

func newApp(e *env, stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:            "vzctl",
		Usage:           "manage OpenVZ-style system containers",
		UsageText:       "vzctl [--quiet|--verbose] COMMAND CTID|NAME [options]",
		Description:     description,
		Flags:           globalFlags(),
		Version:         version,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideVersion:     true,
		ExitErrHandler:  func(*cli.Context, error) {},
		CommandNotFound: func(c *cli.Context, cmd string) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%w: %w", err, vzerror.ErrSyntax)
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				cli.ShowAppHelp(c)
				return fmt.Errorf("no command given: %w", vzerror.ErrSyntax)
			}
			return fmt.Errorf("bad command: %s: %w", c.Args().First(), vzerror.ErrSyntax)
		},
		Commands: append([]*cli.Command{
			createCmd(e), destroyCmd(e, "destroy"), destroyCmd(e, "delete"),
			mountCmd(e), umountCmd(e), statusCmd(e, stdout), setCmd(e),
			startCmd(e), stopCmd(e), restartCmd(e),
			execCmd(e, "exec", ct.ExecShell, "run a command through the container's shell (exit 8 on failure)"),
			execCmd(e, "exec2", ct.ExecShell2, "run a command through the container's shell, returning its status"),
			execCmd(e, "exec3", ct.ExecDirect, "run a command without a shell, returning its status"),
			enterCmd(e), consoleCmd(e), runscriptCmd(e), ubcCmd(e, stdout),
			bootNodeCmd(e), shutdownNodeCmd(e),
			registerCmd(e), importCmd(e, stdout), exportCmd(e),
			backupCmd(e, stdout), restoreBackupCmd(e, stdout), receiveCmd(e, stdout),
			chkpntCmd(e, "chkpnt"), chkpntCmd(e, "suspend"), restoreCmd(e, "restore"), restoreCmd(e, "resume"),
		}, snapshotCmds(e, stdout)...),
	}
}

// usageErr makes urfave's flag errors exit 20 like vzctl's.
func usageErr(c *cli.Context, err error, _ bool) error {
	return fmt.Errorf("%w: %w", err, vzerror.ErrSyntax)
}
