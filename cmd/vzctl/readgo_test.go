package main

import (
	"io"
	"strings"
	"testing"
)

// restore --wait-stdin restores on the line "go" only, and takes nothing
// after that line from the stdin it shares.
func TestReadGo(t *testing.T) {
	r := strings.NewReader("go\nrest")
	if err := readGo(r); err != nil {
		t.Fatalf("go: %v", err)
	}
	if rest, _ := io.ReadAll(r); string(rest) != "rest" {
		t.Errorf("read past the line: %q left", rest)
	}
	for _, in := range []string{"", "go", "no\n", "gone\n", "\ngo\n"} {
		err := readGo(strings.NewReader(in))
		if (err == nil) != (in == "go") {
			t.Errorf("readGo(%q) = %v", in, err)
		}
	}
}
