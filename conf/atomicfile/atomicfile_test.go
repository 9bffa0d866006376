package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// Both ways replace the file whole, with the asked mode, and leave no
// temporary file behind.
func TestWriteFileAndReplace(t *testing.T) {
	for name, write := range map[string]func(string, []byte, os.FileMode) error{"WriteFile": WriteFile, "Replace": Replace} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "state.json")
			if err := os.WriteFile(p, []byte("old content, longer than the new one"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := write(p, []byte("new"), 0o600); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(p)
			if err != nil || string(b) != "new" {
				t.Fatalf("content %q (%v), want %q", b, err, "new")
			}
			fi, err := os.Stat(p)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("mode %v (%v), want 0600", fi.Mode().Perm(), err)
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 1 {
				t.Fatalf("directory holds %d entries, want the file alone", len(ents))
			}
		})
	}
}
