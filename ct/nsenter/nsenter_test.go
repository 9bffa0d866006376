//go:build linux && cgo

package nsenter

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestConstructorIntercepts runs this test binary with the verb: the
// constructor must take over before the Go runtime (and the test main) runs.
func TestConstructorIntercepts(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"no errfd", []string{Verb, "/bin/true", "true"}, nil, "setup " + EnvErrFD + " not set\n"},
		{"bad errfd", []string{Verb, "/bin/true", "true"}, []string{EnvErrFD + "=x"}, "setup " + EnvErrFD + "=x: not a number\n"},
		{"short argv", []string{Verb, "/bin/true"}, []string{EnvErrFD + "=2"}, "setup usage: " + Verb + " PATH ARGV0 [ARG...]\n"},
		{"no pid", []string{Verb, "/bin/true", "true"}, []string{EnvErrFD + "=2"}, "setup " + EnvPID + " not set\n"},
		{"lock: no owner", []string{VerbLock}, []string{EnvSyncFD + "=2", EnvUsernsFD + "=0", EnvMntnsFD + "=0"}, "setup " + EnvOwner + " not set\n"},
		{"lock: owner 0", []string{VerbLock}, []string{EnvSyncFD + "=2", EnvUsernsFD + "=0", EnvMntnsFD + "=0", EnvOwner + "=0"}, "setup " + EnvOwner + "=0: not a usable owner\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("/proc/self/exe", tc.args...)
			cmd.Env = append([]string{}, tc.env...)
			var stderr, stdout bytes.Buffer
			cmd.Stderr, cmd.Stdout = &stderr, &stdout
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != FailStatus {
				t.Fatalf("run: %v, want exit status %d; stdout %q", err, FailStatus, stdout.String())
			}
			if stderr.String() != tc.want {
				t.Errorf("stderr = %q, want %q", stderr.String(), tc.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("test main ran: stdout %q", stdout.String())
			}
		})
	}
}

// TestContractNames keeps contract.go and nsexec.c in step.
func TestContractNames(t *testing.T) {
	src, err := os.ReadFile("nsexec.c")
	if err != nil {
		t.Fatal(err)
	}
	c := string(src)
	if !strings.Contains(c, `#define VERB "`+Verb+`"`) {
		t.Errorf("nsexec.c does not define VERB %q", Verb)
	}
	for _, v := range []string{`#define VERB_LOCK "` + VerbLock + `"`} {
		if !strings.Contains(c, v) {
			t.Errorf("nsexec.c lacks %s", v)
		}
	}
	if !strings.Contains(c, `#define ENV(name) "`+EnvPrefix+`" name`) {
		t.Errorf("nsexec.c does not use prefix %q", EnvPrefix)
	}
	for _, name := range []string{EnvErrFD, EnvPID, EnvPidFD, EnvRootFD, EnvNSFlags, EnvCgroupFDs, EnvCapKeep, EnvPtyFD, EnvEnvFD,
		EnvSeccompFD, EnvSyncFD, EnvUsernsFD, EnvMntnsFD, EnvOwner} {
		if !strings.Contains(c, `ENV("`+strings.TrimPrefix(name, EnvPrefix)+`")`) {
			t.Errorf("nsexec.c never reads %s", name)
		}
	}
	for _, stage := range []string{StageNotRunning, StageSetup, StageExec} {
		if !strings.Contains(c, `die("`+stage+`"`) && !strings.Contains(c, `"`+stage+`" :`) {
			t.Errorf("nsexec.c never reports stage %q", stage)
		}
	}
}
