package ct

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"govz/ct/vzerror"
)

// TestChkpntPlan: vzctl chkpnt's phase flags. None or all three of
// suspend, dump, kill are the whole checkpoint (nil); the rest run in the
// order suspend, dump, kill/resume whatever the order given; kill and
// resume, dump and resume are refused (21) in one line.
func TestChkpntPlan(t *testing.T) {
	for _, c := range []struct {
		suspend, dump, kill, resume bool
		want                        []ChkpntStep
		refused                     bool
	}{
		{want: nil},
		{suspend: true, dump: true, kill: true, want: nil},
		{suspend: true, want: []ChkpntStep{StepSuspend}},
		{dump: true, want: []ChkpntStep{StepDump}},
		{kill: true, want: []ChkpntStep{StepKill}},
		{resume: true, want: []ChkpntStep{StepResume}},
		{suspend: true, dump: true, want: []ChkpntStep{StepSuspend, StepDump}},
		{dump: true, kill: true, want: []ChkpntStep{StepDump, StepKill}},
		{suspend: true, kill: true, want: []ChkpntStep{StepSuspend, StepKill}},
		{suspend: true, resume: true, want: []ChkpntStep{StepSuspend, StepResume}},
		{kill: true, resume: true, refused: true},
		{suspend: true, dump: true, kill: true, resume: true, refused: true},
		{dump: true, resume: true, refused: true},
		{suspend: true, dump: true, resume: true, refused: true},
	} {
		got, err := ChkpntPlan(c.suspend, c.dump, c.kill, c.resume)
		name := []string{}
		for _, f := range []struct {
			on bool
			s  string
		}{{c.suspend, "--suspend"}, {c.dump, "--dump"}, {c.kill, "--kill"}, {c.resume, "--resume"}} {
			if f.on {
				name = append(name, f.s)
			}
		}
		if c.refused {
			if !errors.Is(err, vzerror.ErrInvalidValue) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%v: err %v; want one line wrapping ErrInvalidValue", name, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) || (c.want == nil) != (got == nil) {
			t.Errorf("%v: %v, %v; want %v", name, got, err, c.want)
		}
	}
}
