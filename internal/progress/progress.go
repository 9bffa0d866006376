// Package progress draws progress bars for long work (a template's first
// unpack, a build) with github.com/schollz/progressbar, on a terminal only:
// when the output is a pipe or a file, scripts and --json readers get the
// same bytes as before and no bar at all.
package progress

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Bytes returns a callback for the Progress hooks of ct and untar
// (done and total in bytes, total -1 when unknown) that draws a bar titled
// desc on w, or nil when w is not a terminal: a nil hook costs nothing.
// The bar is cleared when the work is done, so the lines after it read as
// they do without one.
func Bytes(w io.Writer, desc string) func(done, total int64) {
	return draw(w, desc, true)
}

// Count is Bytes for plain counts (percent of 100, files).
func Count(w io.Writer, desc string) func(done, total int64) {
	return draw(w, desc, false)
}

func draw(w io.Writer, desc string, bytes bool) func(done, total int64) {
	if !IsTerminal(w) {
		return nil
	}
	var bar *progressbar.ProgressBar
	var last int64
	return func(done, total int64) {
		// Work in passes (resize2fs) starts again from 0: a new bar
		// replaces the finished or overtaken one.
		if bar != nil && (bar.IsFinished() || done < last) {
			_ = bar.Finish()
			bar = nil
		}
		last = done
		if bar == nil {
			bar = progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription(desc),
				progressbar.OptionShowBytes(bytes),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
				progressbar.OptionOnCompletion(nil),
			)
		}
		_ = bar.Set64(done)
		if total > 0 && done >= total {
			_ = bar.Finish()
		}
	}
}
