// Command bench measures govz against the kernel's lower bound and the peer
// tools (LXC, crun, runc, systemd-nspawn, GNU tar) on this host, all in one
// run, and prints one table per section:
//
//	1   template unpack (vzctl create, the bare extractor, GNU tar)
//	2a  busybox guest start (start returned, boot to ready)
//	2b  Debian/systemd guest start (is-system-running = running)
//	2c  clean stop (busybox and Debian)
//	2d  exec of /bin/true into a running container
//	2e  density: N busybox containers (host-side memory, start/stop all),
//	    vzlist with M running
//	net networking: routed/bridged TCP throughput, --ipadd to first reply
//	res resource limits: live --ram change, isolation from a noisy neighbour
//	storage storage layouts: create from the Debian template on dir/btrfs/image
//	    (first use, cached, N in a row and at once), disk space of N containers
//	migrate offline vzmigrate between two nodes (total, downtime seen by the
//	    LAN peer), snapshot and backup/restore-backup against tar | zstd
//	chkpnt checkpoint and restore of the busybox guest (CRIU), dump size,
//	    against lxc-checkpoint with the same CRIU
//
// Run it as root through `make bench` (which builds bin/vzctl first). It
// installs missing peers with apt-get, works under /var/lib/govz-bench (never
// inside the repository) and removes every container, cgroup, mount and
// runtime state it made, also on failure and on Ctrl-C. Containers get an
// empty network namespace; no interface of the host is touched.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// config is the command line.
type config struct {
	runs       int    // timed runs per latency figure
	unpackRuns int    // timed runs per Debian unpack contender
	warmup     int    // untimed runs before each latency series
	density    int    // containers in the density section
	listN      int    // containers running while vzlist is timed (density)
	quick      bool   // smoke run: everything small
	sections   string // comma-separated subset of allSections
	binDir     string // where vzctl and vztmpl are
	beforeDir  string // an earlier build's bin dir, timed beside ours (start, exec)
	base       string // work area (scratch dirs, peer trees, results)
	cgParent   string // cgroup parent of the installation under test
	out        string // results file
	keepWork   bool   // keep the scratch directory (debugging)
	unpackFS   string // "loop" (a new ext4 per unpack) or "host"
}

var allSections = []string{"unpack", "busybox", "debian", "stop", "exec", "density", "net", "res", "storage", "provision", "migrate", "chkpnt"}

func parseFlags() config {
	var c config
	flag.IntVar(&c.runs, "n", 10, "timed runs per latency figure (exec uses 2n)")
	flag.IntVar(&c.unpackRuns, "n-unpack", 5, "timed runs per Debian template unpack contender")
	flag.IntVar(&c.warmup, "warmup", 1, "untimed warm-up runs before each series")
	flag.IntVar(&c.density, "density", 50, "containers started in the density section")
	flag.IntVar(&c.listN, "density-list", 200, "containers running while vzlist is timed in the density section (0 = no vzlist rows)")
	flag.BoolVar(&c.quick, "quick", false, "smoke run: n=2, n-unpack=1, density=5, density-list=10")
	flag.StringVar(&c.sections, "sections", strings.Join(allSections, ","), "sections to run: "+strings.Join(allSections, ","))
	flag.StringVar(&c.binDir, "bin", "bin", "directory holding vzctl and vztmpl (make build)")
	flag.StringVar(&c.beforeDir, "before", os.Getenv("BENCH_BEFORE"), "an earlier build's bin directory: its vzctl is timed beside ours in the start and exec sections (what a change cost)")
	flag.StringVar(&c.base, "dir", "/var/lib/govz-bench", "work area (outside the repository)")
	flag.StringVar(&c.cgParent, "cgroup-parent", "govz-bench", "cgroup parent of the installation under test (another for a bench run beside this one)")
	flag.StringVar(&c.out, "o", os.Getenv("BENCH_OUT"), "results file (default $BENCH_OUT or DIR/results.txt)")
	flag.BoolVar(&c.keepWork, "keep", false, "keep the scratch directory after the run")
	flag.StringVar(&c.unpackFS, "unpack-fs", "loop", "unpack into: loop (a new ext4 on a loop device per run) or host (the work area's fs)")
	flag.Parse()
	if c.quick {
		c.runs, c.unpackRuns, c.density, c.warmup, c.listN = 2, 1, 5, 1, 10
	}
	if c.unpackFS != "loop" && c.unpackFS != "host" {
		fmt.Fprintln(os.Stderr, "bench: -unpack-fs must be loop or host")
		os.Exit(2)
	}
	if c.out == "" {
		c.out = filepath.Join(c.base, "results.txt")
	}
	return c
}

func main() {
	cfg := parseFlags()
	if os.Getuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: must run as root (namespaces, mounts, cgroups)")
		os.Exit(1)
	}
	// The first signal cancels ctx; the registration stays, so further
	// signals cannot interrupt the cleanup that follows.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	os.Exit(run(ctx, cfg))
}

func run(ctx context.Context, cfg config) (code int) {
	b, err := newBench(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer func() {
		if r := recover(); r != nil {
			b.logf("panic: %v", r)
			code = 2
		}
		b.undo.unwind(b.logf)
		b.logf("cleanup done")
	}()
	if err := b.setup(); err != nil {
		b.logf("setup failed: %v", err)
		return 1
	}
	b.writeHeader(os.Stdout)
	want := map[string]bool{}
	for _, s := range strings.Split(cfg.sections, ",") {
		want[strings.TrimSpace(s)] = true
	}
	sections := []struct {
		name string
		fn   func() (*table, error)
	}{
		{"unpack", b.sectionUnpack},
		{"busybox", b.sectionBusybox},
		{"debian", b.sectionDebian},
		{"stop", b.sectionStop},
		{"exec", b.sectionExec},
		{"density", b.sectionDensity},
		{"net", b.sectionNet},
		{"res", b.sectionRes},
		{"storage", b.sectionStorage},
		{"provision", b.sectionProvision},
		{"migrate", b.sectionMigrate},
		{"chkpnt", b.sectionChkpnt},
	}
	var tables []*table
	failed := false
	for _, s := range sections {
		if !want[s.name] || ctx.Err() != nil {
			continue
		}
		b.logf("== section %s", s.name)
		start := time.Now()
		mark := b.undo.mark()
		t, err := s.fn()
		b.undo.unwindTo(mark, b.logf)
		if ctx.Err() != nil {
			break // an interrupted section's figures are incomplete
		}
		if err != nil {
			b.logf("section %s failed: %v", s.name, err)
			failed = true
		}
		if t != nil {
			t.render(os.Stdout)
			tables = append(tables, t)
		}
		b.logf("section %s took %s", s.name, time.Since(start).Round(time.Second))
	}
	if ctx.Err() != nil {
		b.logf("interrupted; %s left as it was", b.cfg.out)
		return 130
	}
	if err := b.writeResults(tables); err != nil {
		b.logf("writing results: %v", err)
		failed = true
	}
	if failed {
		return 1
	}
	return 0
}

// writeResults prints the header and every table to cfg.out.
func (b *bench) writeResults(tables []*table) error {
	if err := os.MkdirAll(filepath.Dir(b.cfg.out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(b.cfg.out)
	if err != nil {
		return err
	}
	defer f.Close()
	b.writeHeader(f)
	for _, t := range tables {
		t.render(f)
	}
	if err := f.Close(); err != nil {
		return err
	}
	raw, err := os.Create(b.cfg.out + ".raw.tsv")
	if err != nil {
		return err
	}
	defer raw.Close()
	for _, t := range tables {
		t.writeRaw(raw)
	}
	b.logf("results written to %s (every value: %s.raw.tsv)", b.cfg.out, b.cfg.out)
	return raw.Close()
}

func (b *bench) writeHeader(w io.Writer) {
	fmt.Fprintf(w, "govz bench, %s\n", b.started.Format(time.RFC3339))
	fmt.Fprintf(w, "runs: n=%d (exec 2n), debian unpack n=%d, warm-up %d, density N=%d, vzlist with M=%d running\n",
		b.cfg.runs, b.cfg.unpackRuns, b.cfg.warmup, b.cfg.density, b.cfg.listN)
	for _, v := range b.versions {
		fmt.Fprintf(w, "  %s\n", v)
	}
	fmt.Fprintf(w, "  load average at start: %s\n", b.loadAvg)
	fmt.Fprintln(w, "Figures: median (min-max) over the runs; ratios are of medians.")
	fmt.Fprintln(w)
}
