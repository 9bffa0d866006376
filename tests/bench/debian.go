package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Section 2b: boot of the Debian 12 template with systemd as PID 1, until
// `systemctl is-system-running` answers running, polled from the host
// through each tool's exec (as the baseline does): vzctl exec2, lxc-attach,
// nsenter into nspawn's leader (no machined here). `vzctl start --wait`
// instead returns on systemd's READY=1 on the notify socket.

const debTimeout = 120 * time.Second

func (b *bench) sectionDebian() (*table, error) {
	root, id, mark, err := b.guestSetup("debian", b.tmplDebian, "deb")
	if err != nil {
		return nil, err
	}
	var analyze series // systemd's own userspace boot time in our container
	stopOurs := func() { b.vzctl("--quiet", "stop", "--fast", id) }
	ours := newTool("ours", "", func() (bootRun, error) { return b.debOurs(id, false, &analyze) }, stopOurs)
	oursWait := newTool("ours --wait", "", func() (bootRun, error) { return b.debOurs(id, true, nil) }, stopOurs)
	lxc := newTool(peerLXC, b.peerErr[peerLXC], func() (bootRun, error) { return b.debLXC("gzb-deb") },
		func() { b.lxc("lxc-stop", "-n", "gzb-deb", "-k") })
	if lxc.off == "" {
		if err := b.lxcDefine("gzb-deb", root, "lxc.mount.entry = "+mark+" bench none bind 0 0"); err != nil {
			return nil, err
		}
		b.undo.push("lxc gzb-deb", func() error { return b.lxcRemove("gzb-deb") })
	}
	nspawn := newTool(peerNspawn, b.peerErr[peerNspawn], func() (bootRun, error) { return b.debNspawn(root, mark) }, nil)
	b.rounds([]*bootTool{ours, oursWait, lxc, nspawn}, b.cfg.runs)

	b.stopDebian = map[string]*series{"ours": ours.figStop(), peerLXC: lxc.figStop(), peerNspawn: nspawn.figStop()}
	bound := &analyze
	if len(analyze.vals) == 0 {
		bound = naSeries("systemd-analyze gave no figure")
	}
	t := &table{
		title: "2b. Debian 12 guest, systemd as PID 1: start until running, ms (each run ends with a clean stop, see 2c)",
		peers: []string{peerLXC, peerNspawn},
	}
	noCmd := naSeries("no start command: the bound is systemd's own work")
	t.add(row{what: "start command returned", ours: ours.figStarted(), bound: noCmd,
		peers: []*series{lxc.figStarted(), naSeries("nspawn: foreground tool, no start command that returns")}})
	t.add(row{what: "start -> is-system-running=running (polled via exec)", ours: ours.figReady(), bound: bound,
		peers: []*series{lxc.figReady(), nspawn.figReady()}})
	t.add(row{what: "vzctl start --wait returned (READY=1)", ours: oursWait.figReady(), bound: bound,
		peers: []*series{lxc.figReady(), nspawn.figReady()}})
	t.note("bound: systemd's own userspace boot time in our container (systemd-analyze \"Startup finished ... (userspace)\"),")
	t.note("  i.e. from init's exec to the default target: what no manager can save")
	t.note("polling: `vzctl exec2 CT systemctl is-system-running --wait` / `lxc-attach -- ...` / `nsenter -t LEADER -a ...`, 5 ms apart")
	t.note("answers: ours %s; ours --wait (checked after return) %s; LXC %s; nspawn %s",
		ours.notesString(), oursWait.notesString(), lxc.notesString(), nspawn.notesString())
	return t, nil
}

// pollRunning repeats `PREFIX systemctl is-system-running --wait` until it
// answers running or degraded, and returns the answer.
func (b *bench) pollRunning(prefix ...string) (string, error) {
	deadline := time.Now().Add(debTimeout)
	args := append(prefix[1:], "systemctl", "is-system-running", "--wait")
	last := ""
	for time.Now().Before(deadline) {
		if err := b.ctx.Err(); err != nil {
			return "", err
		}
		var out string
		if prefix[0] == "vzctl" {
			_, out, _ = b.vzctl(args...)
		} else {
			_, out, _ = b.timed(prefix[0], args...)
		}
		st := strings.TrimSpace(lastLine(out))
		if st == "running" || st == "degraded" {
			return st, nil
		}
		last = st
		time.Sleep(5 * time.Millisecond)
	}
	return "", fmt.Errorf("is-system-running did not answer running within %s (last: %q)", debTimeout, last)
}

// debOurs is one cycle of our Debian container; analyze, when set, gets
// systemd's userspace boot time.
func (b *bench) debOurs(id string, wait bool, analyze *series) (bootRun, error) {
	var r bootRun
	args := []string{"--quiet", "start", id}
	if wait {
		args = append(args, "--wait")
	}
	t0 := time.Now()
	d, _, err := b.vzctl(args...)
	if err != nil {
		return r, err
	}
	r.started, r.hasStarted = d, true
	if wait {
		r.ready = d
		_, out, _ := b.vzctl("exec2", id, "systemctl", "is-system-running")
		r.note = strings.TrimSpace(lastLine(out))
	} else {
		if r.note, err = b.pollRunning("vzctl", "exec2", id); err != nil {
			return r, err
		}
		r.ready = time.Since(t0)
	}
	if analyze != nil {
		_, out, err := b.vzctl("exec2", id, "systemd-analyze")
		if v, ok := userspaceTime(out); err == nil && ok {
			analyze.addV(v)
		} else {
			b.logf("systemd-analyze in %s: %v: %s", id, err, tail(out))
		}
	}
	t2 := time.Now()
	if _, _, err := b.vzctl("--quiet", "stop", id); err != nil {
		return r, err
	}
	r.stop = time.Since(t2)
	return r, nil
}

var userspaceRE = regexp.MustCompile(`in ([0-9.a-z ]+?) \(userspace\)`)

// userspaceTime reads "Startup finished in 1.203s (userspace)" (systemd's
// timespans: 1min 2.5s, 470ms, 1.2s) and returns milliseconds.
func userspaceTime(out string) (float64, bool) {
	m := userspaceRE.FindStringSubmatch(out)
	if m == nil {
		return 0, false
	}
	total := 0.0
	for _, f := range strings.Fields(m[1]) {
		num := strings.TrimRight(f, "abcdefghijklmnopqrstuvwxyz")
		unit := f[len(num):]
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, false
		}
		switch unit {
		case "min":
			total += v * 60000
		case "s":
			total += v * 1000
		case "ms":
			total += v
		case "us":
			total += v / 1000
		default:
			return 0, false
		}
	}
	return total, true
}

// debLXC is one cycle of the LXC Debian container; lxc-stop sends SIGPWR,
// which Debian's sigpwr-container-shutdown.service turns into a poweroff.
func (b *bench) debLXC(name string) (bootRun, error) {
	var r bootRun
	t0 := time.Now()
	d, _, err := b.lxc("lxc-start", "-n", name, "-d")
	if err != nil {
		return r, err
	}
	r.started, r.hasStarted = d, true
	if r.note, err = b.pollRunning("lxc-attach", "-P", b.lxcPath(), "-n", name, "--"); err != nil {
		return r, err
	}
	r.ready = time.Since(t0)
	t2 := time.Now()
	if _, _, err := b.lxc("lxc-stop", "-n", name); err != nil {
		return r, err
	}
	r.stop = time.Since(t2)
	return r, nil
}

// debNspawn is one cycle of nspawn --boot; SIGTERM makes nspawn send
// SIGRTMIN+3 (halt) to systemd.
func (b *bench) debNspawn(root, mark string) (bootRun, error) {
	var r bootRun
	t0 := time.Now()
	c, err := b.bgStart(nil, "systemd-nspawn", nspawnArgs(root, mark)...)
	if err != nil {
		return r, err
	}
	// The leader is nspawn's child once it runs systemd.
	leader := 0
	err = b.waitFor(debTimeout, "nspawn's leader to run systemd", func() bool {
		for _, ch := range children(c.c.Process.Pid) {
			if comm(ch) == "systemd" {
				leader = ch
				return true
			}
		}
		return !alive(c.c.Process.Pid)
	})
	if err == nil && leader == 0 {
		err = fmt.Errorf("systemd-nspawn exited")
	}
	if err != nil {
		return r, fmt.Errorf("%w: %s", err, tail(b.bgKill(c)))
	}
	if r.note, err = b.pollRunning("nsenter", "-t", strconv.Itoa(leader), "-a"); err != nil {
		return r, fmt.Errorf("%w: %s", err, tail(b.bgKill(c)))
	}
	r.ready = time.Since(t0)
	t2 := time.Now()
	c.c.Process.Signal(unix.SIGTERM)
	out, err := b.bgWait(c)
	r.stop = time.Since(t2)
	if err != nil {
		return r, fmt.Errorf("systemd-nspawn: %w: %s", err, tail(out))
	}
	return r, nil
}

func comm(pid int) string {
	b, err := readSmall(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(b)
}
