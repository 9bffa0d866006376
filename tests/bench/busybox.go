package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Section 2a: boot of the busybox guest (our busybox template; the peers
// run an unpacked copy of it). busybox init runs rcS, whose last steps are
// /etc/rc.local (the bench's marker, polled every 0.2 ms from the host)
// and the readiness hook that `vzctl start --wait` listens to. Each cycle
// ends with a clean stop, which section 2c reports.

const readyTimeout = 60 * time.Second

func (b *bench) sectionBusybox() (*table, error) {
	root, id, mark, err := b.guestSetup("busybox", b.tmplBusybox, "bb")
	if err != nil {
		return nil, err
	}

	stopOurs := func() { b.vzctl("--quiet", "stop", "--fast", id) }
	ours := newTool("ours", "", func() (bootRun, error) { return b.bbOurs(b.vzctlBin, id, false) }, stopOurs)
	oursWait := newTool("ours --wait", "", func() (bootRun, error) { return b.bbOurs(b.vzctlBin, id, true) }, stopOurs)
	// before: the same container started by an earlier build (-before),
	// in the same rounds, so the change's cost is a ratio from one run.
	before := newTool("before", "not asked for (-before DIR)", func() (bootRun, error) { return b.bbOurs(b.vzctlBefore, id, false) }, stopOurs)
	if b.vzctlBefore != "" {
		before.off = ""
	}
	bound := newTool("bound", "", func() (bootRun, error) { return b.bbBound(root) }, nil)

	lxc := newTool(peerLXC, b.peerErr[peerLXC], func() (bootRun, error) { return b.bbLXC("gzb-bb", mark) },
		func() { b.lxc("lxc-stop", "-n", "gzb-bb", "-k") })
	if lxc.off == "" {
		if err := b.lxcBusybox("gzb-bb", root, mark); err != nil {
			return nil, err
		}
		b.undo.push("lxc gzb-bb", func() error { return b.lxcRemove("gzb-bb") })
	}
	runc := b.ociTool(peerRunc, "runc", root, mark)
	crun := b.ociTool(peerCrun, "crun", root, mark)
	nspawn := newTool(peerNspawn, b.peerErr[peerNspawn], func() (bootRun, error) { return b.bbNspawn(root, mark) }, nil)
	b.rounds([]*bootTool{ours, oursWait, before, bound, lxc, runc, nspawn, crun}, b.cfg.runs)

	b.stopBusybox = map[string]*series{
		"ours": ours.figStop(), "bound": bound.figStop(), peerLXC: lxc.figStop(),
		peerCrun: crun.figStop(), peerRunc: runc.figStop(), peerNspawn: nspawn.figStop(),
	}
	peers := []*bootTool{lxc, crun, runc, nspawn}
	t := &table{
		title: "2a. busybox guest: start, ms (busybox init as PID 1, empty netns; each run ends with a clean stop, see 2c)",
		peers: []string{peerLXC, peerCrun, peerRunc, peerNspawn},
	}
	readies := func() []*series {
		var out []*series
		for _, p := range peers {
			out = append(out, p.figReady())
		}
		return out
	}
	startedPeers := []*series{lxc.figStarted(), crun.figStarted(), runc.figStarted(),
		naSeries("nspawn: foreground tool, no start command that returns")}
	t.add(row{what: "start command returned (init running)", ours: ours.figStarted(), bound: bound.figStarted(), peers: startedPeers})
	t.add(row{what: "boot to ready (rc.local marker seen)", ours: ours.figReady(), bound: bound.figReady(), peers: readies()})
	t.add(row{what: "vzctl start --wait returned (ready hook)", ours: oursWait.figReady(), bound: bound.figReady(), peers: readies()})
	if b.vzctlBefore != "" {
		t.add(row{what: "start returned, the -before build", ours: before.figStarted(), bound: bound.figStarted(), peers: startedPeers})
		t.note("%s", beforeNote(ours.figStarted(), before.figStarted(), b.vzctlBefore))
	}
	t.note("ours: `vzctl start` (returns once init runs), then the marker; `vzctl start --wait` returns after the guest's ready hook, which runs right after rc.local")
	t.note("bound: `unshare --fork --pid --mount --uts --ipc --net --kill-child chroot ROOT /sbin/init` on the same tree:")
	t.note("  row 1 = init exec'd (/proc/PID/exe polled), rows 2-3 = marker; namespaces + chroot only: no cgroups, no pivot_root, no /dev, no caps/seccomp")
	t.note("peers: lxc-start -d / crun run -d / runc run -d (start returned), then the marker, polled alike; nspawn --boot in the background")
	t.note("LXC: Debian common.conf with lxcfs hooks cleared, private lxcpath; crun runs in a private mount ns that hides the v2 controllers (crun 1.8 refuses hybrid)")
	return t, nil
}

// bbOurs is one cycle of our busybox container.
func (b *bench) bbOurs(bin, id string, wait bool) (bootRun, error) {
	var r bootRun
	mark := filepath.Join(b.privateDir(id), "bench", "ready")
	os.Remove(mark)
	args := []string{"--quiet", "start", id}
	if wait {
		args = append(args, "--wait")
	}
	t0 := time.Now()
	d, _, err := b.vzctlWith(bin, args...)
	if err != nil {
		return r, err
	}
	r.started, r.hasStarted = d, true
	if wait {
		r.ready = d
		if unix.Access(mark, unix.F_OK) != nil {
			return r, fmt.Errorf("vzctl start --wait returned before the guest's rc.local ran")
		}
	} else {
		if err := b.waitFile(mark, readyTimeout); err != nil {
			return r, err
		}
		r.ready = time.Since(t0)
	}
	t2 := time.Now()
	if _, _, err := b.vzctl("--quiet", "stop", id); err != nil {
		return r, err
	}
	r.stop = time.Since(t2)
	return r, nil
}

// unshareArgs runs the guest's init in fresh namespaces and a chroot: the
// least the kernel needs to boot the guest. --kill-child makes sure the
// container dies with unshare.
func unshareArgs(root string) []string {
	return []string{"--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "--kill-child=SIGKILL",
		"chroot", root, "/sbin/init"}
}

// guestEnv is the bound's whole environment (the peers give their guests
// a clean one too).
func guestEnv(id int) []string {
	return []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "BENCH_ID=" + strconv.Itoa(id)}
}

// bbBound is one cycle of the lower bound: the same tree under unshare.
func (b *bench) bbBound(root string) (bootRun, error) {
	var r bootRun
	mark := filepath.Join(root, "bench", "ready.0")
	os.Remove(mark)
	t0 := time.Now()
	c, err := b.bgStart(guestEnv(0), "unshare", unshareArgs(root)...)
	if err != nil {
		return r, err
	}
	initPID, err := b.waitInitExec(c.c.Process.Pid, filepath.Join(root, "bin/busybox"))
	if err != nil {
		b.bgKill(c)
		return r, err
	}
	r.started, r.hasStarted = time.Since(t0), true
	if err := b.waitFile(mark, readyTimeout); err != nil {
		b.bgKill(c)
		return r, err
	}
	r.ready = time.Since(t0)
	// busybox init takes SIGPWR as "halt" (what our supervisor and
	// lxc-stop send it).
	t2 := time.Now()
	unix.Kill(initPID, unix.SIGPWR)
	out, err := b.bgWait(c)
	r.stop = time.Since(t2)
	if !halted(err) {
		return r, fmt.Errorf("unshare: %w: %s", err, tail(out))
	}
	return r, nil
}

// waitInitExec waits until the child of unshare (pid) has exec'd exe and
// returns the child's PID.
func (b *bench) waitInitExec(pid int, exe string) (int, error) {
	child := 0
	err := b.waitFor(readyTimeout, "init to exec "+exe, func() bool {
		if child == 0 {
			if cs := children(pid); len(cs) > 0 {
				child = cs[0]
			}
		}
		if child == 0 {
			return false
		}
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", child))
		return l == exe
	})
	return child, err
}

// bbLXC is one cycle of the LXC busybox container.
func (b *bench) bbLXC(name, mark string) (bootRun, error) {
	var r bootRun
	ready := filepath.Join(mark, "ready")
	os.Remove(ready)
	t0 := time.Now()
	d, _, err := b.lxc("lxc-start", "-n", name, "-d")
	if err != nil {
		return r, err
	}
	r.started, r.hasStarted = d, true
	if err := b.waitFile(ready, readyTimeout); err != nil {
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

// ociTool is runc or crun booting the busybox bundle.
func (b *bench) ociTool(peer, rt, root, mark string) *bootTool {
	id := "govz-bench-bb-" + rt
	t := newTool(peer, b.peerErr[peer], nil, func() { b.ociDelete(rt, id) })
	if t.off != "" {
		return t
	}
	bundle, err := b.ociBundle("bb-"+rt, root, mark, "/sbin/init")
	if err != nil {
		t.off = "bundle: " + errFirstLine(err)
		return t
	}
	b.ociTrack(rt, id)
	t.run = func() (bootRun, error) { return b.bbOCI(rt, id, bundle, mark) }
	return t
}

// bbOCI is one cycle of runc/crun: run -d, marker, SIGPWR, wait for init
// to go, delete.
func (b *bench) bbOCI(rt, id, bundle, mark string) (bootRun, error) {
	var r bootRun
	ready := filepath.Join(mark, "ready")
	os.Remove(ready)
	t0 := time.Now()
	d, _, err := b.timed(rt, "run", "-d", "--bundle", bundle, id)
	if err != nil {
		return r, err
	}
	r.started, r.hasStarted = d, true
	if err := b.waitFile(ready, readyTimeout); err != nil {
		return r, err
	}
	r.ready = time.Since(t0)
	pid, err := b.ociPID(rt, id)
	if err != nil {
		return r, err
	}
	t2 := time.Now()
	if _, _, err := b.timed(rt, "kill", id, "SIGPWR"); err != nil {
		return r, err
	}
	if err := b.waitFor(readyTimeout, rt+" init to exit", func() bool { return !alive(pid) }); err != nil {
		return r, err
	}
	if _, _, err := b.timed(rt, "delete", id); err != nil {
		return r, err
	}
	r.stop = time.Since(t2)
	return r, nil
}

func (b *bench) ociPID(rt, id string) (int, error) {
	out, err := b.run(rt, "state", id)
	if err != nil {
		return 0, err
	}
	var st struct {
		Pid int `json:"pid"`
	}
	if err := jsonUnmarshal(out, &st); err != nil || st.Pid <= 0 {
		return 0, fmt.Errorf("%s state %s: no pid in %q", rt, id, out)
	}
	return st.Pid, nil
}

// bbNspawn is one cycle of systemd-nspawn --boot (a foreground tool, run in
// the background; SIGTERM makes it send --kill-signal to init).
func (b *bench) bbNspawn(root, mark string) (bootRun, error) {
	var r bootRun
	ready := filepath.Join(mark, "ready")
	os.Remove(ready)
	t0 := time.Now()
	c, err := b.bgStart(nil, "systemd-nspawn", nspawnArgs(root, mark, "--kill-signal=SIGPWR")...)
	if err != nil {
		return r, err
	}
	if err := b.waitFile(ready, readyTimeout); err != nil {
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

// guestSetup prepares one guest for a boot section: the peers' unpacked
// tree, our container from the same template (destroyed at the end), and
// the host directory the guest's readiness marker appears in.
func (b *bench) guestSetup(name, tmpl, markTag string) (root, id, mark string, err error) {
	if root, err = b.peerTree(name, tmpl); err != nil {
		return "", "", "", err
	}
	if id, err = b.createCT(tmpl); err != nil {
		return "", "", "", err
	}
	b.undo.push("container "+id, func() error { b.destroyCT(id, []string{"VZ_ROOT=" + b.vzRoot}); return nil })
	if mark, err = b.markerDir(markTag); err != nil {
		return "", "", "", err
	}
	return root, id, mark, nil
}
