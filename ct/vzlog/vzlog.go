// Package vzlog writes vzctl's messages: to the console (stdout for
// progress, stderr for errors and warnings) and to the log file, in vzctl's
// line format:
//
//	2026-11-22T18:40:00.123+01:00 vzctl : CT 101 : Container private area was created
//
// Every log govz writes (vzctl.log here, the supervisor's log in the
// container's run directory, the hooks' warnings in it) stamps its lines
// with TimeFormat: RFC 3339 with milliseconds in the host's local zone.
// One format, so that the lines of one boot can be merged and sorted
// across files; milliseconds, because a start and its supervisor's first
// steps happen within one second; the host's zone (with its offset
// written out), as vzctl 4.x stamps vzctl.log, whose format
// (2006-01-02T15:04:05-0700) was one of three before and differs only in
// the fraction and the colon in the offset.
//
// LOG_LEVEL gates the file, VERBOSE and --verbose the console, --quiet
// silences the console but never the file (vzctl.md §6.3).
package vzlog

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// TimeFormat is the timestamp of every govz log line (see the package
// documentation).
const TimeFormat = "2006-01-02T15:04:05.000-07:00" // numeric offset, +00:00 rather than Z

// Stamp formats t for a log line.
func Stamp(t time.Time) string { return t.Local().Format(TimeFormat) }

// Logger is one command's logger. The zero value discards everything.
type Logger struct {
	mu           sync.Mutex
	Prog         string    // "vzctl"
	CT           int       // container the command is about; 0 = none
	Out, Err     io.Writer // console; nil = discard
	ConsoleLevel int       // messages at or below this level reach the console
	Quiet        bool
	file         *os.File
	fileLevel    int
	tag          string // console prefix of a WithCT logger
	shared       bool   // file belongs to the parent logger
}

// WithCT returns a logger for container id sharing l's console and log
// file, for a command that works on several containers at once (node boot
// and shutdown): its file lines carry the CTID as usual, its console lines
// start with "CT id: " so that interleaved lines stay attributable.
func (l *Logger) WithCT(id int) *Logger {
	return &Logger{Prog: l.Prog, CT: id, Out: l.Out, Err: l.Err, ConsoleLevel: l.ConsoleLevel, Quiet: l.Quiet,
		file: l.file, fileLevel: l.fileLevel, tag: "CT " + strconv.Itoa(id) + ": ", shared: true}
}

// OpenFile starts appending to path at level; a failure to open the log is
// reported on the console and otherwise ignored, as vzctl does.
func (l *Logger) OpenFile(path string, level int) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		l.console(l.Err, "Warning: unable to open log file "+path+": "+err.Error())
		return
	}
	l.file, l.fileLevel = f, level
}

// Close closes the log file.
func (l *Logger) Close() {
	if l.file != nil && !l.shared {
		l.file.Close()
		l.file = nil
	}
}

// Infof logs a normal message (level 0): stdout and file.
func (l *Logger) Infof(format string, a ...any) { l.log(0, false, fmt.Sprintf(format, a...)) }

// Debugf logs at level (1 and up): only with --verbose or LOG_LEVEL.
func (l *Logger) Debugf(level int, format string, a ...any) {
	l.log(level, false, fmt.Sprintf(format, a...))
}

// Warnf logs a warning to stderr and file.
func (l *Logger) Warnf(format string, a ...any) {
	l.log(0, true, "WARNING: "+fmt.Sprintf(format, a...))
}

// Errorf logs an error (level -1) to stderr and file.
func (l *Logger) Errorf(format string, a ...any) { l.log(-1, true, fmt.Sprintf(format, a...)) }

func (l *Logger) log(level int, isErr bool, msg string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil && level <= l.fileLevel {
		ct := ""
		if l.CT > 0 {
			ct = "CT " + strconv.Itoa(l.CT) + " : "
		}
		fmt.Fprintf(l.file, "%s %s : %s%s\n", Stamp(time.Now()), l.Prog, ct, msg)
	}
	if l.Quiet || level > l.ConsoleLevel {
		return
	}
	if isErr {
		l.console(l.Err, msg)
	} else {
		l.console(l.Out, msg)
	}
}

func (l *Logger) console(w io.Writer, msg string) {
	if w != nil {
		fmt.Fprintln(w, l.tag+msg)
	}
}
