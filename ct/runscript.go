package ct

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"

	"govz/ct/attach"
	"govz/ct/inventory"
	"govz/ct/nsenter"
	"govz/ct/supervisor"
	"govz/ct/vzerror"
)

// Runscript runs a host-side script inside container id: in the running
// container (attach.Runscript), or, as vzctl does for a stopped one, with
// the container mounted for the time of the script (mounted by this
// command, action scripts included, and unmounted after) and the script
// fed to /bin/sh as the only process of a one-shot boot
// (supervisor.RunOnce): the container's user namespace, pivoted root,
// capability set, seccomp filter and limits, no network and no init.
func (n *Node) Runscript(id int, script string, args []string) error {
	if _, err := n.LoadCT(id); err != nil {
		return err
	}
	if n.Running(id) {
		return n.runscriptRunning(id, script, args)
	}
	body, err := os.ReadFile(script)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("script %s: %w", script, vzerror.ErrNoScript)
	}
	if err != nil {
		return fmt.Errorf("reading script: %w: %w", err, vzerror.ErrSystem)
	}
	l, err := n.lockOrSkip(id, "runscript")
	if err != nil {
		return err
	}
	defer l.Release()
	c, err := n.Load(id)
	if err != nil {
		return err
	}
	if n.busy(id, c.Config) {
		// Started between the check above and the lock.
		return n.runscriptRunning(id, script, args)
	}
	mounted, err := inventory.IsMountPoint(c.Root)
	if err != nil {
		return fmt.Errorf("reading mount table: %w: %w", err, vzerror.ErrSystem)
	}
	if !mounted {
		if err := n.mountCT(c); err != nil {
			return err
		}
		defer func() {
			if err := n.umountCT(c); err != nil {
				n.Log.Warnf("unmounting after the script: %v", err)
			}
		}()
	}
	spec, err := n.bootOf(c)
	if err != nil {
		return err
	}
	// Limits only: the network, readiness and "was running" steps belong
	// to a boot.
	spec.Prestart, spec.Poststop = keepSteps(spec.Prestart, stepResources), nil
	if err := spec.BindHooks(executors()); err != nil {
		return err
	}
	in, err := nsenter.SealedFile("govz-runscript", body)
	if err != nil {
		return err
	}
	defer in.Close()
	status, err := runPiped(func(stdout, stderr *os.File) (int, error) {
		return supervisor.RunOnce(spec, append([]string{"/bin/sh", "-s", "--"}, args...), [3]*os.File{in, stdout, stderr})
	})
	if err != nil {
		return err
	}
	return attach.StatusError(status)
}

func (n *Node) runscriptRunning(id int, script string, args []string) error {
	st, err := attach.Runscript(n.RunDir(id), script, args, attach.Options{Debug: n.debugf})
	if err != nil {
		return err
	}
	return attach.StatusError(st)
}

// runPiped runs f with pipes for stdout and stderr, copied to this
// command's: the script never holds a host file of ours.
func runPiped(f func(stdout, stderr *os.File) (int, error)) (int, error) {
	var wg sync.WaitGroup
	var ws [2]*os.File
	for i, dst := range []io.Writer{os.Stdout, os.Stderr} {
		r, w, err := os.Pipe()
		if err != nil {
			for _, w := range ws[:i] {
				w.Close()
			}
			return 0, fmt.Errorf("pipe: %w: %w", err, vzerror.ErrSystem)
		}
		ws[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(dst, r)
			r.Close()
		}()
	}
	status, err := f(ws[0], ws[1])
	ws[0].Close()
	ws[1].Close()
	wg.Wait()
	return status, err
}
