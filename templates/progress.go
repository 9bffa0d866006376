package templates

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// progress writes a build's progress: one line per phase, and on a terminal a
// percentage rewritten in place while packing.
type progress struct {
	w       io.Writer
	tty     bool
	start   time.Time
	pending bool // an in-place line is on screen without its newline
}

func newProgress(w io.Writer) *progress {
	if w == nil {
		w = io.Discard
	}
	p := &progress{w: w, start: time.Now()}
	f, ok := w.(*os.File)
	if ok {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		p.tty = err == nil
	}
	return p
}

func (p *progress) stamp() string {
	return fmt.Sprintf("[%6.1fs]", time.Since(p.start).Seconds())
}

func (p *progress) endLine() {
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
	fmt.Fprintf(p.w, "\r\033[K%s %s %d%%", p.stamp(), label, pct)
	p.pending = true
}
