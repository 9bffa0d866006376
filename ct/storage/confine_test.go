package storage

import (
	"os"
	"path/filepath"
	"testing"
)

func TestConfine(t *testing.T) {
	base := t.TempDir()
	made := filepath.Join(base, "a", "private")
	if err := Confine(made); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(base, "root")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o755|os.ModeSticky)
	if err := Confine(open); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{made: 0o700, open: 0o700 | os.ModeSticky} {
		st, err := os.Stat(p)
		if err != nil || st.Mode()&(os.ModePerm|os.ModeSticky) != want {
			t.Errorf("%s: %v %v, want %v", p, st.Mode(), err, want)
		}
	}
	f := filepath.Join(base, "file")
	os.WriteFile(f, nil, 0o644)
	if err := Confine(f); err == nil {
		t.Error("a file was taken for a directory")
	}
	if err := Confine("/"); err == nil {
		t.Error("/ was made root-only")
	}
}
