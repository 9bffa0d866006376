//go:build race

package supervisor

// raceEnabled: the race detector multiplies memory use and slows
// everything; memory bounds do not apply.
const raceEnabled = true
