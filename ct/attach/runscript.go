package attach

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"govz/ct/nsenter"
	"govz/ct/vzerror"
)

// Runscript runs the host file script inside the running container with
// args as its positional parameters and returns its exit status, like
// Exec. The script is fed to the container's shell on stdin ("sh -s"), from
// a sealed memfd, so nothing is written into the container's root; the
// script's own stdin is therefore the script, as in vzctl. opt.Stdin and
// opt.Mode are unused. A missing script is vzerror.ErrNoScript.
func Runscript(runDir, script string, args []string, opt Options) (int, error) {
	body, err := os.ReadFile(script)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("script %s: %w", script, vzerror.ErrNoScript)
	}
	if err != nil {
		return 0, fmt.Errorf("reading script: %w: %w", err, vzerror.ErrSystem)
	}
	t, err := openTarget(runDir, opt)
	if err != nil {
		return 0, err
	}
	defer t.Close()
	in, err := nsenter.SealedFile("govz-runscript", body)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	stdio, err := newStdio(in, opt.Stdout, opt.Stderr)
	if err != nil {
		return 0, err
	}
	defer stdio.Close()
	env, err := commandEnv(opt.Env, stdio.tty, nil)
	if err != nil {
		return 0, err
	}
	shell := pickShell(t.root)
	argv := append([]string{baseName(shell), "-s", "--"}, args...)
	p, err := t.start(launch{path: shell, argv: argv, env: env, stdin: in, stdout: stdio.child[1], stderr: stdio.child[2]})
	if err != nil {
		return 0, err
	}
	stdio.started()
	status, err := p.wait()
	stdio.finish()
	return status, err
}
