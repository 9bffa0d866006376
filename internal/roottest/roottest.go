// Package roottest is how a test that needs root (namespaces, mounts,
// cgroups, mknod) says so, the one way for every package.
//
// Without root such a test cannot run. On a developer's machine it is
// skipped, with the reason; under CI (the environment variable CI is
// "true", as .ci/run and the usual CI services set it) it fails instead:
// CI runs as root, and a skip there would report the privileged tests as
// passed without running them.
package roottest

import (
	"os"
	"testing"
)

// CIEnv is the variable that marks a CI run when it is "true".
const CIEnv = "CI"

// Require skips t (fails it under CI) unless the test runs as root; why
// names what needs the privilege ("mounts, loop devices").
func Require(t testing.TB, why string) {
	t.Helper()
	check(t, os.Geteuid(), os.Getenv(CIEnv), why)
}

// tb is the part of testing.TB check uses, so that the policy is
// testable with a recorder.
type tb interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

func check(t tb, euid int, ci, why string) {
	t.Helper()
	if euid == 0 {
		return
	}
	if ci == "true" {
		t.Fatalf("needs root (%s), and %s=true: under CI a missing privilege fails the test instead of skipping it", why, CIEnv)
		return
	}
	t.Skipf("needs root (%s)", why)
}
