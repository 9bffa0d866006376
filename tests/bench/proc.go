package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cmd is a prepared command whose output goes to an anonymous in-memory
// file rather than a pipe: daemonising tools (lxc-start -d, runc run -d)
// hand their stdout to the daemon, and exec.Cmd.Wait on a pipe would block
// until the daemon exits. Preparing it (the memfd) happens before the clock
// starts.
type cmd struct {
	c   *exec.Cmd
	out *os.File
	ns  *nsThread // start from this thread (crun), or nil
}

func (b *bench) prepare(ctx context.Context, env []string, name string, args ...string) (*cmd, error) {
	fd, err := unix.MemfdCreate("bench-out", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "bench-out")
	c := exec.CommandContext(ctx, name, args...)
	c.Stdout, c.Stderr = f, f
	c.Env = append(os.Environ(), env...)
	c.WaitDelay = 5 * time.Second
	r := &cmd{c: c, out: f}
	if name == "crun" {
		if r.ns, err = b.crunThread(); err != nil {
			f.Close()
			return nil, err
		}
	}
	return r, nil
}

// start starts the command, from the crun thread when it has one.
func (c *cmd) start() error {
	if c.ns == nil {
		return c.c.Start()
	}
	var err error
	c.ns.do(func() { err = c.c.Start() })
	return err
}

// output returns what the command wrote and releases the file.
func (c *cmd) output() string {
	defer c.out.Close()
	c.out.Seek(0, io.SeekStart)
	b, _ := io.ReadAll(io.LimitReader(c.out, 1<<20))
	return string(b)
}

// runTimed runs c and returns the time from start to exit. A failure's
// error carries the command line and the tail of its output.
func (c *cmd) runTimed() (time.Duration, string, error) {
	t0 := time.Now()
	err := c.start()
	if err == nil {
		err = c.c.Wait()
	}
	d := time.Since(t0)
	out := c.output()
	if err != nil {
		return d, out, fmt.Errorf("%s: %w: %s", strings.Join(c.c.Args, " "), err, tail(out))
	}
	return d, out, nil
}

// timed runs a command (bound to the bench's context) and times it.
func (b *bench) timed(name string, args ...string) (time.Duration, string, error) {
	c, err := b.prepare(b.ctx, nil, name, args...)
	if err != nil {
		return 0, "", err
	}
	return c.runTimed()
}

// run runs a command and returns its output.
func (b *bench) run(name string, args ...string) (string, error) {
	_, out, err := b.timed(name, args...)
	return out, err
}

// vzctl runs bin/vzctl against the bench's VZ_ROOT, timed.
func (b *bench) vzctl(args ...string) (time.Duration, string, error) {
	return b.vzctlWith(b.vzctlBin, args...)
}

// vzctlWith runs the vzctl binary bin (ours or -before's), timed.
func (b *bench) vzctlWith(bin string, args ...string) (time.Duration, string, error) {
	c, err := b.prepare(b.ctx, []string{"VZ_ROOT=" + b.vzRoot}, bin, args...)
	if err != nil {
		return 0, "", err
	}
	return c.runTimed()
}

// cleanupRun runs a cleanup command: not bound to the (maybe cancelled)
// bench context, but to a timeout of its own.
func (b *bench) cleanupRun(env []string, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := b.prepare(ctx, env, name, args...)
	if err != nil {
		return err
	}
	_, _, err = c.runTimed()
	return err
}

// tail is the last line(s) of a command's output, for error messages.
func tail(out string) string {
	out = strings.TrimSpace(out)
	lines := strings.Split(out, "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	s := strings.Join(lines, " | ")
	if len(s) > 300 {
		s = s[len(s)-300:]
	}
	return s
}

// pollEvery is how often the bench looks for a readiness marker: 0.2 ms,
// as the baseline's waitfile helper does.
const pollEvery = 200 * time.Microsecond

// waitFile polls until path exists.
func (b *bench) waitFile(path string, timeout time.Duration) error {
	return b.waitFor(timeout, "file "+path, func() bool {
		return unix.Access(path, unix.F_OK) == nil
	})
}

// waitFor polls cond every pollEvery until it holds, the timeout passes or
// the bench is interrupted.
func (b *bench) waitFor(timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if err := b.ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(pollEvery)
	}
	return nil
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

// children lists the direct children of pid.
func children(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// killWait SIGKILLs a process we started and reaps it.
func killWait(p *os.Process) {
	if p == nil {
		return
	}
	p.Signal(unix.SIGKILL)
	p.Wait()
}

// errFirstLine shortens an error for a table footnote.
func errFirstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// readSmall reads a small (proc) file as a string.
func readSmall(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

// halted tells a clean halt from a failure in the exit of `unshare --fork`:
// reboot(2) with RB_HALT_SYSTEM in a PID namespace kills its init with
// SIGINT (pid_namespaces(7)), and unshare re-raises the child's signal.
func halted(err error) bool {
	var ee *exec.ExitError
	if err == nil {
		return true
	}
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGINT {
			return true
		}
	}
	return false
}
