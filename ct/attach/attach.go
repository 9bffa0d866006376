// Package attach runs commands inside a running container: vzctl's exec,
// exec2, exec3, enter and runscript.
//
// Every call reads the run record the supervisor left in the container's
// run directory (package runstate), checks that the recorded init is still
// the same process, and re-executes the current binary with a hidden verb;
// the C constructor in package nsenter then joins the init's cgroups and
// namespaces while the process is still single-threaded, forks into the
// container's pid namespace, narrows the capability bounding set to the
// record's and execs the command. See nsenter's nsexec.c for the contract.
//
// Host safety: no host file, terminal, device or socket is handed to the
// container. exec copies through pipes every stdio file that is not an
// anonymous pipe (stdio.go); enter allocates its pty from the container's
// own devpts and keeps only the master. What joins the container runs a
// sealed copy of this binary, never the file on disk (internal/exeseal).
package attach

import (
	"fmt"
	"os"
	"strings"

	"govz/ct/vzerror"
)

// Mode says how Exec turns its argv into a command.
type Mode int

const (
	// Shell joins argv with spaces and runs it with the container's shell
	// (-c); argv ["-"] makes the shell read the commands from stdin
	// (vzctl exec, exec2).
	Shell Mode = iota
	// Direct executes argv as is, argv[0] searched in the container PATH
	// (vzctl exec3).
	Direct
)

// Options are the stdio and environment of a command run in a container.
type Options struct {
	Mode Mode
	// Stdin, Stdout, Stderr default to the process's own. An anonymous
	// pipe (or a sealed memfd) is passed as is; anything else (a file,
	// named FIFO, terminal, device, socket) is copied through a pipe.
	Stdin, Stdout, Stderr *os.File
	// Env entries (KEY=VALUE) are added to, or replace, the container
	// defaults: PATH, HOME=/root, container=govz and TERM when a terminal
	// is involved.
	Env []string
	// Debug, if set, receives details for vzctl's debug output (how
	// the executable the constructor runs was sealed).
	Debug func(format string, a ...any)

	// noPidfd makes the constructor join through /proc/PID/ns/* as it
	// does on kernels older than 5.8 (tests).
	noPidfd bool
}

// Exec runs argv in the container whose run directory is runDir and returns
// the command's exit status (128+N when signal N killed it). err is non-nil
// only when the command could not be run: the container is not running
// (vzerror.ErrNotRunning), joining it failed, or the command could not be
// executed (vzerror.ErrCommandFailed).
func Exec(runDir string, argv []string, opt Options) (int, error) {
	if len(argv) == 0 {
		return 0, fmt.Errorf("exec: no command: %w", vzerror.ErrNotEnoughParams)
	}
	t, err := openTarget(runDir, opt)
	if err != nil {
		return 0, err
	}
	defer t.Close()
	path, args := argv[0], argv
	if opt.Mode == Shell {
		path = pickShell(t.root)
		args = shellArgs(path, argv)
	}
	stdio, err := newStdio(opt.Stdin, opt.Stdout, opt.Stderr)
	if err != nil {
		return 0, err
	}
	defer stdio.Close()
	env, err := commandEnv(opt.Env, stdio.tty, nil)
	if err != nil {
		return 0, err
	}
	p, err := t.start(launch{path: path, argv: args, env: env, stdin: stdio.child[0], stdout: stdio.child[1], stderr: stdio.child[2]})
	if err != nil {
		return 0, err
	}
	stdio.started()
	status, err := p.wait()
	stdio.finish()
	return status, err
}

// shellArgs is the argv for Shell mode. Like vzctl, the words are joined
// with spaces and the shell parses the line again, so quoting that
// survived the host shell takes effect in the container.
func shellArgs(shell string, argv []string) []string {
	name := baseName(shell)
	if len(argv) == 1 && argv[0] == "-" {
		return []string{name, "-s"}
	}
	return []string{name, "-c", strings.Join(argv, " ")}
}

// CommandError maps a status to vzctl exec's convention: any non-zero
// status is "command failed" (exit code 8).
func CommandError(status int) error {
	if status == 0 {
		return nil
	}
	return fmt.Errorf("command exited with status %d: %w", status, vzerror.ErrCommandFailed)
}

// StatusError maps a status to vzctl exec2/exec3's convention: vzctl exits
// with the command's own status.
func StatusError(status int) error {
	if status == 0 {
		return nil
	}
	return &vzerror.ExitError{
		Status: status,
		Err:    fmt.Errorf("command exited with status %d: %w", status, vzerror.ErrCommandFailed),
		Quiet:  true,
	}
}

// defaultPath is the PATH commands get in the container; the guest's
// profile may change it for login shells.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// commandEnv is the environment of a command in the container: nothing of
// the host's leaks in except TERM when a terminal is involved.
func commandEnv(extra []string, tty bool, more []string) ([]string, error) {
	env := []string{"PATH=" + defaultPath, "HOME=/root", "container=govz"}
	if tty {
		term := os.Getenv("TERM")
		if term == "" {
			term = "linux"
		}
		env = append(env, "TERM="+term)
	}
	env = append(env, more...)
	for _, kv := range extra {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("environment entry %q is not KEY=VALUE: %w", kv, vzerror.ErrInvalidValue)
		}
		if strings.HasPrefix(k, envPrefix) {
			return nil, fmt.Errorf("environment variable %s is reserved: %w", k, vzerror.ErrInvalidValue)
		}
		env = setEnv(env, k, kv)
	}
	return env, nil
}

func setEnv(env []string, key, kv string) []string {
	for i, e := range env {
		if strings.HasPrefix(e, key+"=") {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

func baseName(path string) string { return path[strings.LastIndexByte(path, '/')+1:] }
