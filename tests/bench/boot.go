package main

import (
	"fmt"
	"time"
)

// bootRun is one start/ready/stop cycle of one tool. Durations are from
// the moment the start command was issued, except stop, which is from the
// stop request to "container gone".
type bootRun struct {
	started    time.Duration // start command returned (or init exec'd)
	hasStarted bool
	ready      time.Duration
	stop       time.Duration
	note       string // e.g. the state is-system-running answered
}

// bootTool is one contender of a boot section.
type bootTool struct {
	name  string
	run   func() (bootRun, error)
	reset func() // after a failed run: force the container down
	off   string // why the tool is not (or no longer) measured

	started, ready, stop series
	notes                map[string]int
}

// maxFails disables a tool after this many failed timed runs.
const maxFails = 3

func newTool(name, off string, run func() (bootRun, error), reset func()) *bootTool {
	return &bootTool{name: name, off: off, run: run, reset: reset, notes: map[string]int{}}
}

// rounds runs every tool warmup+runs times, rotating the order every round
// so that a slow drift of the host hits all of them alike.
func (b *bench) rounds(tools []*bootTool, runs int) {
	for round := -b.cfg.warmup; round < runs && b.ctx.Err() == nil; round++ {
		for i := range tools {
			t := tools[(i+max(round, 0))%len(tools)]
			if t.off != "" || b.ctx.Err() != nil {
				continue
			}
			r, err := t.run()
			if err != nil {
				b.logf("%s (round %d): %v", t.name, round, err)
				if t.reset != nil {
					t.reset()
				}
				if round < 0 {
					t.off = "failed: " + errFirstLine(err)
					continue
				}
				t.ready.fails++
				if t.ready.fails >= maxFails {
					t.off = fmt.Sprintf("failed %d times, last: %s", t.ready.fails, errFirstLine(err))
				}
				continue
			}
			if round < 0 {
				continue
			}
			if r.hasStarted {
				t.started.add(r.started)
			}
			t.ready.add(r.ready)
			t.stop.add(r.stop)
			if r.note != "" {
				t.notes[r.note]++
			}
		}
	}
}

// fig returns one of t's figures as a table cell: n/a with the reason when
// t was not measured.
func (t *bootTool) fig(s *series) *series {
	if t == nil {
		return naSeries("not measured")
	}
	if len(s.vals) == 0 {
		if t.off != "" {
			return naSeries(t.name + ": " + t.off)
		}
		return naSeries(t.name + ": no successful run")
	}
	return s
}

func (t *bootTool) figStarted() *series { return t.fig(&t.started) }
func (t *bootTool) figReady() *series   { return t.fig(&t.ready) }
func (t *bootTool) figStop() *series    { return t.fig(&t.stop) }

// notesString summarises the notes (e.g. "running x10").
func (t *bootTool) notesString() string {
	s := ""
	for k, v := range t.notes {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%s x%d", k, v)
	}
	return s
}
