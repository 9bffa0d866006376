package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"govz/internal/mountinfo"
)

// bench is one run: its configuration, work area, the govz installation
// under test and what is known about the peers.
type bench struct {
	ctx     context.Context
	cfg     config
	started time.Time
	undo    undoStack

	work     string // scratch directory of this run (removed at the end)
	vzRoot   string // VZ_ROOT of the installation under test
	vzctlBin string
	// vzctlBefore is an earlier build's vzctl (-before), "" without one.
	vzctlBefore string
	vztmpl      string
	vzlistBin   string
	cgParent    string // cgroup_parent of the installation under test

	tmplBusybox string // template tarballs in VZ_ROOT's cache
	tmplDebian  string

	peerErr  map[string]string // peer -> why it cannot run here ("" = usable)
	versions []string
	loadAvg  string
	host     hostState

	nextCT int // next container ID handed out by newCT

	procs  procSet // background processes we started
	mu     sync.Mutex
	crunNS *nsThread         // where crun runs (see crunThread)
	ociIDs map[string]string // runc/crun containers: id -> runtime

	stopBusybox map[string]*series // clean-stop figures gathered by 2a
	stopDebian  map[string]*series // and by 2b, for table 2c
}

// Peer names as the tables print them.
const (
	peerLXC    = "LXC"
	peerCrun   = "crun"
	peerRunc   = "runc"
	peerNspawn = "nspawn"
	peerTar    = "GNU tar"
)

// debianCache is where the Debian template is reused between runs (and CI
// builds it once), as the Makefile's DEV_CACHE.
const debianCache = "/var/cache/govz-dev/template/cache"

func newBench(ctx context.Context, cfg config) (*bench, error) {
	bin, err := filepath.Abs(cfg.binDir)
	if err != nil {
		return nil, err
	}
	b := &bench{
		ctx: ctx, cfg: cfg, started: time.Now(),
		vzctlBin: filepath.Join(bin, "vzctl"), vztmpl: filepath.Join(bin, "vztmpl"),
		vzlistBin: filepath.Join(bin, "vzlist"),
		cgParent:  cfg.cgParent, peerErr: map[string]string{}, nextCT: 1001,
	}
	if cfg.beforeDir != "" {
		dir, err := filepath.Abs(cfg.beforeDir)
		if err != nil {
			return nil, err
		}
		b.vzctlBefore = filepath.Join(dir, "vzctl")
		if _, err := os.Stat(b.vzctlBefore); err != nil {
			return nil, fmt.Errorf("-before: %w", err)
		}
	}
	for _, p := range []string{b.vzctlBin, b.vztmpl, b.vzlistBin} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s missing (run make build first): %w", p, err)
		}
	}
	return b, nil
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, a...))
}

// setup makes the work area, installs missing peers, and prepares the
// installation under test with its two templates.
func (b *bench) setup() error {
	if err := os.MkdirAll(b.cfg.base, 0o755); err != nil {
		return err
	}
	w, err := os.MkdirTemp(b.cfg.base, "run-")
	if err != nil {
		return err
	}
	b.work = w
	if !b.cfg.keepWork {
		b.undo.push("removing "+w, func() error { return removeTree(w) })
	}
	b.host = recordHostState()
	b.undo.push("host leftovers of the peers", func() error { return b.cleanHost() })
	b.installPeers()
	b.collectVersions()

	b.vzRoot = filepath.Join(w, "vz")
	cache := filepath.Join(b.vzRoot, "template", "cache")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return err
	}
	// Plain directories, as the peers use, unless a section (storage)
	// names a layout: the default (auto) would put the start and density
	// figures on loop-mounted images.
	conf := fmt.Sprintf("cgroup_parent = %q\nstop_timeout = 20\nve_layout = \"dir\"\n", b.cgParent)
	if err := os.MkdirAll(filepath.Join(b.vzRoot, "conf"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.vzRoot, "conf", "vz.toml"), []byte(conf), 0o644); err != nil {
		return err
	}
	b.undo.push("containers of the installation under test", b.cleanVZ)

	out, err := b.run(b.vztmpl, "build", "busybox", "--cache", cache)
	if err != nil {
		return fmt.Errorf("building the busybox template: %w", err)
	}
	b.tmplBusybox = strings.TrimSpace(lastLine(out))
	if b.tmplDebian, err = b.debianTemplate(cache); err != nil {
		return err
	}
	b.logf("templates: %s, %s", b.tmplBusybox, b.tmplDebian)
	return nil
}

// debianTemplate links the cached Debian template into cache, building it
// into the shared cache first when it is not there.
func (b *bench) debianTemplate(cache string) (string, error) {
	name := "debian-12-" + archName() + ".tar.gz"
	src := filepath.Join(debianCache, name)
	if _, err := os.Stat(src); err != nil {
		b.logf("building the Debian template into %s (debootstrap, 1-2 min)", debianCache)
		if err := os.MkdirAll(debianCache, 0o755); err != nil {
			return "", err
		}
		if _, err := b.run(b.vztmpl, "build", "debian", "--cache", debianCache); err != nil {
			return "", fmt.Errorf("building the Debian template: %w", err)
		}
	}
	dst := filepath.Join(cache, name)
	if err := os.Link(src, dst); err != nil {
		// Another file system: copy.
		if _, err := b.run("cp", src, dst); err != nil {
			return "", err
		}
	}
	return dst, nil
}

func archName() string {
	if runtime.GOARCH == "amd64" {
		return "x86_64"
	}
	return runtime.GOARCH
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

// installPeers installs the peer tools that are missing, with apt-get
// (update only if the install fails). A peer that still cannot be found is
// marked unusable with the reason, and its cells print n/a.
func (b *bench) installPeers() {
	need := map[string]string{
		"lxc-start": "lxc", "crun": "crun", "runc": "runc", "systemd-nspawn": "systemd-container", "iperf3": "iperf3",
	}
	var pkgs []string
	for cmd, pkg := range need {
		if _, err := exec.LookPath(cmd); err != nil {
			pkgs = append(pkgs, pkg)
		}
	}
	if len(pkgs) > 0 {
		b.logf("installing %s", strings.Join(pkgs, " "))
		env := []string{"DEBIAN_FRONTEND=noninteractive"}
		install := append([]string{"install", "-y", "-q"}, pkgs...)
		if err := b.cleanupRun(env, "apt-get", install...); err != nil {
			b.logf("apt-get install failed (%v); running apt-get update", err)
			b.cleanupRun(env, "apt-get", "update", "-q")
			if err := b.cleanupRun(env, "apt-get", install...); err != nil {
				b.logf("apt-get install failed again: %v", err)
			}
		}
	}
	missing := func(cmd string) string {
		if _, err := exec.LookPath(cmd); err != nil {
			return "not installed (" + need[cmd] + " package: apt-get install failed)"
		}
		return ""
	}
	b.peerErr[peerLXC] = missing("lxc-start")
	if b.peerErr[peerLXC] == "" {
		if _, err := os.Stat(lxcCommonConf); err != nil {
			b.peerErr[peerLXC] = "LXC's " + lxcCommonConf + " is missing"
		}
	}
	b.peerErr[peerCrun] = missing("crun")
	b.peerErr[peerRunc] = missing("runc")
	b.peerErr[peerNspawn] = missing("systemd-nspawn")
}

// collectVersions records what was measured.
func (b *bench) collectVersions() {
	first := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return "n/a"
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	kernel := first("uname", "-r")
	vz := first(b.vzctlBin, "--version")
	if la, err := readSmall("/proc/loadavg"); err == nil {
		b.loadAvg = strings.Join(strings.Fields(la)[:3], " ")
	}
	b.versions = []string{
		fmt.Sprintf("kernel %s, %d CPUs, cgroup layout: %s, %s", kernel, runtime.NumCPU(), cgroupLayout(), runtime.Version()),
		fmt.Sprintf("ours: %s", vz),
		fmt.Sprintf("LXC %s | crun: %s | runc: %s", first("lxc-start", "--version"), first("crun", "--version"), first("runc", "--version")),
		fmt.Sprintf("%s | %s | %s", first("systemd-nspawn", "--version"), first("unshare", "--version"), first("tar", "--version")),
	}
}

func cgroupLayout() string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return "v2 (unified)"
	}
	if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.controllers"); err == nil {
		return "v1 hybrid"
	}
	return "v1"
}

// newCT hands out a fresh container ID.
func (b *bench) newCT() string {
	b.nextCT++
	return fmt.Sprint(b.nextCT)
}

// cleanVZ stops and destroys every container of the installation under
// test and removes its cgroup parent.
func (b *bench) cleanVZ() error {
	env := []string{"VZ_ROOT=" + b.vzRoot}
	ents, _ := os.ReadDir(filepath.Join(b.vzRoot, "conf"))
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".toml")
		if !ok || id == "vz" {
			continue
		}
		b.destroyCT(id, env)
	}
	return removeCgroupEverywhere(b.cgParent)
}

// destroyCT stops (fast), unmounts and destroys one of our containers,
// ignoring "not running" and "not mounted".
func (b *bench) destroyCT(id string, env []string) {
	b.cleanupRun(env, b.vzctlBin, "--quiet", "stop", "--fast", id)
	b.cleanupRun(env, b.vzctlBin, "--quiet", "umount", id)
	if err := b.cleanupRun(env, b.vzctlBin, "--quiet", "destroy", id); err != nil {
		b.logf("destroying container %s: %v", id, err)
	}
}

// removeTree removes a directory tree after making sure nothing is still
// mounted inside it (RemoveAll would otherwise descend into the mounts).
func removeTree(dir string) error {
	mps := mountsUnder(dir)
	for i := len(mps) - 1; i >= 0; i-- {
		exec.Command("umount", "-l", mps[i]).Run()
	}
	if left := mountsUnder(dir); len(left) > 0 {
		return fmt.Errorf("not removing %s: still mounted: %v", dir, left)
	}
	return os.RemoveAll(dir)
}

// mountsUnder lists mount points at or below dir, outermost first.
func mountsUnder(dir string) []string {
	ms, err := mountinfo.Read(0)
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range ms {
		if m.MountPoint == dir || strings.HasPrefix(m.MountPoint, dir+"/") {
			out = append(out, m.MountPoint)
		}
	}
	return out
}
