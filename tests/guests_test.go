package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// guestVariants are the Debian 12 templates built with the debian recipe's
// --init and --network options (Makefile: guest-templates), each booted
// for real: their own network stack must keep the interfaces govz
// configures (net/guest writes its files).
var guestVariants = []struct {
	name    string // the template's flavour
	init    string // /proc/1/comm
	systemd bool
	// reapply makes the guest's own stack configure venet0 and eth0 again
	// from its files, after their addresses were taken away.
	reapply string
}{
	{"sysvinit", "init", false, "ifdown venet0; ifdown eth0; ip addr flush dev venet0 scope global; ifup venet0 && ifup eth0"},
	{"openrc", "init", false, "ifdown venet0; ifdown eth0; ip addr flush dev venet0 scope global; ifup venet0 && ifup eth0"},
	// What `netplan apply` does for networkd, without its udevadm call
	// (the template has no udev: nothing to rename in a container).
	{"netplan", "systemd", true, "ip addr flush dev venet0 scope global; ip addr flush dev eth0 scope global; " +
		"netplan generate && networkctl reload && networkctl reconfigure venet0 eth0"},
	{"networkmanager", "systemd", true, "ip addr flush dev venet0 scope global; ip addr flush dev eth0 scope global; " +
		"nmcli connection reload && nmcli connection up govz-venet0 && nmcli connection up govz-eth0"},
}

// guestTemplate is variant's template in the development cache (make
// guest-templates builds them; GOVZ_GUEST_TEMPLATES names another cache).
func guestTemplate(t *testing.T, flavour string) string {
	t.Helper()
	dir := os.Getenv("GOVZ_GUEST_TEMPLATES")
	if dir == "" {
		dir = "/var/cache/govz-dev/template/cache"
	}
	p := filepath.Join(dir, "debian-12-"+arch()+"-"+flavour+".tar.gz")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("template %s missing (make guest-templates builds it): %v", p, err)
	}
	return p
}

// TestGuestDebianVariants boots each Debian variant in one test network
// (a bridge carrying the uplink, so routed and bridged containers share
// it): ready, reachable routed (IPv4, IPv6) and bridged, its own stack
// configuring both again from govz's files, a live --ipadd kept by that
// stack, reboot and poweroff from inside, vzctl stop; on systemd guests
// no failed unit.
func TestGuestDebianVariants(t *testing.T) {
	world := newNetWorld(t, true)
	// The bridged interfaces get a subnet of their own on the LAN: on the
	// routed one, the guest's replies to the LAN would leave by eth0 with
	// venet0's addresses, which the bridge port's IP filter drops.
	world.sh("ip", "-n", world.lanNS, "addr", "add", "10.78.0.1/24", "dev", "lan0")
	// Debian's OpenRC runs the LSB halt scripts (sendsigs waits for the
	// guest's processes): about 20 s on a loaded machine, over the
	// suite's 10 s; the test checks that the halt is clean.
	vzconf, err := os.ReadFile(world.path("conf/vz.toml"))
	if err != nil {
		t.Fatal(err)
	}
	world.writeFile("conf/vz.toml", strings.Replace(string(vzconf), "stop_timeout = 10", "stop_timeout = 60", 1))
	for i, v := range guestVariants {
		t.Run(v.name, func(t *testing.T) {
			start := time.Now()
			sub := *world.node
			sub.t = t
			w := &netWorld{node: &sub, nodeNS: world.nodeNS, lanNS: world.lanNS, uplink: world.uplink}
			src := guestTemplate(t, v.name)
			if err := os.Link(src, w.path("template/cache/"+filepath.Base(src))); err != nil {
				t.Fatal(err)
			}
			id := strconv.Itoa(201 + i)
			routed4, routed6 := fmt.Sprintf("10.77.0.%d", 50+i), fmt.Sprintf("fd00:77::%d", 50+i)
			bridged, added := fmt.Sprintf("10.78.0.%d", 60+i), fmt.Sprintf("10.77.0.%d", 70+i)
			w.ok("vzctl", "create", id, "--ostemplate", strings.TrimSuffix(filepath.Base(src), ".tar.gz"),
				"--hostname", v.name+".example", "--ipadd", routed4+"/24", "--ipadd", routed6+"/64")
			w.ok("vzctl", "set", id, "--nameserver", "10.77.0.53", "--netif_add", "eth0,,,,br0", "--save")
			w.ok("vzctl", "set", id, "--ifname", "eth0", "--ipadd", bridged+"/24", "--save")

			reachable := func(when string, addrs ...string) {
				t.Helper()
				for _, a := range addrs {
					pings := func() bool {
						if !strings.HasPrefix(a, "10.78.") {
							return w.lanPings(a)
						}
						_, ok := w.in(w.lanNS, "busybox", "ping", "-c", "1", "-W", "1", "-I", "10.78.0.1", a)
						return ok
					}
					// A busy machine makes a sysvinit or OpenRC boot slow:
					// its network comes up well after init runs.
					for end := time.Now().Add(45 * time.Second); !pings(); {
						if time.Now().After(end) {
							r := w.run("vzctl", "exec", id, "ip addr; ip route; ip -6 route; ps -ef; "+
								"head -50 /run/systemd/network/* /etc/NetworkManager/system-connections/*; journalctl -b --no-pager -n 40 -u systemd-networkd -u NetworkManager")
							host, _ := w.in(w.nodeNS, "sh", "-c", "bridge link; bridge fdb show br br0; ip -s link")
							lan, _ := w.in(w.lanNS, "ip", "neigh")
							t.Fatalf("%s: %s is not reachable from the LAN\n%s\nnode:\n%s\nlan:\n%s", when, a, r.out, host, lan)
						}
					}
				}
			}
			booted := func(when string) {
				t.Helper()
				if r := w.ok("vzctl", "exec2", id, "cat", "/proc/1/comm"); strings.TrimSpace(r.out) != v.init {
					t.Fatalf("%s: init is %q, want %s", when, r.out, v.init)
				}
				if v.systemd {
					// Right after a reboot systemd may not answer on its
					// bus yet: no state at all is asked again.
					r := w.run("vzctl", "exec2", id, "systemctl", "is-system-running", "--wait")
					for end := time.Now().Add(30 * time.Second); strings.TrimSpace(r.out) == "" && time.Now().Before(end); {
						time.Sleep(200 * time.Millisecond)
						r = w.run("vzctl", "exec2", id, "systemctl", "is-system-running", "--wait")
					}
					if strings.TrimSpace(r.out) != "running" {
						failed := w.run("vzctl", "exec2", id, "systemctl", "--failed", "--no-legend", "--no-pager")
						t.Fatalf("%s: is-system-running %q (%s); failed units:\n%s", when, r.out, r.err, failed.out)
					}
				}
				reachable(when, routed4, routed6, bridged)
				if !w.ctPings(id, "10.77.0.1") || !w.ctPings(id, "fd00:77::1") || !w.ctPings(id, "10.78.0.1") {
					t.Fatalf("%s: the container does not reach the LAN peer", when)
				}
			}

			w.ok("vzctl", "start", id, "--wait")
			t.Logf("booted in %v", time.Since(start).Round(time.Millisecond))
			booted("after boot")
			if r := w.ok("vzctl", "exec2", id, "hostname", "--fqdn"); strings.TrimSpace(r.out) != v.name+".example" {
				t.Errorf("hostname --fqdn: %q", r.out)
			}
			if r := w.ok("vzctl", "exec2", id, "cat", "/etc/resolv.conf"); !strings.Contains(r.out, "nameserver 10.77.0.53") {
				t.Errorf("resolv.conf:\n%s", r.out)
			}

			// The guest's own stack configures both interfaces from the
			// files govz wrote.
			w.ok("vzctl", "exec", id, v.reapply)
			reachable("after the guest reconfigured its network", routed4, routed6, bridged)

			// A live --ipadd reaches its files: reconfiguring keeps it.
			w.ok("vzctl", "set", id, "--ipadd", added, "--save")
			reachable("after a live --ipadd", added)
			w.ok("vzctl", "exec", id, v.reapply)
			reachable("after --ipadd and the guest reconfiguring", routed4, added, bridged)

			// reboot from inside: a new boot with the same configuration.
			boot1, _ := w.runState(id)
			w.ok("vzctl", "exec", id, "reboot")
			for end := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				if boot2, _ := w.runState(id); boot2 != "" && boot2 != boot1 && w.run("vzctl", "exec2", id, "true").code == 0 {
					break
				}
				if time.Now().After(end) {
					t.Fatal("the guest did not come back from reboot")
				}
			}
			booted("after reboot")
			reachable("after reboot", added)
			w.stopClean(id)
			// A clean halt, not the kill after stop_timeout.
			if log, _ := os.ReadFile(w.path("run/" + id + "/supervisor.log")); strings.Contains(string(log), "did not stop within the timeout") {
				t.Errorf("vzctl stop killed the guest:\n%s", log)
			}

			// poweroff from inside stops it for good.
			w.ok("vzctl", "start", id, "--wait")
			booted("after a new start")
			w.ok("vzctl", "exec", id, "poweroff")
			w.waitStatus(id, "CTID "+id+" exist unmounted down", 90*time.Second)
			w.noLeftovers()
			t.Logf("%s: whole life in %v", v.name, time.Since(start).Round(time.Millisecond))
		})
	}
}
