package conf

import (
	"regexp"
	"strings"
	"testing"
)

// TestHostnameLabel: the loop accepts exactly what the RFC 1123 label
// pattern it replaced accepts.
func TestHostnameLabel(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	cases := []string{"", "a", "-", "a-", "-a", "a-b", "A9", "a_b", "a.b", "ä", "a b", "a\n", "0",
		strings.Repeat("a", 63), strings.Repeat("a", 64), "x" + strings.Repeat("-", 61) + "y", "x" + strings.Repeat("-", 62)}
	for _, c := range cases {
		if got, want := hostnameLabel(c), re.MatchString(c); got != want {
			t.Errorf("hostnameLabel(%q) = %v, the pattern says %v", c, got, want)
		}
	}
}
