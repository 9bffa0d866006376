package tests

import (
	"os"
	"strings"
	"testing"
)

// The layer that knows what failed picks the exit code, not the class of
// the cause it wraps (issue 11: internal/exitcode reads the error tree
// outermost-first). A container config holding a bad hostname or address
// is an invalid config (85) for every command that loads it, though the
// cause, kept in the chain with %w and in the message, is a bad hostname
// (70) or ip (71); the same values given to vzctl set are those classes.
func TestExitCodeOuterClassWins(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	os.MkdirAll(n.path("private/105"), 0o755)
	for _, c := range []struct{ text, cause string }{
		{"hostname = \"-bad-\"\n", "bad hostname"},
		{"ip_address = [\"10.9.0.300\"]\n", "bad ip address"},
	} {
		n.writeFile("conf/105.toml", c.text)
		for _, cmd := range []string{"mount", "start", "stop"} {
			r := n.fails(85, "vzctl", cmd, "105")
			if !strings.Contains(r.err, "105.toml:1") || !strings.Contains(r.err, c.cause) {
				t.Errorf("vzctl %s with %q: message lacks the file or the cause: %q", cmd, c.text, r.err)
			}
		}
	}
	n.fails(70, "vzctl", "set", "101", "--hostname", "-bad-")
	n.fails(71, "vzctl", "set", "101", "--ipadd", "10.9.0.300")
}
