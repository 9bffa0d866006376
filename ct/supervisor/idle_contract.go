package supervisor

import (
	"fmt"
	"strconv"
	"strings"
)

// The Go side of the C idle loop's contract; idle.h is the C side, and
// TestIdleContract keeps the two in step.

// Modes after Verb: into the C idle loop, and back into Go.
const (
	modeIdle    = "--idle"
	modeMonitor = "--monitor"
)

// Why the idle loop woke Go (idle.h's WAKE_*), in wakeEnv.
const (
	wakeError        = "error"   // bad hand-off or a poll error
	wakeExit         = "exit"    // the init exited
	wakeControl      = "control" // a connection on the control socket
	wakeConsole      = "console" // reading the console failed
	wakeNotify       = "notify"  // a notify message before ready
	wakeReady        = "ready"   // a readiness line before ready
	wakeSignalPrefix = "signal:" // and the signal's number
)

// idleFields is the hand-off in idleEnv (idle.h's IDLE_FIELDS): the
// descriptors the loop polls, the init's PID and whether the guest is
// ready, as NAME=DECIMAL pairs.
type idleFields struct {
	Master  int // console pty master
	Log     int // console log, -1 without one
	Control int // control socket
	Notify  int // notify socket
	FIFO    int // readiness fifo
	Ring    int // console ring memfd
	PID     int // the init's host PID
	Ready   bool
}

// named lists the fields under idle.h's names, in IDLE_FIELDS order.
func (f *idleFields) named() []struct {
	name string
	v    *int
} {
	ready := 0
	if f.Ready {
		ready = 1
	}
	return []struct {
		name string
		v    *int
	}{
		{"master", &f.Master}, {"log", &f.Log}, {"control", &f.Control}, {"notify", &f.Notify},
		{"fifo", &f.FIFO}, {"ring", &f.Ring}, {"pid", &f.PID}, {"ready", &ready},
	}
}

// String is the value of idleEnv.
func (f idleFields) String() string {
	var b strings.Builder
	for i, x := range f.named() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", x.name, *x.v)
	}
	return b.String()
}

// parseIdleFields reads idleEnv's value as idle.c does: every field once,
// nothing else.
func parseIdleFields(s string) (idleFields, error) {
	var f idleFields
	ready := -1
	named := f.named()
	named[len(named)-1].v = &ready
	seen := map[string]bool{}
	for _, kv := range strings.Fields(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return idleFields{}, fmt.Errorf("idle hand-off: %q is not NAME=VALUE", kv)
		}
		i := 0
		for i < len(named) && named[i].name != k {
			i++
		}
		if i == len(named) || seen[k] {
			return idleFields{}, fmt.Errorf("idle hand-off: unknown or repeated field %q", k)
		}
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return idleFields{}, fmt.Errorf("idle hand-off: field %s: %w", k, err)
		}
		*named[i].v = int(n)
		seen[k] = true
	}
	if len(seen) != len(named) {
		return idleFields{}, fmt.Errorf("idle hand-off: %d of %d fields in %q", len(seen), len(named), s)
	}
	f.Ready = ready == 1
	return f, nil
}
