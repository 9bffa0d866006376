//go:build linux && cgo

package supervisor

/*
#cgo CFLAGS: -Wall -Wextra -Wno-unused-parameter -O2
*/
import "C"

// idleAvailable: the C idle loop (idle.c) is linked into this binary.
const idleAvailable = true
