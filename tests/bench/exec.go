package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"time"
)

// Section 2c gathers the clean-stop figures of 2a and 2b; section 2d times
// `/bin/true` run inside an already running busybox container.

func (b *bench) sectionStop() (*table, error) {
	t := &table{
		title: "2c. Clean stop, ms (stop request until the container is gone)",
		peers: []string{peerLXC, peerCrun, peerRunc, peerNspawn},
	}
	get := func(m map[string]*series, k, section string) *series {
		if m == nil {
			return naSeries("section " + section + " was not run")
		}
		if s, ok := m[k]; ok {
			return s
		}
		return naSeries("not measured for this guest")
	}
	bb, deb := b.stopBusybox, b.stopDebian
	t.add(row{what: "busybox guest", ours: get(bb, "ours", "busybox"), bound: get(bb, "bound", "busybox"),
		peers: []*series{get(bb, peerLXC, "busybox"), get(bb, peerCrun, "busybox"), get(bb, peerRunc, "busybox"), get(bb, peerNspawn, "busybox")}})
	noOCI := naSeries("no systemd OCI bundle (as in the baseline)")
	t.add(row{what: "Debian/systemd guest", ours: get(deb, "ours", "debian"),
		bound: naSeries("no bare-namespace systemd boot to halt"),
		peers: []*series{get(deb, peerLXC, "debian"), noOCI, noOCI, get(deb, peerNspawn, "debian")}})
	t.note("ours: `vzctl stop` (SIGPWR to busybox init, SIGRTMIN+3 to systemd; waits until the container is gone and unmounted)")
	t.note("bound (busybox): SIGPWR to the bare unshare+chroot init until unshare exits: busybox's own halt (it sleeps ~2 s by design)")
	t.note("LXC: lxc-stop; runc/crun: kill SIGPWR, init gone, delete (no CAP_SYS_BOOT: reboot(2) fails, +1 s); nspawn: SIGTERM to nspawn")
	return t, nil
}

// execTool is one way of running /bin/true in a running container.
type execTool struct {
	name string
	argv []string
	env  []string
	off  string
	got  series
}

func (b *bench) sectionExec() (*table, error) {
	runs := 2 * b.cfg.runs
	warm := 3
	root, err := b.peerTree("busybox", b.tmplBusybox)
	if err != nil {
		return nil, err
	}
	id, err := b.createCT(b.tmplBusybox)
	if err != nil {
		return nil, err
	}
	b.undo.push("container "+id, func() error { b.destroyCT(id, []string{"VZ_ROOT=" + b.vzRoot}); return nil })
	if _, _, err := b.vzctl("--quiet", "start", id, "--wait"); err != nil {
		return nil, err
	}
	st, err := b.ctState(id)
	if err != nil {
		return nil, err
	}
	ours := &execTool{name: "ours", argv: []string{b.vzctlBin, "exec3", id, "/bin/true"}, env: []string{"VZ_ROOT=" + b.vzRoot}}
	bound := &execTool{name: "bound", argv: []string{"nsenter", "-t", strconv.Itoa(st.InitPID), "-a", "/bin/true"}}
	lxc := &execTool{name: peerLXC, off: b.peerErr[peerLXC], argv: []string{"lxc-attach", "-P", b.lxcPath(), "-n", "gzb-exec", "--", "/bin/true"}}
	runc := &execTool{name: peerRunc, off: b.peerErr[peerRunc], argv: []string{"runc", "exec", "govz-bench-exec-runc", "/bin/true"}}
	crun := &execTool{name: peerCrun, off: b.peerErr[peerCrun], argv: []string{"crun", "exec", "govz-bench-exec-crun", "/bin/true"}}

	if lxc.off == "" {
		lxc.off = b.execLXC()
	}
	if runc.off == "" {
		runc.off = b.execOCI("runc", root)
	}
	if crun.off == "" {
		crun.off = b.execOCI("crun", root)
	}
	before := &execTool{name: "before", off: "not asked for (-before DIR)", argv: []string{b.vzctlBefore, "exec3", id, "/bin/true"}, env: ours.env}
	if b.vzctlBefore != "" {
		before.off = ""
	}
	b.execRounds([]*execTool{ours, before, bound, lxc, runc, crun}, warm, runs)
	if lxc.off == "" {
		b.lxc("lxc-stop", "-n", "gzb-exec", "-k")
	}
	b.ociDelete("runc", "govz-bench-exec-runc")
	b.ociDelete("crun", "govz-bench-exec-crun")

	fig := func(e *execTool) *series {
		if len(e.got.vals) == 0 {
			if e.off == "" {
				e.off = "no successful run"
			}
			return naSeries(e.name + ": " + e.off)
		}
		return &e.got
	}
	t := &table{
		title: fmt.Sprintf("2d. exec /bin/true into a running busybox container, ms (%d runs after %d warm-up, alternating)", runs, warm),
		peers: []string{peerLXC, peerCrun, peerRunc, peerNspawn},
	}
	t.add(row{what: "run /bin/true inside, until it exited", ours: fig(ours), bound: fig(bound),
		peers: []*series{fig(lxc), fig(crun), fig(runc), naSeries("nspawn: no exec without machined (machinectl shell, systemd-run -M)")}})
	if b.vzctlBefore != "" {
		t.add(row{what: "same, the -before build", ours: fig(before), bound: fig(bound),
			peers: []*series{fig(lxc), fig(crun), fig(runc), naSeries("nspawn: no exec")}})
		t.note("%s", beforeNote(fig(ours), fig(before), b.vzctlBefore))
	}
	t.note("ours: `vzctl exec3 CT /bin/true`; bound: `nsenter -t INIT -a /bin/true` (setns + exec only: no cgroup, caps or seccomp)")
	t.note("LXC: `lxc-attach -n X -- /bin/true` (common.conf); runc/crun: `exec ID /bin/true` into a busybox-init container")
	return t, nil
}

// execLXC starts the busybox LXC container for exec; "" or why not.
func (b *bench) execLXC() string {
	root, err := b.peerTree("busybox", b.tmplBusybox)
	if err != nil {
		return errFirstLine(err)
	}
	mark, err := b.markerDir("exec-lxc")
	if err != nil {
		return errFirstLine(err)
	}
	if err := b.lxcBusybox("gzb-exec", root, mark); err != nil {
		return errFirstLine(err)
	}
	b.undo.push("lxc gzb-exec", func() error { return b.lxcRemove("gzb-exec") })
	if _, _, err := b.lxc("lxc-start", "-n", "gzb-exec", "-d"); err != nil {
		return errFirstLine(err)
	}
	if err := b.waitFile(filepath.Join(mark, "ready"), readyTimeout); err != nil {
		return errFirstLine(err)
	}
	return ""
}

// execOCI starts a busybox-init container with runtime rt; "" or why not.
func (b *bench) execOCI(rt, root string) string {
	id := "govz-bench-exec-" + rt
	mark, err := b.markerDir("exec-" + rt)
	if err != nil {
		return errFirstLine(err)
	}
	bundle, err := b.ociBundle("exec-"+rt, root, mark, "/sbin/init")
	if err != nil {
		return errFirstLine(err)
	}
	b.ociTrack(rt, id)
	if _, _, err := b.timed(rt, "run", "-d", "--bundle", bundle, id); err != nil {
		return errFirstLine(err)
	}
	if err := b.waitFile(filepath.Join(mark, "ready"), readyTimeout); err != nil {
		return errFirstLine(err)
	}
	return ""
}

// execRounds runs each tool once per round, in rotating order.
func (b *bench) execRounds(tools []*execTool, warm, runs int) {
	for round := -warm; round < runs && b.ctx.Err() == nil; round++ {
		for i := range tools {
			e := tools[(i+max(round, 0))%len(tools)]
			if e.off != "" {
				continue
			}
			c, err := b.prepare(b.ctx, e.env, e.argv[0], e.argv[1:]...)
			if err != nil {
				e.off = errFirstLine(err)
				continue
			}
			d, _, err := c.runTimed()
			switch {
			case err != nil && round < 0:
				e.off = "failed: " + errFirstLine(err)
			case err != nil:
				e.got.fails++
				b.logf("%s: %v", e.name, err)
				if e.got.fails >= maxFails {
					e.off = "failed: " + errFirstLine(err)
				}
			case round >= 0:
				e.got.add(d)
			}
		}
	}
}

// pause lets the host settle between phases.
func (b *bench) pause(d time.Duration) {
	select {
	case <-b.ctx.Done():
	case <-time.After(d):
	}
}

// beforeNote says what the change since the -before build cost: our
// median over its median, from the same rounds.
func beforeNote(ours, before *series, bin string) string {
	if !ours.ok() || !before.ok() {
		return "this build / -before build: n/a (a series has no figure)"
	}
	return fmt.Sprintf("this build / -before build (%s): %.2fx (%s vs %s ms, medians)",
		bin, ours.median()/before.median(), num(ours.median()), num(before.median()))
}
