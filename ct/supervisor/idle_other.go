//go:build !linux || !cgo

package supervisor

// Without cgo the supervisor waits in Go (about 2 MiB per container more).
const idleAvailable = false
