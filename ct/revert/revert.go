// Package revert is the undo stack every multi-step setup uses: after each
// step that changed the system, push the step that undoes it; on failure
// the steps run in reverse order, on success they are dropped.
//
//	r := revert.New()
//	defer r.Fail()
//	...step 1...; r.Add(undo1)
//	...step 2...; r.Add(undo2)
//	r.Success()
package revert

// Reverter holds undo steps.
type Reverter struct {
	undo []func()
}

// New returns an empty stack.
func New() *Reverter { return &Reverter{} }

// Add pushes an undo step.
func (r *Reverter) Add(f func()) { r.undo = append(r.undo, f) }

// Fail runs the undo steps in reverse order, unless Success was called.
func (r *Reverter) Fail() {
	for i := len(r.undo) - 1; i >= 0; i-- {
		r.undo[i]()
	}
	r.undo = nil
}

// Success drops the undo steps: everything stays as done.
func (r *Reverter) Success() { r.undo = nil }

// Clone hands the pending undo steps to a new stack and clears this one,
// for a caller that takes over responsibility for them.
func (r *Reverter) Clone() *Reverter {
	c := &Reverter{undo: r.undo}
	r.undo = nil
	return c
}
