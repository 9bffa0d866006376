package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Section "res" (issue #5): the latency of a live memory limit change and
// the isolation of one container from a misbehaving neighbour.

// ramValues are the two limits `vzctl set --ram` alternates between.
var ramValues = [2]struct {
	arg   string
	bytes int64
}{{"200M", 200 << 20}, {"256M", 256 << 20}}

// isoLoop is the small CPU task: a busy loop of busybox sh (~40 ms here),
// timed inside the container with adjtimex(2) (busybox's date has no
// sub-second format), the elapsed microseconds printed on a marked line.
const isoLoop = `s=$(adjtimex|grep tv_); i=0; while [ $i -lt 25000 ]; do i=$((i+1)); done; ` +
	`e=$(adjtimex|grep tv_); set -- $s $e; echo govz-bench-us=$(( ($6-$2)*1000000 + $8-$4 ))`

// The misbehaving neighbour, as tests/res_test.go's limits: two CPU hogs
// against --cpulimit 100, a memory hog against --ram 64M --swap 0 (OOM
// killed, again and again), and a fork bomb against --numproc 64.
var (
	isoLimits = []string{"--numproc", "64", "--ram", "64M", "--swap", "0", "--cpulimit", "100", "--save"}
	isoHogs   = []string{
		"for i in 1 2; do (while :; do :; done) >/dev/null 2>&1 & done",
		"(while :; do dd if=/dev/zero of=/dev/null bs=100M count=1; done) >/dev/null 2>&1 &",
		"(f(){ f|f& }; while :; do f; done) >/dev/null 2>&1 &",
	}
)

func (b *bench) sectionRes() (*table, error) {
	t := &table{
		title: "res. Resource limits (issue #5): live --ram change, isolation from a misbehaving neighbour",
		peers: []string{peerLXC},
	}
	if err := b.resSetRAM(t); err != nil {
		return t, err
	}
	if err := b.resIsolation(t); err != nil {
		return t, err
	}
	return t, nil
}

// startBusybox creates and starts one of our busybox containers, destroyed
// by the undo stack; opts are `vzctl set` options saved before the start.
func (b *bench) startBusybox(opts ...string) (string, error) {
	id, err := b.createCT(b.tmplBusybox)
	if err != nil {
		return "", err
	}
	b.undo.push("container "+id, func() error { b.destroyCT(id, []string{"VZ_ROOT=" + b.vzRoot}); return nil })
	if len(opts) > 0 {
		if _, _, err := b.vzctl(append([]string{"--quiet", "set", id}, opts...)...); err != nil {
			return "", err
		}
	}
	if _, _, err := b.vzctl("--quiet", "start", id, "--wait"); err != nil {
		return "", err
	}
	return id, nil
}

// memLimitFile is the memory limit knob of a running container's own
// (outer) cgroup, which carries its limits: v1 memory.limit_in_bytes or
// v2 memory.max.
func (b *bench) memLimitFile(id string) (string, error) {
	st, err := b.ctState(id)
	if err != nil {
		return "", err
	}
	var dirs []string
	for _, k := range []string{"memory", "", "unified"} {
		if p := st.CgroupPaths[k]; p != "" {
			dirs = append(dirs, p, filepath.Dir(p))
		}
	}
	for _, d := range dirs {
		if filepath.Base(d) == "ct" {
			continue // the inner group, where the processes are
		}
		for _, f := range []string{"memory.limit_in_bytes", "memory.max"} {
			if p := filepath.Join(d, f); exists(p) {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("container %s: no memory limit file near %v", id, st.CgroupPaths)
}

// resSetRAM adds the `vzctl set --ram` row.
func (b *bench) resSetRAM(t *table) error {
	id, err := b.startBusybox()
	if err != nil {
		return err
	}
	knob, err := b.memLimitFile(id)
	if err != nil {
		return err
	}
	var i, j, k int
	ours := &contender{name: "ours", run: func() (float64, error) {
		i++
		d, _, err := b.vzctl("--quiet", "set", id, "--ram", ramValues[i%2].arg)
		return ms(d), err
	}}
	bound := &contender{name: "bound", run: func() (float64, error) {
		j++
		v := []byte(strconv.FormatInt(ramValues[j%2].bytes, 10))
		t0 := time.Now()
		err := writeKnob(knob, v)
		return ms(time.Since(t0)), err
	}}
	lxc := &contender{name: peerLXC, off: b.peerErr[peerLXC]}
	if lxc.off == "" {
		lxc.off = b.resLXC("gzb-res")
	}
	lxcKnob := filepath.Base(knob)
	lxc.run = func() (float64, error) {
		k++
		d, _, err := b.lxc("lxc-cgroup", "-n", "gzb-res", lxcKnob, strconv.FormatInt(ramValues[k%2].bytes, 10))
		return ms(d), err
	}
	b.contend([]*contender{ours, bound, lxc}, b.cfg.warmup, 2*b.cfg.runs)
	if lxc.off == "" {
		b.lxc("lxc-stop", "-n", "gzb-res", "-k")
	}
	t.add(row{what: "vzctl set CT --ram 200M<->256M on a running CT, ms", ours: ours.fig(), bound: bound.fig(), peers: []*series{lxc.fig()}})
	t.note("--ram: %d runs each, alternating values, rotating order; ours = the whole `vzctl set CT --ram X` (no --save: applied live, with", 2*b.cfg.runs)
	t.note("  vzctl's warning), which also moves memory.memsw.limit_in_bytes (RAM+swap); bound = one write(2) of the bytes to %s of", lxcKnob)
	t.note("  the container's own cgroup, timed in the bench; LXC = `lxc-cgroup -n NAME %s BYTES` on a running busybox container", lxcKnob)
	return nil
}

// writeKnob writes a cgroup file in one write(2), as the kernel wants.
func writeKnob(path string, v []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// resLXC starts a busybox LXC container for lxc-cgroup; "" or why not.
func (b *bench) resLXC(name string) string {
	root, err := b.peerTree("busybox", b.tmplBusybox)
	if err != nil {
		return errFirstLine(err)
	}
	mark, err := b.markerDir(name)
	if err != nil {
		return errFirstLine(err)
	}
	if err := b.lxcBusybox(name, root, mark); err != nil {
		return errFirstLine(err)
	}
	b.undo.push("lxc "+name, func() error { return b.lxcRemove(name) })
	if _, _, err := b.lxc("lxc-start", "-n", name, "-d"); err != nil {
		return errFirstLine(err)
	}
	if err := b.waitFile(filepath.Join(mark, "ready"), readyTimeout); err != nil {
		return errFirstLine(err)
	}
	return ""
}

// isoRun is one run of the CPU task in container A.
type isoRun struct {
	inside, wall time.Duration
}

// isoRuns is a series of them and how many failed.
type isoRuns struct {
	runs  []isoRun
	fails int
}

// resIsolation adds the isolation rows: the CPU task in A alone (before
// and after B misbehaves) and while B runs its hogs.
func (b *bench) resIsolation(t *table) error {
	a, err := b.startBusybox()
	if err != nil {
		return err
	}
	bb, err := b.startBusybox(isoLimits...)
	if err != nil {
		return err
	}
	runs := max(2*b.cfg.runs, 5)
	var alone, loaded isoRuns
	measure := func(n int, into *isoRuns) {
		for i := 0; i < n && b.ctx.Err() == nil; i++ {
			r, err := b.isoTask(a)
			if err != nil {
				b.logf("isolation: %v", err)
				into.fails++
				continue
			}
			into.runs = append(into.runs, r)
		}
	}
	measure(b.cfg.warmup, &isoRuns{})
	measure(runs, &alone)

	b.logf("isolation: starting CPU, memory and fork hogs in %s", bb)
	for _, h := range isoHogs {
		if _, _, err := b.vzctl("--quiet", "exec", bb, h); err != nil {
			b.stopHogs(bb)
			return fmt.Errorf("starting a hog in %s: %w", bb, err)
		}
	}
	b.pause(time.Second)
	measure(runs, &loaded)
	counters := b.isoCounters(bb)
	if err := b.stopHogs(bb); err != nil {
		return err
	}
	measure(runs, &alone)

	inside := func(rs isoRuns) *series {
		s := &series{fails: rs.fails}
		for _, r := range rs.runs {
			s.add(r.inside)
		}
		return s
	}
	wall := func(rs isoRuns) *series {
		s := &series{fails: rs.fails}
		for _, r := range rs.runs {
			s.add(r.wall)
		}
		return s
	}
	noLXC := naSeries("LXC: isolation not measured for the peer")
	t.add(row{what: "CPU task in A, timed inside A: B misbehaving (ours) / B idle (bound), ms", ours: inside(loaded), bound: inside(alone), peers: []*series{noLXC}})
	t.add(row{what: "same task, whole `vzctl exec2 A` seen from the host, ms", ours: wall(loaded), bound: wall(alone), peers: []*series{noLXC}})
	t.note("isolation: A runs a busybox sh loop of 25000 iterations, timed inside A with adjtimex(2) (includes two forks of adjtimex);")
	t.note("  that is A's own experience. The host-side row adds vzctl exec2's setns/cgroup/fork work, which runs on the host, outside")
	t.note("  A's cgroup, so it measures the host's management path under load rather than A's isolation")
	t.note("  B: %s; hogs: 2 CPU loops, `dd bs=100M` in a loop (OOM-killed each time), fork bomb", strings.Join(isoLimits[:len(isoLimits)-1], " "))
	t.note("  bound column = A with B idle: %d runs before B's hogs and %d after `vzctl stop --fast B`; ours = %d runs while B misbehaves",
		runs, runs, runs)
	t.note("  ratio ours/bound = slow-down of A. During the load B counted: %s", counters)
	return nil
}

// isoTask runs the CPU task in container id once.
func (b *bench) isoTask(id string) (isoRun, error) {
	d, out, err := b.vzctl("--quiet", "exec2", id, isoLoop)
	if err != nil {
		return isoRun{}, err
	}
	us, err := parseIsoOutput(out)
	if err != nil {
		return isoRun{}, err
	}
	return isoRun{inside: time.Duration(us) * time.Microsecond, wall: d}, nil
}

// parseIsoOutput finds the "govz-bench-us=N" line of isoLoop.
func parseIsoOutput(out string) (int64, error) {
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "govz-bench-us="); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("bad task time %q", v)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("no task time in %q", tail(out))
}

// isoCounters summarises B's beancounters after the load: refused forks
// and OOM kills, from `vzctl ubc -j`.
func (b *bench) isoCounters(id string) string {
	_, out, err := b.vzctl("ubc", "-j", id)
	if err != nil {
		return "n/a (" + errFirstLine(err) + ")"
	}
	s, err := summariseUBC(out)
	if err != nil {
		return "n/a (" + errFirstLine(err) + ")"
	}
	return s
}

// summariseUBC reads numproc and physpages failcnt and the OOM kills of
// one container from `vzctl ubc -j`.
func summariseUBC(out string) (string, error) {
	var reps []struct {
		Rows []struct {
			Resource string `json:"resource"`
			FailCnt  *int64 `json:"failcnt"`
		} `json:"beancounters"`
		OOMKills *int64 `json:"oom_kills"`
	}
	if err := json.Unmarshal([]byte(out), &reps); err != nil || len(reps) != 1 {
		return "", fmt.Errorf("vzctl ubc -j: %w: %s", err, tail(out))
	}
	val := func(p *int64) string {
		if p == nil {
			return "?"
		}
		return strconv.FormatInt(*p, 10)
	}
	fail := map[string]string{}
	for _, r := range reps[0].Rows {
		fail[r.Resource] = val(r.FailCnt)
	}
	return fmt.Sprintf("numproc failcnt %s, physpages failcnt %s, OOM kills %s",
		fail["numproc"], fail["physpages"], val(reps[0].OOMKills)), nil
}

// stopHogs stops B at once (the hogs die with it) and checks it is down;
// the undo stack destroys it.
func (b *bench) stopHogs(id string) error {
	if _, _, err := b.vzctl("--quiet", "stop", "--fast", id); err != nil {
		return fmt.Errorf("stopping %s and its hogs: %w", id, err)
	}
	_, out, err := b.vzctl("status", id)
	if err != nil {
		return err
	}
	if !strings.Contains(out, "down") {
		return fmt.Errorf("container %s after stop --fast: %s", id, strings.TrimSpace(out))
	}
	return nil
}
