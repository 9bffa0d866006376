package untar

import "govz/templates/untar/untarerr"

// Errors of this package (defined in untarerr, see there).
var (
	ErrCorrupt     = untarerr.ErrCorrupt
	ErrNotFound    = untarerr.ErrNotFound
	ErrNoSpace     = untarerr.ErrNoSpace
	ErrDestination = untarerr.ErrDestination
	ErrSystem      = untarerr.ErrSystem
)
