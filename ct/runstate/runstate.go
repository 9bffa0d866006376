// Package runstate is the small record a running container leaves in its
// run directory ($VZ_ROOT/run/CTID/state.json). The supervisor writes it when
// the guest's init is up and removes it when the container stops; every other
// process (vzctl status, exec, enter, vzlist) reads it to find the container.
// A record whose init is gone (or whose PID was reused, which the start time
// detects) means the container is not running.
package runstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"govz/conf/atomicfile"
)

// FileName is the record's name inside the run directory.
const FileName = "state.json"

// State describes one running container.
type State struct {
	ID            string            `json:"id"`
	SupervisorPID int               `json:"supervisor_pid"`
	InitPID       int               `json:"init_pid"`        // host PID of the guest's init
	InitStartTime uint64            `json:"init_start_time"` // /proc/PID/stat field 22, guards PID reuse
	BootID        string            `json:"boot_id"`         // new on every (re)boot
	CapBounding   []string          `json:"cap_bounding"`    // capabilities kept, lower-case names without CAP_
	CgroupPaths   map[string]string `json:"cgroup_paths"`    // hierarchy -> host path that exec'd processes join
	CgroupParent  string            `json:"cgroup_parent"`   // cgroup.Open(CgroupParent, ID) finds the group when the supervisor is gone
	Seccomp       bool              `json:"seccomp"`         // init runs under caps.HostFilter; so must exec'd processes
	Hostname      string            `json:"hostname"`
	Started       time.Time         `json:"started"`
}

// Path returns the record's path in runDir.
func Path(runDir string) string { return filepath.Join(runDir, FileName) }

// Read returns the record in runDir; an error wrapping os.ErrNotExist when
// there is none.
func Read(runDir string) (*State, error) {
	b, err := os.ReadFile(Path(runDir))
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", Path(runDir), err)
	}
	return &s, nil
}

// Write stores s in runDir atomically. Not durably: a record that a power
// cut could lose describes processes the power cut ended (atomicfile.Replace).
func Write(runDir string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Replace(Path(runDir), append(b, '\n'), 0o600)
}

// Remove deletes the record; a missing record is not an error.
func Remove(runDir string) error {
	err := os.Remove(Path(runDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Alive reports whether the recorded init is still the same live process.
func (s *State) Alive() bool {
	if s == nil || s.InitPID <= 0 {
		return false
	}
	st, err := StartTime(s.InitPID)
	return err == nil && st == s.InitStartTime
}

// StartTime returns field 22 of /proc/PID/stat: the process start time in
// clock ticks since boot, which together with the PID names a process
// uniquely (PIDs are reused, start times of a reused PID differ).
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// comm (field 2) may contain spaces and parentheses: split after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("parsing /proc/%d/stat: no comm field", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return 0, fmt.Errorf("parsing /proc/%d/stat: %d fields", pid, len(f))
	}
	// A zombie still has its start time; a zombie init is as good as dead.
	if f[0] == "Z" || f[0] == "X" {
		return 0, fmt.Errorf("process %d is a zombie", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}
