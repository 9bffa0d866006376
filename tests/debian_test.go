package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// debianTemplate is the Debian 12 systemd template built by `make test`
// (target debian-template) into a cache kept between runs.
func debianTemplate(t *testing.T) string {
	t.Helper()
	p := os.Getenv("GOVZ_DEBIAN_TEMPLATE")
	if p == "" {
		p = "/var/cache/govz-dev/template/cache/debian-12-" + arch() + ".tar.gz"
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("Debian template %s missing (make debian-template builds it): %v", p, err)
	}
	return p
}

func TestDebianSystemdGuest(t *testing.T) {
	n := newNode(t)
	src := debianTemplate(t)
	dst := n.path("template/cache/" + filepath.Base(src))
	if err := os.Link(src, dst); err != nil {
		t.Fatal(err)
	}
	name := strings.TrimSuffix(filepath.Base(src), ".tar.gz")
	n.ok("vzctl", "create", "101", "--ostemplate", name, "--hostname", "deb101")
	n.ok("vzctl", "start", "101", "--wait")
	if r := n.ok("vzctl", "exec2", "101", "cat", "/proc/1/comm"); r.out != "systemd\n" {
		t.Fatalf("init is %q", r.out)
	}
	// --wait returned on systemd's READY=1: the system is up, with no
	// failed units.
	r := n.run("vzctl", "exec2", "101", "systemctl", "is-system-running", "--wait")
	if strings.TrimSpace(r.out) != "running" {
		failed := n.run("vzctl", "exec2", "101", "systemctl", "--failed", "--no-legend", "--no-pager")
		t.Fatalf("is-system-running: %q; failed units:\n%s", r.out, failed.out)
	}
	if r := n.ok("vzctl", "exec2", "101", "hostname"); r.out != "deb101\n" {
		t.Fatalf("hostname %q", r.out)
	}
	if r := n.ok("vzctl", "exec2", "101", "systemd-detect-virt", "--container"); strings.TrimSpace(r.out) == "none" {
		t.Fatalf("systemd does not see a container: %q", r.out)
	}
	// Reboot from inside: a new boot with a new init.
	boot1, _ := n.runState("101")
	n.ok("vzctl", "exec", "101", "systemctl reboot")
	end := time.Now().Add(60 * time.Second)
	for {
		boot2, _ := n.runState("101")
		if boot2 != "" && boot2 != boot1 {
			r := n.run("vzctl", "exec2", "101", "systemctl", "is-system-running", "--wait")
			if strings.TrimSpace(r.out) == "running" {
				break
			}
		}
		if time.Now().After(end) {
			t.Fatal("Debian guest did not come back from reboot")
		}
		time.Sleep(100 * time.Millisecond)
	}
	n.stopClean("101")
	// poweroff from inside stops it for good.
	n.ok("vzctl", "start", "101", "--wait")
	n.ok("vzctl", "exec", "101", "systemctl poweroff")
	n.waitStatus("101", "CTID 101 exist unmounted down", 60*time.Second)
	n.noLeftovers()
}
