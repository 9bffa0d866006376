package migrate

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A mark sees a write, a removal (its directory's ctime), a chmod and a
// rename deep in the tree, and nothing when nothing changed.
func TestMarkChanged(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "101")
	for _, d := range []string{"etc", "root/a/b"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"etc/passwd", "root/a/b/f", "root/a/g"} {
		os.WriteFile(filepath.Join(root, f), []byte("x"), 0o644)
	}
	for _, tc := range []struct {
		name   string
		change func() error
	}{
		{"write", func() error { return os.WriteFile(filepath.Join(root, "root/a/b/f"), []byte("y"), 0o644) }},
		{"remove", func() error { return os.Remove(filepath.Join(root, "root/a/g")) }},
		{"chmod", func() error { return os.Chmod(filepath.Join(root, "etc/passwd"), 0o600) }},
		{"rename", func() error { return os.Rename(filepath.Join(root, "root/a/b/f"), filepath.Join(root, "root/a/b/h")) }},
	} {
		// Past the clock tick of the last change (coarse timestamps).
		time.Sleep(30 * time.Millisecond)
		m, err := newMark(base, 101)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := m.changed(root); err != nil || c {
			t.Fatalf("%s: before the change: changed %v, %v", tc.name, c, err)
		}
		if err := tc.change(); err != nil {
			t.Fatal(err)
		}
		if c, err := m.changed(root); err != nil || !c {
			t.Fatalf("%s: the change was not seen (%v)", tc.name, err)
		}
		os.Remove(m.path)
	}
}
