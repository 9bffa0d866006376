package ct

import (
	"fmt"
	"os"

	"govz/ct/attach"
	"govz/ct/supervisor"
	"govz/ct/vzerror"
)

// ExecMode selects vzctl's exec flavour.
type ExecMode int

const (
	ExecShell  ExecMode = iota // exec: shell, exit 8 on failure
	ExecShell2                 // exec2: shell, the command's own status
	ExecDirect                 // exec3: argv as is, the command's own status
)

// Exec runs argv in running container id. Commands on a running container
// take no lock (vzctl does not either): they must work while a long
// command holds it.
func (n *Node) Exec(id int, argv []string, mode ExecMode) error {
	c, err := n.Load(id)
	if err != nil {
		return err
	}
	if len(argv) == 0 {
		return fmt.Errorf("no command given: %w", vzerror.ErrNotEnoughParams)
	}
	o := attach.Options{Debug: n.debugf}
	if mode == ExecDirect {
		o.Mode = attach.Direct
	}
	st, err := attach.Exec(c.RunDir, argv, o)
	if err != nil {
		return err
	}
	if mode == ExecShell {
		return attach.CommandError(st)
	}
	return attach.StatusError(st)
}

// Enter opens a root shell in running container id on this terminal.
func (n *Node) Enter(id int, execArgs []string) error {
	c, err := n.Load(id)
	if err != nil {
		return err
	}
	n.Log.Infof("entered into CT %d", id)
	err = attach.Enter(c.RunDir, execArgs, attach.Options{Debug: n.debugf})
	if err == nil {
		n.Log.Infof("exited from CT %d", id)
	}
	return err
}

// Console attaches this terminal to container id's console.
func (n *Node) Console(id int, tty int) error {
	c, err := n.Load(id)
	if err != nil {
		return err
	}
	if tty != 0 && tty != 1 {
		return fmt.Errorf("tty %d: only the console (0 or 1) is supported: %w", tty, vzerror.ErrInvalidValue)
	}
	// Persistent, as vzctl's: a stopped container's console is waited for,
	// and a stop or reboot does not detach.
	return supervisor.ConsoleSession(c.RunDir, tty, os.Stdin, os.Stdout,
		func() bool { return n.running(id, c.Config) },
		func() { n.Log.Infof("Container %d is not running; waiting for it to start (Esc . detaches)", id) })
}

// debugf is vzctl's debug output at level 1, for packages that take a
// plain printf-style function.
func (n *Node) debugf(format string, a ...any) { n.Log.Debugf(1, format, a...) }
