package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// smapsRollup returns the Pss, Rss and Private_* totals (KiB) of pid.
func smapsRollup(t *testing.T, pid int) map[string]int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[2] == "kB" {
			n, _ := strconv.Atoi(f[1])
			m[strings.TrimSuffix(f[0], ":")] = n
		}
	}
	return m
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// TestDensity starts N busybox containers sharing one tree (as the peer
// benchmark does, baseline.md §4), measures each supervisor's PSS and the
// start latency, then stops them all in parallel. N is 5 by default (CI
// time); GOVZ_DENSITY_N=50 gives the figure to compare with LXC's monitor.
func TestDensity(t *testing.T) {
	n := 5
	if v, err := strconv.Atoi(os.Getenv("GOVZ_DENSITY_N")); err == nil && v > 0 {
		n = v
	}
	base := newCT(t, "dens0")
	before := snapshot(t, base)
	var cts []*ct
	for i := 0; i < n; i++ {
		c := base
		if i > 0 {
			dir := t.TempDir()
			c = &ct{t: t, root: base.root, spec: &Spec{
				ID: "dens" + strconv.Itoa(i), Rootfs: base.root, RunDir: filepath.Join(dir, "run"),
				Hostname: "dens" + strconv.Itoa(i), CgroupParent: testCgroupParent(), StopTimeout: 10 * time.Second,
			}}
			t.Cleanup(c.cleanup)
		}
		cts = append(cts, c)
	}
	var starts []time.Duration
	t0 := time.Now()
	for _, c := range cts {
		s := time.Now()
		c.mustStart(true)
		starts = append(starts, time.Since(s))
	}
	total := time.Since(t0)
	time.Sleep(3 * time.Second) // settle, as the LXC measurement did
	var pss, rss, priv []int
	for _, c := range cts {
		_, st, _ := Status(c.spec.RunDir)
		m := smapsRollup(t, st.SupervisorPID)
		pss = append(pss, m["Pss"])
		rss = append(rss, m["Rss"])
		priv = append(priv, m["Private_Clean"]+m["Private_Dirty"])
	}
	sum := func(x []int) int {
		s := 0
		for _, v := range x {
			s += v
		}
		return s
	}
	t.Logf("%d containers: start --wait sequential total %v, per start median %v (first %v, last %v)",
		n, total, median(starts), starts[0], starts[len(starts)-1])
	t.Logf("supervisor PSS per container: %d KiB (total %d KiB); RSS %d KiB; private %d KiB",
		sum(pss)/n, sum(pss), sum(rss)/n, sum(priv)/n)
	_, st, _ := Status(cts[0].spec.RunDir)
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", st.SupervisorPID)); err == nil {
		t.Logf("largest mappings of one supervisor:\n%s", topMappings(string(b), 8))
	}
	if sum(pss)/n > 4096 && !raceEnabled {
		t.Errorf("supervisor PSS %d KiB per container", sum(pss)/n)
	}

	t0 = time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, c := range cts {
		wg.Add(1)
		go func(c *ct) {
			defer wg.Done()
			errs <- Stop(c.spec.RunDir, 10*time.Second, false)
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	t.Logf("stop all (graceful, parallel): %v", time.Since(t0))
	checkNoLeaks(t, base, before)
}

// topMappings lists the n mappings with the most Pss in a smaps dump.
func topMappings(smaps string, n int) string {
	type mp struct {
		name     string
		pss, rss int
	}
	var ms []mp
	var cur *mp
	for _, l := range strings.Split(smaps, "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			name := "[anon]"
			if len(f) >= 6 {
				name = f[5]
			}
			ms = append(ms, mp{name: name + " " + f[1]})
			cur = &ms[len(ms)-1]
			continue
		}
		if cur != nil && len(f) == 3 {
			v, _ := strconv.Atoi(f[1])
			switch f[0] {
			case "Pss:":
				cur.pss = v
			case "Rss:":
				cur.rss = v
			}
		}
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].pss > ms[j].pss })
	var b strings.Builder
	for i := 0; i < n && i < len(ms); i++ {
		fmt.Fprintf(&b, "  %6d KiB pss %6d KiB rss  %s\n", ms[i].pss, ms[i].rss, ms[i].name)
	}
	return b.String()
}
