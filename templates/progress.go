package templates

import (
	"fmt"
	"io"
	"time"

	bar "govz/internal/progress"
)

// progress writes a build's progress: one line per phase, and on a terminal a
// percentage rewritten in place while packing.
type progress struct {
	w       io.Writer
	tty     bool
	start   time.Time
	pending bool // an in-place line is on screen without its newline
	// bar draws the current phase's percentage (internal/progress).
	bar   func(done, total int64)
	label string
}

func newProgress(w io.Writer) *progress {
	if w == nil {
		w = io.Discard
	}
	return &progress{w: w, start: time.Now(), tty: bar.IsTerminal(w)}
}

func (p *progress) stamp() string {
	return fmt.Sprintf("[%6.1fs]", time.Since(p.start).Seconds())
}

func (p *progress) endLine() {
	if p.bar != nil {
		// The bar clears itself at 100%; a phase cut short leaves it.
		p.bar, p.label = nil, ""
	}
	if p.pending {
		fmt.Fprintln(p.w)
		p.pending = false
	}
}

// phase starts a new phase.
func (p *progress) phase(format string, args ...any) {
	p.endLine()
	fmt.Fprintf(p.w, "%s %s\n", p.stamp(), fmt.Sprintf(format, args...))
}

// detail passes a line of tool output through as is.
func (p *progress) detail(line string) {
	p.endLine()
	fmt.Fprintln(p.w, line)
}

// percent shows how far the current phase is, on a terminal only: in a log
// the phase lines are enough.
func (p *progress) percent(label string, pct int) {
	if !p.tty {
		return
	}
	if p.bar == nil || p.label != label {
		p.endLine()
		p.bar, p.label = bar.Count(p.w, p.stamp()+" "+label), label
		if p.bar == nil {
			return
		}
	}
	p.bar(int64(pct), 100)
	p.pending = pct < 100
}
