package vzlog

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWithCT(t *testing.T) {
	var out bytes.Buffer
	l := &Logger{Prog: "vzctl", Out: &out}
	p := filepath.Join(t.TempDir(), "log")
	l.OpenFile(p, 0)
	c := l.WithCT(101)
	c.Infof("Starting container")
	c.Close() // shares the parent's file: must not close it
	l.Infof("done")
	l.Close()
	if got := out.String(); got != "CT 101: Starting container\ndone\n" {
		t.Fatalf("console %q", got)
	}
	b, _ := os.ReadFile(p)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "vzctl : CT 101 : Starting container") || !strings.HasSuffix(lines[1], "vzctl : done") {
		t.Fatalf("log file:\n%s", b)
	}
}

// Every log line starts with one timestamp format: RFC 3339 with
// milliseconds and the zone's offset.
func TestTimeFormat(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	l := &Logger{Prog: "vzctl", CT: 101}
	l.OpenFile(p, 0)
	before := time.Now().Truncate(time.Millisecond)
	l.Infof("Starting container")
	after := time.Now()
	l.Close()
	b, _ := os.ReadFile(p)
	stamp, rest, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	if rest != "vzctl : CT 101 : Starting container" {
		t.Fatalf("line %q", b)
	}
	ts, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		t.Fatalf("stamp %q is not RFC 3339: %v", stamp, err)
	}
	if len(stamp) != len("2006-01-02T15:04:05.000+01:00") {
		t.Errorf("stamp %q: want milliseconds and a numeric offset", stamp)
	}
	if ts.Before(before) || ts.After(after) {
		t.Errorf("stamp %v not between %v and %v", ts, before, after)
	}
	if _, off := ts.Zone(); off != func() int { _, o := before.Zone(); return o }() {
		t.Errorf("stamp %q not in the local zone", stamp)
	}
	if got := Stamp(time.Date(2026, 11, 22, 18, 40, 0, 123456789, time.FixedZone("", 3600)).In(time.UTC)); !strings.HasPrefix(got, "2026-11-22T") || !strings.Contains(got, ".123") {
		t.Errorf("Stamp = %q", got)
	}
}
