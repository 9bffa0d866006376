// Package reexec owns govz's hidden re-exec verbs: the first argument
// with which vzctl runs itself again (as a container's supervisor, as the
// child that becomes its init, as a helper inside its mount namespace).
// Every verb is named here, in one scheme ("__govz_" and the role), and
// dispatched one of two ways:
//
//   - Go verbs: the first statement of each binary's main is Dispatch,
//     with the handlers that binary has (vzctl has them all; the other
//     binaries none, so a stray verb there is an error, not a command).
//   - Constructor verbs: a C constructor linked into vzctl
//     (ct/nsenter/nsexec.c, ct/supervisor/idle.c) acts on them before the
//     Go runtime starts and never returns; Dispatch seeing one means the
//     binary was built without cgo.
//
// The C sources spell the names as #defines; the packages' contract tests
// check them against this table.
package reexec

import (
	"fmt"
	"os"
	"strings"
)

// Prefix starts every hidden verb: no vzctl command or CTID starts so.
const Prefix = "__govz_"

// The verbs.
const (
	// Supervisor: a container's supervisor (ct/supervisor). With
	// "--idle" as its next argument idle.c's constructor takes it.
	Supervisor = Prefix + "supervisor"
	// NSInit: the child that becomes a container's init (ct/nsinit).
	NSInit = Prefix + "nsinit"
	// LXCFS: binds LXCFS's files in a container's mount namespace
	// (ct/lxcfs).
	LXCFS = Prefix + "lxcfs"
	// NSExec: joins a running container for exec/enter (nsexec.c).
	NSExec = Prefix + "nsexec"
	// NSLock: builds a container's locked mount namespace (nsexec.c).
	NSLock = Prefix + "nslock"
)

// Kind is who dispatches a verb.
type Kind int

// Kinds of verbs.
const (
	Go          Kind = iota // Dispatch, from main
	Constructor             // a C constructor, before main
)

func (k Kind) String() string {
	if k == Constructor {
		return "C constructor"
	}
	return "Go"
}

// Verb is one hidden verb.
type Verb struct {
	Name  string
	Kind  Kind
	Owner string // the package that implements it
}

// Verbs lists every hidden verb.
func Verbs() []Verb {
	return []Verb{
		{Supervisor, Go, "govz/ct/supervisor"},
		{NSInit, Go, "govz/ct/nsinit"},
		{LXCFS, Go, "govz/ct/lxcfs"},
		{NSExec, Constructor, "govz/ct/nsenter"},
		{NSLock, Constructor, "govz/ct/nsenter"},
	}
}

// Handlers maps a binary's Go verbs to their entry points, which get the
// arguments after the verb and return the exit status.
type Handlers map[string]func(args []string) int

// Dispatch runs the handler of argv[1] when it is a hidden verb and
// returns its exit status and true; for anything else it returns false
// and main goes on. A hidden verb this binary cannot run writes why on
// stderr and gives status 2.
func Dispatch(argv []string, h Handlers) (int, bool) {
	if len(argv) < 2 || !strings.HasPrefix(argv[1], Prefix) {
		return 0, false
	}
	if err := check(argv[1], h); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", argv[0], err)
		return 2, true
	}
	return h[argv[1]](argv[2:]), true
}

// check says why verb cannot run here, if it cannot.
func check(verb string, h Handlers) error {
	for _, v := range Verbs() {
		if v.Name != verb {
			continue
		}
		if v.Kind == Constructor {
			return fmt.Errorf("hidden verb %s is %s's C constructor, not linked into this binary (built without cgo?)", verb, v.Owner)
		}
		if h[verb] == nil {
			return fmt.Errorf("hidden verb %s is not handled by this binary", verb)
		}
		return nil
	}
	return fmt.Errorf("unknown hidden verb %q", verb)
}

// Is reports whether argv runs verb: for what must happen before main
// (ct/nsinit pins its thread in an init function).
func Is(argv []string, verb string) bool {
	return len(argv) > 1 && argv[1] == verb
}
