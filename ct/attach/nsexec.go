package attach

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"govz/ct/nsenter"
	"govz/ct/vzerror"
	"govz/internal/exeseal"
)

const envPrefix = nsenter.EnvPrefix

// launch is one command for the constructor to run in the container.
type launch struct {
	path   string   // executable, searched in the container PATH without '/'
	argv   []string // argv[0] included
	env    []string
	stdin  *os.File // nil: /dev/null
	stdout *os.File
	stderr *os.File
	pty    *os.File // enter mode: the constructor's end of the pty socketpair
}

// process is a started constructor.
type process struct {
	cmd  *exec.Cmd
	errR *os.File // read end of the error pipe
}

// start re-executes this binary as the constructor (see nsexec.c for the
// contract) with t's handles. It never executes the file on disk: its
// child runs it inside the container's pid namespace until the command's
// execve, and a guest that made that command a "#!/proc/self/exe" script
// gets this very executable as its own. It executes the file through a
// private read-only overlayfs mount instead (no copy, internal/exeseal),
// or a sealed memfd copy where that mount cannot be made. The run
// directory is the overlay's spare layer: it exists while the container
// runs, and lies on the host, away from the executable's directory.
func (t *target) start(l launch) (*process, error) {
	if !nsenter.Available {
		return nil, fmt.Errorf("this binary was built without cgo and cannot join a container: %w", vzerror.ErrSystem)
	}
	exe, how, why, err := exeseal.SelfNoCopy(t.runDir)
	if err != nil {
		return nil, fmt.Errorf("joining container: %w: %w", err, vzerror.ErrSystem)
	}
	if t.debug != nil {
		if why != "" {
			t.debug("container %s: joining with this executable sealed by %s (no overlayfs: %s)", t.state.ID, how, why)
		} else {
			t.debug("container %s: joining with this executable sealed by %s", t.state.ID, how)
		}
	}
	// The constructor has exec'd the file once Start returns; the last
	// process executing it frees the copy or the mount.
	defer exe.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating error pipe: %w: %w", err, vzerror.ErrSystem)
	}
	defer errW.Close()

	// The command's environment travels in a memfd (nsenter.EnvFile).
	envFile, err := nsenter.EnvFile(l.env)
	if err != nil {
		errR.Close()
		return nil, err
	}
	defer envFile.Close()

	extra := []*os.File{errW, t.root, envFile}
	fdOf := func(f *os.File) string {
		extra = append(extra, f)
		return strconv.Itoa(2 + len(extra))
	}
	env := []string{
		nsenter.EnvErrFD + "=3",
		nsenter.EnvRootFD + "=4",
		nsenter.EnvEnvFD + "=5",
		nsenter.EnvPID + "=" + strconv.Itoa(t.state.InitPID),
		nsenter.EnvNSFlags + "=" + strconv.Itoa(t.nsFlags),
		nsenter.EnvCapKeep + "=" + strconv.FormatUint(t.capKeep, 16),
	}
	if t.pidfd != nil {
		env = append(env, nsenter.EnvPidFD+"="+fdOf(t.pidfd))
	}
	if len(t.cgroups) > 0 {
		fds := make([]string, len(t.cgroups))
		for i, f := range t.cgroups {
			fds[i] = fdOf(f)
		}
		env = append(env, nsenter.EnvCgroupFDs+"="+strings.Join(fds, ","))
	}
	if l.pty != nil {
		env = append(env, nsenter.EnvPtyFD+"="+fdOf(l.pty))
	}
	if t.state.Seccomp {
		f, err := nsenter.SeccompFile()
		if err == nil && f == nil {
			err = fmt.Errorf("no seccomp filter for this architecture, but the container runs under one: %w", vzerror.ErrSystem)
		}
		if err != nil {
			errR.Close()
			return nil, err
		}
		defer f.Close()
		env = append(env, nsenter.EnvSeccompFD+"="+fdOf(f))
	}
	extra = append(extra, exe)
	cmd := &exec.Cmd{
		Path:       exeseal.Path(2 + len(extra)),
		Args:       append([]string{"govz-nsexec", nsenter.Verb, l.path}, l.argv...),
		Env:        env,
		ExtraFiles: extra,
	}
	// *os.File values are handed over as they are, without copying
	// goroutines; a nil interface (not a nil *os.File) means /dev/null.
	if l.stdin != nil {
		cmd.Stdin = l.stdin
	}
	if l.stdout != nil {
		cmd.Stdout = l.stdout
	}
	if l.stderr != nil {
		cmd.Stderr = l.stderr
	}
	if err := cmd.Start(); err != nil {
		errR.Close()
		return nil, fmt.Errorf("starting %s: %w: %w", nsenter.Verb, err, vzerror.ErrSystem)
	}
	return &process{cmd: cmd, errR: errR}, nil
}

// wait returns the command's exit status, or the constructor's error.
func (p *process) wait() (int, error) {
	werr := p.cmd.Wait()
	// Every writer is gone once the constructor exited: its copy died with
	// it, the command's was close-on-exec.
	msg, rerr := io.ReadAll(p.errR)
	p.errR.Close()
	if len(msg) > 0 {
		return 0, childError(msg)
	}
	if rerr != nil {
		return 0, fmt.Errorf("reading error pipe: %w: %w", rerr, vzerror.ErrSystem)
	}
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return 0, fmt.Errorf("waiting for %s: %w: %w", nsenter.Verb, werr, vzerror.ErrSystem)
	}
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return 0, fmt.Errorf("waiting for %s: no wait status: %w", nsenter.Verb, vzerror.ErrSystem)
	}
	return exitStatus(ws), nil
}

// exitStatus follows the shell: the exit code, or 128+N for signal N. The
// constructor already does this for the command; a signal here killed the
// constructor itself (an interrupted exec, for instance).
func exitStatus(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// childError turns the constructor's "<stage> <message>" line into an
// error carrying the matching sentinel.
func childError(msg []byte) error {
	line, _, _ := bytes.Cut(msg, []byte("\n"))
	stage, text, _ := strings.Cut(string(line), " ")
	switch stage {
	case nsenter.StageNotRunning:
		return fmt.Errorf("joining container: %s: %w", text, vzerror.ErrNotRunning)
	case nsenter.StageExec:
		return fmt.Errorf("executing %s: %w", text, vzerror.ErrCommandFailed)
	case nsenter.StageSetup:
		return fmt.Errorf("joining container: %s: %w", text, vzerror.ErrSystem)
	default:
		return fmt.Errorf("joining container: unexpected message %q: %w", line, vzerror.ErrSystem)
	}
}
