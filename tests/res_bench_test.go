package tests

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

// Benchmarks for the resource limits; not part of `go test ./...`. Run:
//
//	go test ./tests -run '^$' -bench Res -benchtime 20x -v
//
// (the node helpers take a *testing.T, so each benchmark drives one
// through a subtest of its own)

// BenchmarkResSetRAM is `vzctl set CTID --ram` on a running container:
// the latency of a live memory limit change.
func BenchmarkResSetRAM(b *testing.B) {
	runAsTest(b, func(t *testing.T) {
		n := newNode(t)
		n.ok("vzctl", "create", "101")
		n.ok("vzctl", "start", "101")
		defer n.ok("vzctl", "stop", "--fast", "101")
		var lat []time.Duration
		for i := 0; i < b.N; i++ {
			ram := []string{"200M", "256M"}[i%2]
			start := time.Now()
			n.ok("vzctl", "set", "101", "--ram", ram)
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-median")
		b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "ms-p90")
	})
}

// BenchmarkResIsolation is the latency of a small CPU task in container A
// while container B (--numproc 64 --ram 64M --cpulimit 100) runs a fork
// bomb, a memory hog and two CPU hogs at its limits, as a ratio to A
// alone.
func BenchmarkResIsolation(b *testing.B) {
	runAsTest(b, func(t *testing.T) {
		n := newNode(t)
		n.ok("vzctl", "create", "101")
		n.ok("vzctl", "create", "102")
		n.ok("vzctl", "set", "102", "--numproc", "64", "--ram", "64M", "--swap", "0", "--cpulimit", "100", "--save")
		n.ok("vzctl", "start", "101")
		n.ok("vzctl", "start", "102")
		defer n.ok("vzctl", "stop", "--fast", "102")
		defer n.ok("vzctl", "stop", "--fast", "101")
		task := func() time.Duration {
			start := time.Now()
			n.ok("vzctl", "exec2", "101", "i=0; while [ $i -lt 80000 ]; do i=$((i+1)); done")
			return time.Since(start)
		}
		runs := max(b.N, 9)
		measure := func() time.Duration {
			var d []time.Duration
			for i := 0; i < runs; i++ {
				d = append(d, task())
			}
			slices.Sort(d)
			return d[len(d)/2]
		}
		task() // warm up
		alone := measure()
		n.ok("vzctl", "exec", "102", "for i in 1 2; do (while :; do :; done) >/dev/null 2>&1 & done")
		n.ok("vzctl", "exec", "102", "(while :; do dd if=/dev/zero of=/dev/null bs=100M count=1; done) >/dev/null 2>&1 &")
		n.ok("vzctl", "exec", "102", "(f(){ f|f& }; while :; do f; done) >/dev/null 2>&1 &")
		time.Sleep(time.Second)
		loaded := measure()
		u := n.ubc("102")
		_, _, _, forkFails := u.row("numproc")
		b.ReportMetric(float64(alone.Microseconds())/1000, "ms-alone")
		b.ReportMetric(float64(loaded.Microseconds())/1000, "ms-loaded")
		b.ReportMetric(float64(loaded)/float64(alone), "ratio")
		t.Logf("A alone %v, A while B misbehaves %v (ratio %.2f); B: %d refused forks, %s oom kills",
			alone, loaded, float64(loaded)/float64(alone), forkFails, strconv.FormatInt(derefOr(u.OOMKills), 10))
	})
}

func derefOr(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}

// runAsTest runs f once as a test, for helpers that take a *testing.T.
func runAsTest(b *testing.B, f func(t *testing.T)) {
	b.Helper()
	ok := testing.RunTests(func(string, string) (bool, error) { return true, nil },
		[]testing.InternalTest{{Name: b.Name(), F: f}})
	if !ok {
		b.Fatal("benchmark body failed")
	}
}
