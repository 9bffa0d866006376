package vzlog

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
