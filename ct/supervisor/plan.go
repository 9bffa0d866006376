package supervisor

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"govz/conf/atomicfile"
	"govz/ct/vzerror"
)

// A boot's inputs are data: the Spec, with its hook plan (Spec.Prestart,
// Spec.Poststop), is written to the run directory (SpecName) by Start and
// by every reboot, and the supervisor runs the steps through the
// Executors its main registered. Nothing the command that started the
// container computed has to be rebuilt from the configuration after the
// supervisor re-execs itself: it reads the file again.

// SpecName is the current boot's Spec in the run directory.
const SpecName = "spec.json"

// Step is one named hook step of a boot and its data; the Executor
// registered under Name runs it.
type Step struct {
	Name string          `json:"name"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Executor runs the steps of one name: Prestart before the guest's init
// execs (initPID is the host PID it will have), Poststop once the boot
// ended (reboot: another one follows at once). Either may be nil.
type Executor struct {
	Prestart func(data json.RawMessage, initPID int) error
	Poststop func(data json.RawMessage, reboot bool)
	// Restore is Hooks.Restore with the Restorer step's data.
	Restore func(data json.RawMessage, dir string, console *os.File, uids, gids []IDMap) (initPID int, err error)
}

// Executors maps step names to what runs them.
type Executors map[string]Executor

// bind turns s's steps into its Hooks, run in order; a Spec whose Hooks
// were set in this process (and has no steps) keeps them.
func (s *Spec) bind(ex Executors) error {
	if len(s.Prestart) == 0 && len(s.Poststop) == 0 && s.Restorer == nil {
		return nil
	}
	pre := make([]func(int) error, 0, len(s.Prestart))
	for _, st := range s.Prestart {
		e, ok := ex[st.Name]
		if !ok || e.Prestart == nil {
			return fmt.Errorf("container %s: no prestart executor for step %q: %w", s.ID, st.Name, vzerror.ErrInvalidValue)
		}
		pre = append(pre, func(pid int) error {
			if err := e.Prestart(st.Data, pid); err != nil {
				return fmt.Errorf("%s: %w", st.Name, err)
			}
			return nil
		})
	}
	post := make([]func(bool), 0, len(s.Poststop))
	for _, st := range s.Poststop {
		e, ok := ex[st.Name]
		if !ok || e.Poststop == nil {
			return fmt.Errorf("container %s: no poststop executor for step %q: %w", s.ID, st.Name, vzerror.ErrInvalidValue)
		}
		post = append(post, func(reboot bool) { e.Poststop(st.Data, reboot) })
	}
	var restore func(string, *os.File, []IDMap, []IDMap) (int, error)
	if r := s.Restorer; r != nil {
		e, ok := ex[r.Name]
		if !ok || e.Restore == nil {
			return fmt.Errorf("container %s: no restore executor for step %q: %w", s.ID, r.Name, vzerror.ErrInvalidValue)
		}
		restore = func(dir string, console *os.File, uids, gids []IDMap) (int, error) {
			return e.Restore(r.Data, dir, console, uids, gids)
		}
	}
	s.Hooks = Hooks{
		Restore: restore,
		Prestart: func(pid int) error {
			for _, f := range pre {
				if err := f(pid); err != nil {
					return err
				}
			}
			return nil
		},
		Poststop: func(reboot bool) {
			for _, f := range post {
				f(reboot)
			}
		},
	}
	return nil
}

// BindHooks is bind for a caller that runs spec in its own process
// (RunOnce).
func (s *Spec) BindHooks(ex Executors) error { return s.bind(ex) }

// WriteSpec records s as runDir's current boot: atomically, 0600, in a
// directory only its owner (root) can enter or change. Not durably: only
// the living supervisor reads it (atomicfile.Replace).
func WriteSpec(runDir string, s *Spec) error {
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return fmt.Errorf("creating run directory %s: %w: %w", runDir, err, vzerror.ErrSystem)
	}
	if err := checkPrivateDir(runDir); err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encoding the spec of %s: %w: %w", s.ID, err, vzerror.ErrSystem)
	}
	if err := atomicfile.Replace(filepath.Join(runDir, SpecName), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing the spec of %s: %w: %w", s.ID, err, vzerror.ErrSystem)
	}
	return nil
}

// ReadSpec reads runDir's current boot; its hooks are not bound yet.
func ReadSpec(runDir string) (*Spec, error) {
	if err := checkPrivateDir(runDir); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(runDir, SpecName))
	if err != nil {
		return nil, fmt.Errorf("reading the boot spec: %w: %w", err, vzerror.ErrSystem)
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parsing %s: %w: %w", filepath.Join(runDir, SpecName), err, vzerror.ErrSystem)
	}
	return &s, nil
}

// checkPrivateDir refuses a run directory someone else owns or may write
// to: the spec in it decides what runs as root.
func checkPrivateDir(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("run directory %s: %w: %w", dir, err, vzerror.ErrSystem)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
		return fmt.Errorf("run directory %s is not a directory owned by uid %d and closed to others: %w", dir, os.Geteuid(), vzerror.ErrSystem)
	}
	return nil
}
