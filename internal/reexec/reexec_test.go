package reexec

import (
	"strings"
	"testing"
)

// TestVerbsOneScheme: every verb is named in the one scheme, once.
func TestVerbsOneScheme(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range Verbs() {
		if !strings.HasPrefix(v.Name, Prefix) || len(v.Name) == len(Prefix) || strings.ToLower(v.Name) != v.Name {
			t.Errorf("verb %q is not %s<lower-case role>", v.Name, Prefix)
		}
		if seen[v.Name] {
			t.Errorf("verb %q listed twice", v.Name)
		}
		seen[v.Name] = true
		if !strings.HasPrefix(v.Owner, "govz/") {
			t.Errorf("verb %q: owner %q", v.Name, v.Owner)
		}
	}
	if len(seen) != 5 {
		t.Errorf("%d verbs, want the 5 hidden verbs", len(seen))
	}
}

// TestDispatchEachVerb: every Go verb reaches its own handler with the
// arguments after it; a constructor verb, a verb without a handler and an
// unknown verb are errors (status 2), not commands; anything else is left
// to main.
func TestDispatchEachVerb(t *testing.T) {
	var got []string
	h := Handlers{}
	for _, v := range Verbs() {
		if v.Kind == Go {
			name := v.Name
			h[name] = func(args []string) int {
				got = append(got, name+" "+strings.Join(args, " "))
				return 7
			}
		}
	}
	for _, v := range Verbs() {
		got = nil
		code, ok := Dispatch([]string{"vzctl", v.Name, "a", "b"}, h)
		switch v.Kind {
		case Go:
			if !ok || code != 7 || len(got) != 1 || got[0] != v.Name+" a b" {
				t.Errorf("%s: dispatched %v, %d, calls %q", v.Name, ok, code, got)
			}
		case Constructor:
			if !ok || code != 2 || len(got) != 0 {
				t.Errorf("%s (constructor) reached Go: %v, %d, calls %q", v.Name, ok, code, got)
			}
		}
	}
	got = nil
	for _, argv := range [][]string{{"vzlist", Supervisor}, {"vzctl", Prefix + "nope"}} {
		if code, ok := Dispatch(argv, Handlers{}); !ok || code != 2 {
			t.Errorf("%v: %v, %d; want refused with 2", argv, ok, code)
		}
	}
	for _, argv := range [][]string{{"vzctl"}, {"vzctl", "start", "101"}, {"vzctl", "__doc"}} {
		if _, ok := Dispatch(argv, h); ok || len(got) != 0 {
			t.Errorf("%v taken as a hidden verb", argv)
		}
	}
	if err := check(NSExec, h); err == nil || !strings.Contains(err.Error(), "cgo") {
		t.Errorf("constructor verb error %v", err)
	}
}
