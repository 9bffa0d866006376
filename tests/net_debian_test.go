package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNetDebian: a Debian guest's own networking keeps venet0 configured
// across restarts of its networking service: ifupdown (enabled in the
// template) from /etc/network/interfaces, and systemd-networkd from its
// unit once enabled; a live --ipadd reaches both files.
func TestNetDebian(t *testing.T) {
	w := newNetWorld(t, false)
	src := debianTemplate(t)
	if err := os.Link(src, w.path("template/cache/"+filepath.Base(src))); err != nil {
		t.Fatal(err)
	}
	name := strings.TrimSuffix(filepath.Base(src), ".tar.gz")
	w.ok("vzctl", "create", "101", "--ostemplate", name, "--hostname", "deb.example",
		"--ipadd", "10.77.0.10/24", "--ipadd", "fd00:77::10/64")
	w.ok("vzctl", "start", "101", "--wait")
	if r := w.run("vzctl", "exec2", "101", "systemctl", "is-system-running", "--wait"); strings.TrimSpace(r.out) != "running" {
		failed := w.run("vzctl", "exec2", "101", "systemctl", "--failed", "--no-legend", "--no-pager")
		t.Fatalf("is-system-running: %q; failed units:\n%s", r.out, failed.out)
	}
	reachable := func(when string, addrs ...string) {
		t.Helper()
		// After a restart of the guest's network service the address may
		// need a moment (IPv6 DAD, neighbour entries): retry briefly.
		for _, a := range addrs {
			for end := time.Now().Add(10 * time.Second); !w.lanPings(a); {
				if time.Now().After(end) {
					t.Fatalf("%s: %s is not reachable from the LAN", when, a)
				}
			}
		}
	}
	reachable("after boot", "10.77.0.10", "fd00:77::10")
	if r := w.ok("vzctl", "exec2", "101", "hostname", "--fqdn"); strings.TrimSpace(r.out) != "deb.example" {
		t.Errorf("hostname --fqdn: %q", r.out)
	}

	// ifupdown: down takes the addresses away, up and a restart of the
	// service bring them back.
	w.ok("vzctl", "exec2", "101", "ifdown", "venet0")
	if w.lanPings("10.77.0.10") {
		t.Error("ifdown venet0 left the address up")
	}
	w.ok("vzctl", "exec2", "101", "ifup", "venet0")
	reachable("after ifup", "10.77.0.10", "fd00:77::10")
	w.ok("vzctl", "exec2", "101", "systemctl", "restart", "networking")
	reachable("after restarting networking", "10.77.0.10", "fd00:77::10")

	// Live --ipadd: the guest's files follow, so its service keeps it.
	w.ok("vzctl", "set", "101", "--ipadd", "10.77.0.11", "--save")
	w.ok("vzctl", "exec2", "101", "systemctl", "restart", "networking")
	reachable("after --ipadd and a restart", "10.77.0.11")

	// systemd-networkd manages venet0 from govz's unit.
	w.ok("vzctl", "exec2", "101", "systemctl", "start", "systemd-networkd")
	w.ok("vzctl", "exec2", "101", "systemctl", "restart", "systemd-networkd")
	reachable("after restarting systemd-networkd", "10.77.0.10", "10.77.0.11", "fd00:77::10")
	// networkd reports "configuring" until it has applied the whole
	// unit; wait for it to settle.
	for end := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r := w.ok("vzctl", "exec2", "101", "networkctl", "--no-pager", "--no-legend", "list", "venet0")
		if strings.Contains(r.out, " configured") {
			break
		}
		if time.Now().After(end) {
			t.Errorf("networkd does not manage venet0: %q", r.out)
			break
		}
	}
	w.ok("vzctl", "stop", "101")
}
