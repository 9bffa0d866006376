package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	criu "github.com/checkpoint-restore/go-criu/v7"
	"github.com/checkpoint-restore/go-criu/v7/rpc"

	"govz/ct/vzerror"
)

// MinVersion is the oldest CRIU that works here, as go-criu encodes
// versions (major*10000 + minor*100 + sublevel). 3.x fails on kernels
// from 6.13 on: they split the vDSO data into [vvar] + [vvar_vclock],
// which CRIU 3.17 rejects ("Unexpected rt vDSO area bounds").
const MinVersion = 40000

// DefaultPath is where `make deps` installs CRIU (scripts/deps-criu.sh):
// on Debian 12 a CRIU 4.x built from Debian 13's source next to the
// distribution's too old /usr/sbin/criu.
const DefaultPath = "/usr/local/sbin/criu"

// Engine is CRIU as this package uses it.
type Engine interface {
	// Version is CRIU's version, encoded as MinVersion is.
	Version() (int, error)
	// Dump saves the tree opts.Pid names into opts.ImagesDirFd.
	Dump(opts *rpc.CriuOpts) error
	// Restore recreates the tree; nfy sees its notifications
	// (setup-namespaces: the restored root's PID, before it runs).
	Restore(opts *rpc.CriuOpts, nfy criu.Notify) error
	// Path is the CRIU executable, for messages.
	Path() string
}

// Locate returns the CRIU executable to use: configured when not "",
// else DefaultPath when present, else "criu" from PATH.
func Locate(configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	if fi, err := os.Stat(DefaultPath); err == nil && fi.Mode().IsRegular() {
		return DefaultPath, nil
	}
	p, err := exec.LookPath("criu")
	if err != nil {
		return "", fmt.Errorf("criu not found at %s nor in PATH (make deps installs it): %w", DefaultPath, vzerror.ErrBadKernel)
	}
	return p, nil
}

// NewEngine returns the Engine that runs the CRIU executable path.
func NewEngine(path string) Engine { return &swrk{path: path} }

// swrk runs one `criu swrk` per request: go-criu's Criu keeps a worker
// until Cleanup, and a worker that served a dump must not serve the
// restore (its state is the dumped tree's).
type swrk struct{ path string }

func (s *swrk) Path() string { return s.path }

func (s *swrk) do(f func(c *criu.Criu) error) error {
	// Fault 130 (FI_NO_BREAKPOINTS, criu/include/fault-injection.h) makes
	// CRIU leave its parasite with PTRACE_SYSCALL instead of a hardware
	// breakpoint on the sigreturn. On this project's Firecracker guests
	// debug-register breakpoints never fire: every dump hung for good in
	// wait4 (compel parasite_stop_on_syscall). Stepping is as correct and
	// costs a few syscall stops per task. go-criu starts the worker with
	// our environment.
	if os.Getenv("CRIU_FAULT") == "" {
		os.Setenv("CRIU_FAULT", "130")
	}
	c := criu.MakeCriu()
	c.SetCriuPath(s.path)
	if err := c.Prepare(); err != nil {
		return fmt.Errorf("starting %s swrk: %w", s.path, err)
	}
	err := f(c)
	if cerr := c.Cleanup(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

func (s *swrk) Version() (int, error) {
	var v int
	err := s.do(func(c *criu.Criu) error {
		var err error
		v, err = c.GetCriuVersion()
		return err
	})
	return v, err
}

func (s *swrk) Dump(opts *rpc.CriuOpts) error {
	return s.do(func(c *criu.Criu) error { return c.Dump(opts, criu.NoNotify{}) })
}

func (s *swrk) Restore(opts *rpc.CriuOpts, nfy criu.Notify) error {
	if nfy == nil {
		nfy = criu.NoNotify{}
	}
	return s.do(func(c *criu.Criu) error { return c.Restore(opts, nfy) })
}

// FormatVersion renders an encoded version as CRIU prints it.
func FormatVersion(v int) string {
	return fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100)
}

// CheckVersion fails when e is missing, broken or older than MinVersion;
// sentinel is the command's failure class (vzerror.ErrChkpnt or
// vzerror.ErrRestore).
func CheckVersion(e Engine, sentinel error) error {
	v, err := e.Version()
	if err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) || errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("CRIU %s cannot run: %w (make deps installs it at %s): %w", e.Path(), err, DefaultPath, sentinel)
		}
		return fmt.Errorf("asking %s for its version: %w: %w", e.Path(), err, sentinel)
	}
	if v < MinVersion {
		return fmt.Errorf("CRIU %s at %s is too old: need %s or newer (make deps installs one at %s): %w",
			FormatVersion(v), e.Path(), FormatVersion(MinVersion), DefaultPath, sentinel)
	}
	return nil
}
