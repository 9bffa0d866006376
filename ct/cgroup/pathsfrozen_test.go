package cgroup

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPathsFrozen(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for f, c := range map[string]string{"freezer.state": content, "cgroup.events": content} {
			if err := os.WriteFile(filepath.Join(d, f), []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	for _, c := range []struct {
		paths map[string]string
		want  bool
	}{
		{map[string]string{"freezer": write("v1frozen", "FROZEN\n"), "memory": "/nonexistent"}, true},
		{map[string]string{"freezer": write("v1freezing", "FREEZING\n")}, true},
		{map[string]string{"freezer": write("v1thawed", "THAWED\n")}, false},
		{map[string]string{UnifiedName: write("v2frozen", "populated 1\nfrozen 1\n")}, true},
		{map[string]string{UnifiedName: write("v2thawed", "populated 1\nfrozen 0\n")}, false},
		{map[string]string{UnifiedName: filepath.Join(dir, "gone")}, false},
		{map[string]string{"memory": "/nonexistent"}, false},
	} {
		if got, _ := PathsFrozen(c.paths); got != c.want {
			t.Errorf("PathsFrozen(%v) = %v, want %v", c.paths, got, c.want)
		}
	}
}
