package ct

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"govz/ct/ctnet"
	"govz/ct/resource"
	"govz/ct/supervisor"
	"govz/ct/vzlog"
)

// The executors of a boot's hook steps (BootSpec writes the plan). They
// run in the supervisor, whose standard error is its log, and take all
// they need from the step's data: nothing is loaded from the
// configuration there.

// stoppedStep is the poststop step that ends a boot for good.
type stoppedStep struct {
	ID       int       `json:"id"`
	RunDir   string    `json:"run_dir"`
	Root     string    `json:"root"`
	BootMark string    `json:"boot_mark"`
	Scripts  scriptEnv `json:"scripts"`
}

// executors are the supervisor's step executors.
func executors() supervisor.Executors {
	return supervisor.Executors{
		stepResources: {Prestart: func(data json.RawMessage, pid int) error {
			var d resource.Step
			if err := decodeStep(stepResources, data, &d); err != nil {
				return err
			}
			return resource.Start(&d, pid)
		}},
		stepNetwork: {
			Prestart: func(data json.RawMessage, pid int) error {
				var d ctnet.Step
				if err := decodeStep(stepNetwork, data, &d); err != nil {
					return err
				}
				return ctnet.Up(&d, pid)
			},
			Poststop: func(data json.RawMessage, reboot bool) {
				var d ctnet.Step
				if err := decodeStep(stepNetwork, data, &d); err != nil {
					supervisorLog().Warnf("%v", err)
					return
				}
				ctnet.Down(d.ID, d.RunDir, d.LockDir)
			},
		},
		stepCheckpoint: {Restore: func(data json.RawMessage, dir string, console *os.File, uids, gids []supervisor.IDMap) (int, error) {
			var d restoreStep
			if err := decodeStep(stepCheckpoint, data, &d); err != nil {
				return 0, err
			}
			return d.restore(dir, console, uids, gids)
		}},
		stepStopped: {Poststop: func(data json.RawMessage, reboot bool) {
			var d stoppedStep
			if err := decodeStep(stepStopped, data, &d); err != nil {
				supervisorLog().Warnf("%v", err)
				return
			}
			if !reboot {
				d.stopped(supervisorLog())
			}
		}},
	}
}

func decodeStep(name string, data json.RawMessage, into any) error {
	if err := json.Unmarshal(data, into); err != nil {
		return fmt.Errorf("hook step %s: %w", name, err)
	}
	return nil
}

// supervisorLog is the log of code run in the supervisor.
func supervisorLog() *vzlog.Logger {
	// As before the plan was data: the supervisor reports through its own
	// log lines (ctnet.Warnf), action scripts' output is not kept.
	return &vzlog.Logger{Prog: "vzctl"}
}

// stopped is what follows a boot that is not followed by another: the
// container halted, or was stopped.
func (d *stoppedStep) stopped(log *vzlog.Logger) {
	// A guest that halted itself, or an admin's stop, is not running any
	// more when the node goes down; the node's own shutdown keeps the
	// mark, and so does a signal to the supervisor (systemd stopping the
	// login session that started it, at shutdown).
	kept := false
	for _, f := range []string{nodeShutdownName, supervisor.SignalStopName} {
		if os.Remove(filepath.Join(d.RunDir, f)) == nil {
			kept = true
		}
	}
	if !kept {
		clearBootMark(d.BootMark, log)
	}
	// Halted from inside (or stopped): unmount as vzctl's vzevent-stop
	// does, unless stop --skip-umount asked not to.
	if _, err := os.Stat(filepath.Join(d.RunDir, skipUmountName)); err == nil {
		os.Remove(filepath.Join(d.RunDir, skipUmountName))
		return
	}
	// Halted from inside: nobody to report to but the log.
	if err := d.Scripts.run(log, phaseUmount); err != nil {
		log.Warnf("%v", err)
		return
	}
	unix.Unmount(d.Root, 0)
	if err := d.Scripts.run(log, phasePostumount); err != nil {
		log.Warnf("%v", err)
	}
}

// clearBootMark removes a "was running" mark, durably.
func clearBootMark(p string, log *vzlog.Logger) {
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warnf("clearing boot mark %s: %v", p, err)
	}
	syncDir(filepath.Dir(p))
}
