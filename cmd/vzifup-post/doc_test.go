package main

import (
	"io"
	"testing"

	"govz/internal/clidoc"
)

// The man page and both completion scripts name every option of the
// table, and nothing else; run refuses an option the table lacks.
func TestDocsCoverTables(t *testing.T) {
	app := docApp()
	man := clidoc.Tool{App: app, Section: "8"}.Man("test")
	for _, p := range clidoc.Check(app, man, clidoc.Bash(app), clidoc.Zsh(app)) {
		t.Error(p)
	}
	if code := run([]string{"--bogus"}, io.Discard, io.Discard); code != 20 {
		t.Errorf("vzifup-post --bogus: status %d, want 20", code)
	}
}
