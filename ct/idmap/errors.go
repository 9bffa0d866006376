package idmap

import "errors"

// Errors of this package, wrapped with the pool or range at fault.
var (
	// ErrBadPool: an id pool that does not parse or is out of range.
	ErrBadPool = errors.New("invalid id pool")
	// ErrExhausted: no free range is left in the pool.
	ErrExhausted = errors.New("not enough resources")
)
