//go:build !linux || !cgo

// Without cgo there is no constructor: attach refuses to run.

package nsenter

// Available reports whether the constructor is linked into this binary.
const Available = false
