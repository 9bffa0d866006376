package main

import (
	"testing"

	"govz/internal/clidoc"
)

// The man page and both completion scripts name every command and option
// of the table, and nothing else.
func TestDocsCoverTables(t *testing.T) {
	tool := docTool()
	for _, p := range clidoc.Check(tool.App, tool.Man("test"), clidoc.Bash(tool.App), clidoc.Zsh(tool.App)) {
		t.Error(p)
	}
}
