package tests

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nodeEvents parses what vzctl boot-node and shutdown-node print: one
// "CT N: Starting container N ..." (Stopping) line when a container's
// start (stop) begins and one "CT N: Container N started" (stopped) when it
// ends. It returns the containers in the order they began and the largest
// number under way at once.
func nodeEvents(t *testing.T, out, begin, end string) (order []int, maxInFlight int) {
	t.Helper()
	beginRe := regexp.MustCompile(`^CT (\d+): ` + begin + ` container (\d+)`)
	endRe := regexp.MustCompile(`^CT (\d+): Container (\d+) ` + end + `$`)
	inFlight := 0
	for _, l := range strings.Split(out, "\n") {
		if m := beginRe.FindStringSubmatch(l); m != nil {
			id, _ := strconv.Atoi(m[1])
			order = append(order, id)
			inFlight++
			maxInFlight = max(maxInFlight, inFlight)
		} else if endRe.MatchString(l) {
			inFlight--
		}
	}
	if inFlight != 0 {
		t.Fatalf("%d container(s) began and did not end:\n%s", inFlight, out)
	}
	return order, maxInFlight
}

// TestNodeBootShutdown drives the vz unit's two entry points against a
// relocated installation: boot-node starts the onboot containers and the
// ones that were running, by bootorder, ve_parallel at a time, while
// vzctl start still works; shutdown-node stops them all at once within
// its global timeout and keeps the "was running" memory that an admin's
// stop clears.
func TestNodeBootShutdown(t *testing.T) {
	n := newNode(t)
	n.writeFile("conf/vz.toml", n.baseVZConf()+"ve_parallel = 2\n")
	for id := 101; id <= 106; id++ {
		n.ok("vzctl", "create", strconv.Itoa(id))
	}
	n.ok("vzctl", "set", "101", "--onboot", "yes", "--bootorder", "10", "--save")
	n.ok("vzctl", "set", "102", "--onboot", "yes", "--bootorder", "30", "--save")
	// 103, 104: onboot unset. 105: onboot = no.
	n.ok("vzctl", "set", "105", "--onboot", "no", "--save")
	// 106: onboot, no bootorder, and an init that ignores every halt
	// request with a long stop timeout: only the global timeout ends it.
	n.ok("vzctl", "set", "106", "--onboot", "yes", "--stop-timeout", "60", "--save")
	os.Remove(n.path("private/106/sbin/init"))
	n.writeFile("private/106/sbin/init", "#!/bin/sh\ntrap '' TERM INT HUP USR1 USR2 PWR QUIT 37 38\nwhile :; do sleep 1; done\n")
	os.Chmod(n.path("private/106/sbin/init"), 0o755)

	running := func(want ...int) {
		t.Helper()
		for id := 101; id <= 106; id++ {
			s := n.status(strconv.Itoa(id))
			if on := strings.HasSuffix(s, " running"); on != slices.Contains(want, id) {
				t.Fatalf("container %d: %q, want running: %v", id, s, want)
			}
		}
	}
	shutdown := func(want ...int) {
		t.Helper()
		start := time.Now()
		r := n.ok("vzctl", "shutdown-node", "--timeout", "3")
		d := time.Since(start)
		t.Logf("shutdown-node took %v:\n%s", d, r.out)
		order, par := nodeEvents(t, r.out, "Stopping", "stopped")
		slices.Sort(order)
		if !slices.Equal(order, want) {
			t.Fatalf("shutdown-node stopped %v, want %v", order, want)
		}
		if par != len(want) {
			t.Fatalf("shutdown-node stopped at most %d at once, want all %d", par, len(want))
		}
		if d > 20*time.Second {
			t.Fatalf("shutdown-node took %v with a 3 s global timeout", d)
		}
		running()
	}
	boot := func(wantOrder []int, concurrently func()) {
		t.Helper()
		c := n.cmd("vzctl", "boot-node")
		var out, errb bytes.Buffer
		c.Stdout, c.Stderr = &out, &errb
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if concurrently != nil {
			concurrently()
		}
		if err := c.Wait(); err != nil {
			t.Fatalf("boot-node: %v\n%s%s", err, out.String(), errb.String())
		}
		t.Logf("boot-node:\n%s", out.String())
		order, par := nodeEvents(t, out.String(), "Starting", "started")
		if !slices.Equal(order, wantOrder) {
			t.Fatalf("boot-node started %v, want %v", order, wantOrder)
		}
		if par != 2 {
			t.Fatalf("boot-node started at most %d at once, want ve_parallel = 2", par)
		}
	}

	// Before the node goes down: 103 and 105 run, 104 ran but the admin
	// stopped it.
	for _, id := range []string{"103", "104", "105"} {
		n.ok("vzctl", "start", id)
	}
	n.ok("vzctl", "stop", "104")
	shutdown(103, 105)

	// Boot: 102 (30), 101 (10), then bootorder unset by CTID: 103 (was
	// running), 106; not 104 (stopped by the admin) nor 105 (onboot = no).
	// Meanwhile the admin starts 104 by hand.
	boot([]int{102, 101, 103, 106}, func() { n.ok("vzctl", "start", "104") })
	running(101, 102, 103, 104, 106)

	// 104 ran when the node went down this time; the admin stops 103 for
	// good; the stubborn 106 is killed at the global timeout.
	n.ok("vzctl", "stop", "103")
	shutdown(101, 102, 104, 106)
	boot([]int{102, 101, 104, 106}, nil)
	running(101, 102, 104, 106)

	// A guest that halts itself is not running when the node goes down.
	n.ok("vzctl", "exec", "104", "poweroff")
	n.waitStatus("104", "CTID 104 exist unmounted down", 15*time.Second)
	shutdown(101, 102, 106)
	boot([]int{102, 101, 106}, nil)
	shutdown(101, 102, 106)
	n.noLeftovers()
}
