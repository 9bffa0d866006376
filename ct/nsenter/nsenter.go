//go:build linux && cgo

package nsenter

/*
#cgo CFLAGS: -Wall -Wextra -Wno-unused-parameter -O2
*/
import "C"

// Available reports whether the constructor is linked into this binary.
const Available = true
