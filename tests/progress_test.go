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

// The image layout's long steps draw bars on a terminal only: an offline
// --diskspace change's e2fsck (and resize2fs's passes, create's copy,
// when they last long enough to be drawn, which a grow or a busybox
// template does not); none on a pipe, none with --quiet.
func TestImageProgressOnTerminalOnly(t *testing.T) {
	n := newNode(t)
	vzctl := filepath.Join(binDir, "vzctl")
	onPTY := func(args string) string {
		t.Helper()
		c := exec.Command("script", "-qec", vzctl+" "+args, "/dev/null")
		c.Env = append(os.Environ(), "VZ_ROOT="+n.root)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("vzctl %s on a pty: %v\n%s", args, err, out)
		}
		return string(out)
	}
	onPTY("create 101 --layout image --diskspace 1G")
	out := onPTY("set 101 --diskspace 2G --save")
	for _, want := range []string{"Checking the image", "%"} {
		if !strings.Contains(out, want) {
			t.Errorf("set --diskspace on a terminal: no %q:\n%q", want, out)
		}
	}
	// A pipe: the lines as before, no bar.
	r := n.ok("vzctl", "create", "102", "--layout", "image", "--diskspace", "1G")
	if strings.Contains(r.out+r.err, "Copying the template image") || strings.Contains(r.out, "\r") {
		t.Errorf("progress bar on a pipe:\n%s", r)
	}
	r = n.ok("vzctl", "set", "102", "--diskspace", "2G", "--save")
	if strings.Contains(r.out+r.err, "Checking the image") || strings.Contains(r.out, "\r") {
		t.Errorf("progress bar on a pipe:\n%s", r)
	}
	// --quiet: none on a terminal either.
	for _, args := range []string{"--quiet create 103 --layout image --diskspace 1G", "--quiet set 103 --diskspace 2G --save"} {
		if out := onPTY(args); strings.Contains(out, "image") || strings.Contains(out, "%") {
			t.Errorf("vzctl %s on a pty:\n%q", args, out)
		}
	}
	for _, id := range []string{"101", "102", "103"} {
		n.ok("vzctl", "destroy", id)
	}
	n.noLeftovers()
}
