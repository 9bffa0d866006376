package main

import (
	"testing"

	"govz/internal/reexec"
)

// TestReexecHandlers: vzctl, the executable every re-exec runs, handles
// each Go hidden verb of the registry, and nothing else.
func TestReexecHandlers(t *testing.T) {
	h := reexecHandlers()
	want := 0
	for _, v := range reexec.Verbs() {
		if v.Kind != reexec.Go {
			continue
		}
		want++
		if h[v.Name] == nil {
			t.Errorf("vzctl does not dispatch hidden verb %s (%s)", v.Name, v.Owner)
		}
	}
	if len(h) != want {
		t.Errorf("vzctl handles %d hidden verbs, the registry has %d Go verbs", len(h), want)
	}
}
