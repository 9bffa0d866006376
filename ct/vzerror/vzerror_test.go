package vzerror

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"testing"
)

// Walk meets a tree level by level, left to right within a level, and
// stops when visit says so.
func TestWalkOrder(t *testing.T) {
	a, b, c, d := errors.New("a"), errors.New("b"), errors.New("c"), errors.New("d")
	inner := fmt.Errorf("inner: %w", a)
	join := errors.Join(b, fmt.Errorf("c: %w", c))
	top := fmt.Errorf("top: %w: %w: %w", inner, join, d)
	var got []error
	Walk(top, func(e error) bool { got = append(got, e); return false })
	// top; inner, join, d; a, b, wrap(c); c
	want := []error{top, inner, join, d, a, b, got[6], c}
	if len(got) != len(want) || !slices.Equal(got[:6], want[:6]) || !errors.Is(got[7], c) || got[6].Error() != "c: c" {
		t.Fatalf("order %q, want %q", got, want)
	}
	n := 0
	Walk(top, func(e error) bool { n++; return any(e) == any(d) })
	if n != 4 {
		t.Errorf("visited %d nodes after stopping at the 4th", n)
	}
	Walk(nil, func(error) bool { t.Error("visited nil"); return false })
}

// Every class of the var block is listed once, and no two share a
// message: the message is the class's name on the wire
// (ct/nsinit.RemoteError).
func TestSentinelsComplete(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "vzerror.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.VAR {
			for _, sp := range g.Specs {
				for _, n := range sp.(*ast.ValueSpec).Names {
					declared[n.Name] = true
				}
			}
		}
	}
	seen := map[string]bool{}
	for _, e := range Sentinels() {
		if seen[e.Error()] {
			t.Errorf("%q twice", e)
		}
		seen[e.Error()] = true
	}
	if len(seen) != len(declared) {
		t.Errorf("Sentinels() has %d classes, the var block %d", len(seen), len(declared))
	}
}
