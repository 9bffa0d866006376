package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestLinksNoRuntime pins the dependency graph: vzlist reads configs and
// status only, and vzifup-post locks containers and restores proxy
// entries only, so neither links the container runtime (the root ct
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
	forbidden := map[string]bool{
		"govz/ct": true, "govz/ct/supervisor": true, "govz/ct/nsinit": true,
		"govz/ct/attach": true, "govz/ct/nsenter": true, "govz/templates/untar": true,
	}
	for _, cmd := range []struct{ name, dir string }{{"vzlist", "."}, {"vzifup-post", "../vzifup-post"}} {
		out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}} {{len .CgoFiles}}", cmd.dir).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", cmd.dir, err, out)
		}
		seen := 0
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			pkg, cgo, _ := strings.Cut(l, " ")
			if !strings.HasPrefix(pkg, "govz/") {
				continue
			}
			seen++
			if forbidden[pkg] {
				t.Errorf("%s links %s", cmd.name, pkg)
			}
			if cgo != "0" {
				t.Errorf("%s links %s, which has cgo files", cmd.name, pkg)
			}
		}
		if seen < 3 {
			t.Fatalf("go list %s named %d of our packages: %s", cmd.dir, seen, out)
		}
	}
}
