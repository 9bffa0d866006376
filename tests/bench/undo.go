package main

import (
	"sync"
)

// undoStack holds the cleanups of everything the bench set up, run last in
// first out. Sections unwind their own part when they end (mark/unwindTo);
// whatever is left, after a failure, a panic or a signal, is unwound by
// run's deferred call.
type undoStack struct {
	mu    sync.Mutex
	items []undoItem
}

type undoItem struct {
	what string
	fn   func() error
}

// push registers fn, described by what for the log.
func (u *undoStack) push(what string, fn func() error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.items = append(u.items, undoItem{what, fn})
}

// mark returns the current depth, for unwindTo.
func (u *undoStack) mark() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.items)
}

// unwindTo runs (and drops) everything pushed after mark, newest first. A
// failing step is logged and the others still run.
func (u *undoStack) unwindTo(mark int, logf func(string, ...any)) {
	for {
		u.mu.Lock()
		if len(u.items) <= mark {
			u.mu.Unlock()
			return
		}
		it := u.items[len(u.items)-1]
		u.items = u.items[:len(u.items)-1]
		u.mu.Unlock()
		if err := it.fn(); err != nil {
			logf("cleanup: %s: %v", it.what, err)
		}
	}
}

// unwind runs everything.
func (u *undoStack) unwind(logf func(string, ...any)) { u.unwindTo(0, logf) }
