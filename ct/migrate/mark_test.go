package migrate

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
		if c, err := m.changes(root); err != nil || len(c) != 0 {
			t.Fatalf("%s: before the change: changes %q, %v", tc.name, c, err)
		}
		if err := tc.change(); err != nil {
			t.Fatal(err)
		}
		if c, err := m.changes(root); err != nil || len(c) == 0 {
			t.Fatalf("%s: the change was not seen (%v)", tc.name, err)
		}
		os.Remove(m.path)
	}
}

// rsync of only what a mark lists makes the copy the tree again: files
// written, removed, renamed across directories, a directory removed with
// its contents, a new one with its own, a new hard link, the root's own
// entries.
func TestMarkChangesSync(t *testing.T) {
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Fatalf("rsync missing (make deps): %v", err)
	}
	base := t.TempDir()
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	w := func(p, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w("top", "1")
	w("a/f", "2")
	w("a/b/g", "3")
	w("c/h", "4")
	w("d/e/i", "5")
	w("keep/k", "6")
	sync := func(only []string) {
		t.Helper()
		c := exec.Command("rsync", rsyncArgs("", src, dst, only)...)
		if only != nil {
			c.Stdin = strings.NewReader(strings.Join(only, "\x00") + "\x00")
		}
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("rsync: %v\n%s", err, out)
		}
	}
	sync(nil)
	time.Sleep(30 * time.Millisecond)
	m, err := newMark(base, 101)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(src, "top"))
	w("new", "7")
	w("a/f", "changed")
	os.Rename(filepath.Join(src, "c/h"), filepath.Join(src, "a/h"))
	os.RemoveAll(filepath.Join(src, "d"))
	w("x/y/z", "8")
	os.Link(filepath.Join(src, "keep/k"), filepath.Join(src, "a/k"))
	list, err := m.changes(src)
	if err != nil {
		t.Fatal(err)
	}
	sync(list)
	if out, err := exec.Command("diff", "-r", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("after a sync of %q the copy differs: %v\n%s", list, err, out)
	}
	var a, k os.FileInfo
	if a, err = os.Stat(filepath.Join(dst, "a/k")); err == nil {
		k, err = os.Stat(filepath.Join(dst, "keep/k"))
	}
	if err != nil || !os.SameFile(a, k) {
		t.Errorf("the new hard link is not one in the copy (%v)", err)
	}
}
