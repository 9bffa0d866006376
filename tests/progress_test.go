package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// vzctl create draws a progress bar while it unpacks the template when its
// output is a terminal (script(1) gives it a pty), and none when it is a
// pipe: scripts read the same lines as before.
func TestCreateProgressOnTerminalOnly(t *testing.T) {
	n := newNode(t)
	tmpl := "busybox-" + arch()
	vzctl := filepath.Join(binDir, "vzctl")
	c := exec.Command("script", "-qec", vzctl+" create 101 --ostemplate "+tmpl, "/dev/null")
	c.Env = append(os.Environ(), "VZ_ROOT="+n.root)
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("vzctl create on a pty: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Unpacking the template") || !strings.Contains(string(out), "%") {
		t.Errorf("no progress bar on a terminal:\n%q", out)
	}
	r := n.ok("vzctl", "create", "102", "--ostemplate", tmpl)
	if strings.Contains(r.out+r.err, "Unpacking the template") || strings.Contains(r.out, "\r") {
		t.Errorf("progress bar on a pipe:\n%s", r)
	}
	// --quiet: none on a terminal either.
	c = exec.Command("script", "-qec", vzctl+" --quiet create 103 --ostemplate "+tmpl, "/dev/null")
	c.Env = append(os.Environ(), "VZ_ROOT="+n.root)
	if out, err := c.CombinedOutput(); err != nil || strings.Contains(string(out), "Unpacking") {
		t.Errorf("vzctl --quiet create on a pty: %v\n%q", err, out)
	}
}
