package roottest

import (
	"strings"
	"testing"
)

type recorder struct {
	skipped, failed string
}

func (r *recorder) Helper()                          {}
func (r *recorder) Skipf(format string, args ...any) { r.skipped = format }
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = format
}

func TestPolicy(t *testing.T) {
	for _, tc := range []struct {
		name       string
		euid       int
		ci         string
		skip, fail bool
	}{
		{"root runs", 0, "", false, false},
		{"root runs under CI", 0, "true", false, false},
		{"non-root skips locally", 1000, "", true, false},
		{"non-root skips with CI not true", 1000, "false", true, false},
		{"non-root fails under CI", 1000, "true", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r recorder
			check(&r, tc.euid, tc.ci, "mounts")
			if (r.skipped != "") != tc.skip || (r.failed != "") != tc.fail {
				t.Errorf("skipped %q, failed %q; want skip %v, fail %v", r.skipped, r.failed, tc.skip, tc.fail)
			}
			if tc.fail && !strings.Contains(r.failed, CIEnv) {
				t.Errorf("failure %q does not say why it is not a skip", r.failed)
			}
		})
	}
}
