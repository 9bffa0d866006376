package supervisor

import "govz/ct/runstate"

// Alive reports whether a supervisor holds the run directory's lock
// (runstate.Alive, which processes that do not link the supervisor use).
func Alive(runDir string) bool { return runstate.Alive(runDir) }

// Booting reports whether a live supervisor is booting the container
// (runstate.Booting).
func Booting(runDir string) bool { return runstate.Booting(runDir) }

// SignalStopName is written into the run directory when a signal (SIGTERM,
// SIGINT) made the supervisor stop the container; whoever acts on it in
// Hooks.Poststop removes it.
const SignalStopName = "stop-signal"

// bootingName marks a boot under way in the run directory.
const bootingName = runstate.BootingName
