package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// series is one figure: the values measured for it in this run (ms, KiB,
// ...), or the reason there is none.
type series struct {
	vals  []float64
	na    string
	fails int // runs that failed (their values are missing)
}

func (s *series) add(d time.Duration) { s.vals = append(s.vals, ms(d)) }
func (s *series) addV(v float64)      { s.vals = append(s.vals, v) }

// ok reports whether s has a figure.
func (s *series) ok() bool { return s != nil && s.na == "" && len(s.vals) > 0 }

func (s *series) median() float64 {
	v := slices.Clone(s.vals)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// naSeries is a cell without a figure; reason says why.
func naSeries(reason string) *series { return &series{na: reason} }

// one is a figure measured once (a sum, a per-container average).
func one(v float64) *series { return &series{vals: []float64{v}} }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// num prints a value with precision that suits its size.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a < 10:
		return fmt.Sprintf("%.2f", v)
	case a < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// row is one line of a table: our figure, the kernel's lower bound and one
// figure per peer (in table.peers order; nil = not measured for this row).
type row struct {
	what  string
	ours  *series
	bound *series
	peers []*series
}

// table is one section's result.
type table struct {
	title string
	peers []string
	rows  []row
	notes []string
}

func (t *table) add(r row) { t.rows = append(t.rows, r) }

func (t *table) note(format string, a ...any) { t.notes = append(t.notes, fmt.Sprintf(format, a...)) }

// render prints t as aligned text: what, ours, bound, each peer, then the
// ratios ours/bound and ours/peer. Missing figures print as n/a[k] with the
// reason in footnote k.
func (t *table) render(w io.Writer) {
	var foot []string
	footIdx := map[string]int{}
	cell := func(s *series) string {
		switch {
		case s == nil:
			return "-"
		case s.na != "" || len(s.vals) == 0:
			r := s.na
			if r == "" {
				r = "no successful run"
			}
			i, seen := footIdx[r]
			if !seen {
				foot = append(foot, r)
				i = len(foot)
				footIdx[r] = i
			}
			return fmt.Sprintf("n/a[%d]", i)
		case len(s.vals) == 1:
			return num(s.vals[0]) + failNote(s)
		}
		return fmt.Sprintf("%s (%s-%s)", num(s.median()), num(slices.Min(s.vals)), num(slices.Max(s.vals))) + failNote(s)
	}
	ratio := func(a, b *series) string {
		if !a.ok() || !b.ok() || b.median() == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", a.median()/b.median())
	}
	head := []string{"what", "ours", "bound"}
	head = append(head, t.peers...)
	head = append(head, "ours/bound")
	for _, p := range t.peers {
		head = append(head, "ours/"+p)
	}
	lines := [][]string{head}
	for _, r := range t.rows {
		l := []string{r.what, cell(r.ours), cell(r.bound)}
		for i := range t.peers {
			l = append(l, cell(peerAt(r, i)))
		}
		l = append(l, ratio(r.ours, r.bound))
		for i := range t.peers {
			l = append(l, ratio(r.ours, peerAt(r, i)))
		}
		lines = append(lines, l)
	}
	width := make([]int, len(head))
	for _, l := range lines {
		for i, c := range l {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	fmt.Fprintf(w, "\n== %s\n", t.title)
	for n, l := range lines {
		var sb strings.Builder
		for i, c := range l {
			if i > 0 {
				sb.WriteString("  ")
			}
			sb.WriteString(c)
			if i < len(l)-1 {
				sb.WriteString(strings.Repeat(" ", width[i]-len([]rune(c))))
			}
		}
		fmt.Fprintln(w, sb.String())
		if n == 0 {
			total := len(width)*2 - 2
			for _, x := range width {
				total += x
			}
			fmt.Fprintln(w, strings.Repeat("-", total))
		}
	}
	for _, n := range t.notes {
		fmt.Fprintf(w, "  * %s\n", n)
	}
	for i, f := range foot {
		fmt.Fprintf(w, "  [%d] %s\n", i+1, f)
	}
}

func peerAt(r row, i int) *series {
	if i < len(r.peers) {
		return r.peers[i]
	}
	return nil
}

func failNote(s *series) string {
	if s.fails > 0 {
		return fmt.Sprintf(" !%d failed", s.fails)
	}
	return ""
}

// writeRaw prints every measured value, one line per cell (tab-separated:
// table, row, column, values), for whoever wants more than medians.
func (t *table) writeRaw(w io.Writer) {
	title, _, _ := strings.Cut(t.title, ",")
	cols := append([]string{"ours", "bound"}, t.peers...)
	for _, r := range t.rows {
		cells := append([]*series{r.ours, r.bound}, r.peers...)
		for i, s := range cells {
			if !s.ok() || i >= len(cols) {
				continue
			}
			vals := make([]string, len(s.vals))
			for j, v := range s.vals {
				vals[j] = fmt.Sprintf("%.3f", v)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", title, r.what, cols[i], strings.Join(vals, "\t"))
		}
	}
}
