package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestLinksNoRuntime pins the dependency graph: vzlist reads configs and
// status only, so it links neither the container runtime (the root ct
// package, the supervisor, nsinit, attach, nsenter), nor the template
// extractor, nor any package of ours with C in it.
func TestLinksNoRuntime(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("go is not on PATH")
		}
		t.Skip("go is not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}} {{len .CgoFiles}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := map[string]bool{
		"govz/ct": true, "govz/ct/supervisor": true, "govz/ct/nsinit": true,
		"govz/ct/attach": true, "govz/ct/nsenter": true, "govz/templates/untar": true,
	}
	seen := 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, cgo, _ := strings.Cut(l, " ")
		if !strings.HasPrefix(pkg, "govz/") {
			continue
		}
		seen++
		if forbidden[pkg] {
			t.Errorf("vzlist links %s", pkg)
		}
		if cgo != "0" {
			t.Errorf("vzlist links %s, which has cgo files", pkg)
		}
	}
	if seen < 3 {
		t.Fatalf("go list named %d of our packages: %s", seen, out)
	}
}
