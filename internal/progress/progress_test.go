package progress

import (
	"os"
	"testing"
)

// A pipe is not a terminal: no hook, so no bar and no cost.
func TestNoBarOffTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if Bytes(w, "x") != nil {
		t.Fatal("a pipe got a progress bar")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if Bytes(f, "x") != nil {
		t.Fatal("a file got a progress bar")
	}
}
