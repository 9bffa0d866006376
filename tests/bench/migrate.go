package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// migWorld is the migrate section's two nodes, as tests/migrate_test.go
// builds them: a LAN namespace (bridge lanbr, the peer 10.79.0.1) and a
// namespace per node (10.79.0.2 the source, 10.79.0.3 the destination),
// each node a VZ_ROOT of its own, an sshd of the bench's own (keys made
// for the run) in the destination's namespace, killed by PID.
type migWorld struct {
	b        *bench
	lan      string
	ns       [2]string // source, destination
	root     [2]string
	cg       [2]string
	sshOpts  string
	vzmigBin string
}

func (b *bench) newMigWorld() (*migWorld, error) {
	tag := strconv.Itoa(os.Getpid())
	w := &migWorld{b: b, lan: "gzb-mlan-" + tag, ns: [2]string{"gzb-msrc-" + tag, "gzb-mdst-" + tag},
		vzmigBin: filepath.Join(filepath.Dir(b.vzctlBin), "vzmigrate")}
	if _, err := os.Stat(w.vzmigBin); err != nil {
		return nil, fmt.Errorf("%s missing (make build): %w", w.vzmigBin, err)
	}
	for _, ns := range []string{w.lan, w.ns[0], w.ns[1]} {
		if _, err := b.run("ip", "netns", "add", ns); err != nil {
			return nil, err
		}
		b.undo.push("netns "+ns, func() error { return b.cleanupRun(nil, "ip", "netns", "del", ns) })
	}
	ipn := func(ns string, args ...string) []string { return append([]string{"ip", "-n", ns}, args...) }
	steps := [][]string{
		ipn(w.lan, "link", "add", "lanbr", "type", "bridge"),
		ipn(w.lan, "addr", "add", "10.79.0.1/24", "dev", "lanbr"),
		ipn(w.lan, "link", "set", "lanbr", "up"),
		ipn(w.lan, "link", "set", "lo", "up"),
	}
	for i, ns := range w.ns {
		port := "p" + strconv.Itoa(i)
		steps = append(steps,
			ipn(w.lan, "link", "add", port, "index", strconv.Itoa(40+i), "type", "veth", "peer", "name", "up0", "netns", ns),
			ipn(w.lan, "link", "set", port, "master", "lanbr"),
			ipn(w.lan, "link", "set", port, "up"),
			[]string{"nsenter", "--net=" + netnsPath(ns), "--", "sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv4.neigh.up0.proxy_delay=0"},
			ipn(ns, "link", "set", "lo", "up"),
			ipn(ns, "addr", "add", "10.79.0."+strconv.Itoa(2+i)+"/24", "dev", "up0"),
			ipn(ns, "link", "set", "up0", "up"))
	}
	for _, s := range steps {
		if _, err := b.run(s[0], s[1:]...); err != nil {
			return nil, fmt.Errorf("building the migration world: %w", err)
		}
	}
	for i, side := range []string{"src", "dst"} {
		w.root[i] = filepath.Join(b.work, "mig-"+side)
		w.cg[i] = b.cgParent + "-mig" + side
		cache := filepath.Join(w.root[i], "template", "cache")
		if err := os.MkdirAll(filepath.Join(w.root[i], "conf"), 0o755); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(cache, 0o755); err != nil {
			return nil, err
		}
		conf := fmt.Sprintf("cgroup_parent = %q\nstop_timeout = 20\nve_layout = \"dir\"\nsetup_sysctls = true\n", w.cg[i])
		if err := os.WriteFile(filepath.Join(w.root[i], "conf", "vz.toml"), []byte(conf), 0o644); err != nil {
			return nil, err
		}
		for _, t := range []string{b.tmplBusybox, b.tmplDebian} {
			src := filepath.Join(b.vzRoot, "template", "cache", filepath.Base(t))
			if err := os.Link(src, filepath.Join(cache, filepath.Base(t))); err != nil {
				return nil, err
			}
		}
		i := i
		b.undo.push("containers of the migration node "+side, func() error {
			ents, _ := os.ReadDir(filepath.Join(w.root[i], "conf"))
			for _, e := range ents {
				if id, ok := strings.CutSuffix(e.Name(), ".toml"); ok && id != "vz" {
					w.vzctl(i, "--quiet", "stop", "--fast", id)
					b.destroyCT(id, []string{"VZ_ROOT=" + w.root[i]})
				}
			}
			return removeCgroupEverywhere(w.cg[i])
		})
	}
	return w, w.startSSHD()
}

// startSSHD starts the destination's sshd (no PAM, only the run's key)
// and waits until the source reaches it.
func (w *migWorld) startSSHD() error {
	b := w.b
	dir := filepath.Join(b.work, "mig-ssh")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	p := func(n string) string { return filepath.Join(dir, n) }
	for _, k := range []string{"hostkey", "clientkey"} {
		if _, err := b.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", p(k)); err != nil {
			return err
		}
	}
	pub, _ := os.ReadFile(p("clientkey.pub"))
	hostPub, _ := os.ReadFile(p("hostkey.pub"))
	os.WriteFile(p("authorized_keys"), pub, 0o600)
	os.WriteFile(p("known_hosts"), []byte("[10.79.0.3]:2222 "+string(hostPub)), 0o600)
	cfg := strings.Join([]string{"ListenAddress 10.79.0.3:2222", "HostKey " + p("hostkey"),
		"AuthorizedKeysFile " + p("authorized_keys"), "PidFile " + p("sshd.pid"), "UsePAM no",
		"PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
		"PermitRootLogin prohibit-password", "StrictModes no",
		"SetEnv VZ_ROOT=" + w.root[1] + " PATH=" + filepath.Dir(b.vzctlBin) + ":/usr/sbin:/usr/bin:/sbin:/bin", ""}, "\n")
	if err := os.WriteFile(p("sshd_config"), []byte(cfg), 0o600); err != nil {
		return err
	}
	if _, err := os.Stat("/run/sshd"); os.IsNotExist(err) {
		if err := os.Mkdir("/run/sshd", 0o755); err != nil {
			return err
		}
		b.undo.push("/run/sshd", func() error { return os.Remove("/run/sshd") })
	}
	sshd := exec.Command("nsenter", "--net="+netnsPath(w.ns[1]), "--", "/usr/sbin/sshd", "-D", "-e", "-f", p("sshd_config"))
	if err := sshd.Start(); err != nil {
		return fmt.Errorf("sshd: %w", err)
	}
	b.undo.push("sshd", func() error { killWait(sshd.Process); return nil })
	w.sshOpts = "-F /dev/null -p 2222 -i " + p("clientkey") + " -o UserKnownHostsFile=" + p("known_hosts") +
		" -o StrictHostKeyChecking=yes -o ConnectTimeout=5"
	return b.waitFor(10*time.Second, "sshd in the destination namespace", func() bool {
		return exec.Command("nsenter", append([]string{"--net=" + netnsPath(w.ns[0]), "--", "ssh"},
			append(strings.Fields(w.sshOpts), "root@10.79.0.3", "true")...)...).Run() == nil
	})
}

// vzctl runs vzctl on node i (0 source, 1 destination), timed.
func (w *migWorld) vzctl(i int, args ...string) (time.Duration, string, error) {
	return w.on(i, w.b.vzctlBin, args...)
}

func (w *migWorld) on(i int, bin string, args ...string) (time.Duration, string, error) {
	argv := append([]string{"--net=" + netnsPath(w.ns[i]), "--", bin}, args...)
	c, err := w.b.prepare(w.b.ctx, []string{"VZ_ROOT=" + w.root[i]}, "nsenter", argv...)
	if err != nil {
		return 0, "", err
	}
	return c.runTimed()
}

// stageTime is how long one of vzmigrate's --json stages took, from its
// first progress event to the next stage's (or the final event).
type stageTime struct {
	name string
	d    time.Duration
}

// migrate runs vzmigrate --json on the source, timing its stages as its
// events arrive; it returns the total, the stages and the last line.
func (w *migWorld) migrate(id string, online bool) (time.Duration, []stageTime, string, error) {
	args := []string{"--net=" + netnsPath(w.ns[0]), "--", w.vzmigBin, "--ssh=" + w.sshOpts, "--json"}
	if online {
		args = append(args, "--online")
	}
	c := exec.CommandContext(w.b.ctx, "nsenter", append(args, "root@10.79.0.3", id)...)
	c.Env = append(os.Environ(), "VZ_ROOT="+w.root[0])
	var errb strings.Builder
	c.Stderr = &errb
	stdout, err := c.StdoutPipe()
	if err != nil {
		return 0, nil, "", err
	}
	t0 := time.Now()
	if err := c.Start(); err != nil {
		return 0, nil, "", err
	}
	var stages []stageTime
	var last string
	at := t0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		last = sc.Text()
		var ev struct{ Event, Stage string }
		json.Unmarshal(sc.Bytes(), &ev)
		if ev.Event == "progress" && (len(stages) == 0 || stages[len(stages)-1].name != ev.Stage) || ev.Event != "progress" {
			now := time.Now()
			if len(stages) > 0 {
				stages[len(stages)-1].d = now.Sub(at)
			}
			at = now
			if ev.Event == "progress" {
				stages = append(stages, stageTime{name: ev.Stage})
			}
		}
	}
	err = c.Wait()
	total := time.Since(t0)
	if err != nil {
		return total, stages, last, fmt.Errorf("vzmigrate: %w: %s %s", err, last, tail(errb.String()))
	}
	return total, stages, last, nil
}

// sectionMigrate times offline vzmigrate of a running busybox and a running
// Debian guest between two nodes, with the downtime the LAN peer sees, live
// vzmigrate --online of an idle routed busybox (the same gap, and the
// freeze as vzmigrate counts it), and
// snapshot, backup and restore-backup of the Debian tree against
// tar | zstd of the same tree.
func (b *bench) sectionMigrate() (*table, error) {
	t := &table{title: "migrate: offline and online vzmigrate between two nodes; snapshot, backup, restore-backup", peers: []string{peerTar}}
	w, err := b.newMigWorld()
	if err != nil {
		return t, err
	}
	p, err := openICMP(netnsPath(w.lan))
	if err != nil {
		return t, fmt.Errorf("ICMP socket in the LAN namespace: %w", err)
	}
	defer p.close()
	var errs []string
	guests := []struct {
		name, tmpl, wait, id, addr string
		online                     bool
	}{
		{name: "busybox", tmpl: b.tmplBusybox},
		{name: "Debian", tmpl: b.tmplDebian, wait: "--wait"},
		{name: "busybox online", tmpl: b.tmplBusybox, online: true},
	}
	// All created before the first moves: a container created after
	// another left would get its freed ID range, which the destination
	// still gives the first (receive keeps a backup's range).
	for i := range guests {
		g := &guests[i]
		g.id, g.addr = b.newCT(), "10.79.0."+strconv.Itoa(50+i)
		name := strings.TrimSuffix(filepath.Base(g.tmpl), ".tar.gz")
		if _, _, err := w.vzctl(0, "--quiet", "create", g.id, "--ostemplate", name, "--ipadd", g.addr); err != nil {
			return t, err
		}
		args := []string{"--quiet", "start", g.id}
		if g.wait != "" {
			args = append(args, g.wait)
		}
		if _, _, err := w.vzctl(0, args...); err != nil {
			return t, err
		}
	}
	for _, g := range guests {
		id, addr := g.id, g.addr
		var out string
		var total time.Duration
		var stages []stageTime
		gap, replies, err := p.longestGap(netip.MustParseAddr(addr), func() error {
			var err error
			total, stages, out, err = w.migrate(id, g.online)
			return err
		}, 120*time.Second)
		if err != nil {
			errs = append(errs, g.name+": "+err.Error())
			t.add(row{what: g.name + ": vzmigrate total (ms)", ours: naSeries(errFirstLine(err))})
			continue
		}
		var res struct {
			Result struct {
				Bytes    int64   `json:"bytes"`
				Downtime float64 `json:"downtime_seconds"`
				Freeze   *struct {
					Dump    float64 `json:"dump_seconds"`
					Sync    float64 `json:"sync_seconds"`
					Images  float64 `json:"images_seconds"`
					Restore float64 `json:"restore_seconds"`
				} `json:"freeze"`
			} `json:"result"`
		}
		json.Unmarshal([]byte(lastLine(out)), &res)
		t.add(row{what: g.name + ": vzmigrate total (ms)", ours: one(ms(total))})
		t.add(row{what: g.name + ": downtime, LAN peer's longest ping gap (ms)", ours: one(ms(gap))})
		if g.online {
			t.add(row{what: g.name + ": downtime, freeze to running on the destination (ms)", ours: one(res.Result.Downtime * 1000)})
			if f := res.Result.Freeze; f != nil {
				t.add(row{what: g.name + ":   freeze: final dump (ms)", ours: one(f.Dump * 1000)})
				t.add(row{what: g.name + ":   freeze: last sync (ms)", ours: one(f.Sync * 1000)})
				t.add(row{what: g.name + ":   freeze: images sent, beside the sync (ms)", ours: one(f.Images * 1000)})
				t.add(row{what: g.name + ":   freeze: restore on the destination (ms)", ours: one(f.Restore * 1000)})
			}
		} else {
			t.add(row{what: g.name + ": downtime, stop to start as vzmigrate counts it (ms)", ours: one(res.Result.Downtime * 1000)})
		}
		t.add(row{what: g.name + ": bytes streamed (MiB)", ours: one(float64(res.Result.Bytes) / (1 << 20))})
		for _, s := range stages {
			t.add(row{what: g.name + ":   stage " + s.name + " (ms)", ours: one(ms(s.d))})
		}
		b.logf("migrate %s: %s total, longest gap %s (%d replies)", g.name, total.Round(time.Millisecond), gap.Round(time.Millisecond), replies)
	}
	if err := b.migrateBackupRows(t, w); err != nil {
		errs = append(errs, err.Error())
	}
	t.note("two nodes: network namespaces on one LAN bridge, VZ_ROOTs on the work area's fs (dir layout), ssh to an sshd of the bench's own")
	t.note("offline: stop, stream (backup format, zstd) through ssh into vzctl receive, start there; one run each (a migration moves the container)")
	t.note("online: the same stream while it runs, memory pre-dumps (none where the kernel has no soft-dirty bits), rsync, then the freeze: CRIU dump, unmount, rsync, images through ssh, vzctl restore there; downtime as vzmigrate counts it, freeze to restored")
	t.note("gap: the LAN peer sends an ICMP echo every 1 ms from before vzmigrate until the first reply from the destination; the longest time between replies")
	t.note("backup rows: the Debian tree stopped, without a user namespace (the restored copy beside it keeps its ID range); GNU tar = tar --numeric-owner --xattrs -c | zstd -3 (and zstd -d | tar -x) of the same private area")
	if len(errs) > 0 {
		return t, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return t, nil
}

// migrateBackupRows times snapshot, backup and restore-backup of a stopped
// Debian container on the source node against tar | zstd of its tree.
func (b *bench) migrateBackupRows(t *table, w *migWorld) error {
	id := b.newCT()
	name := strings.TrimSuffix(filepath.Base(b.tmplDebian), ".tar.gz")
	// Without a user namespace: the restored copy (a new CTID beside the
	// original) keeps the backup's host ID range, which another
	// container of the node may not share.
	if _, _, err := w.vzctl(0, "--quiet", "create", id, "--ostemplate", name, "--local_uid", "0", "--local_gid", "0"); err != nil {
		return err
	}
	private := filepath.Join(w.root[0], "private", id)
	file := filepath.Join(b.work, "mig-backup.zst")
	tarFile := filepath.Join(b.work, "mig-tar.zst")
	snap, bk, rs, tz, tx := &series{}, &series{}, &series{}, &series{}, &series{}
	var bkSize, tarSize float64
	for r := 0; r < b.cfg.runs; r++ {
		unix.Sync()
		d, _, err := w.vzctl(0, "--quiet", "snapshot", id, "--id", fmt.Sprintf("00000000-0000-4000-8000-%012d", r+1))
		if err != nil {
			return err
		}
		snap.add(d)
		os.Remove(file)
		unix.Sync()
		if d, _, err = w.vzctl(0, "--quiet", "backup", id, file); err != nil {
			return err
		}
		bk.add(d)
		if st, err := os.Stat(file); err == nil {
			bkSize = float64(st.Size()) / (1 << 20)
		}
		rid := b.newCT()
		unix.Sync()
		if d, _, err = w.vzctl(0, "--quiet", "restore-backup", file, rid); err != nil {
			return err
		}
		rs.add(d)
		b.destroyCT(rid, []string{"VZ_ROOT=" + w.root[0]})
		os.Remove(tarFile)
		unix.Sync()
		if d, _, err = b.timed("sh", "-c", "tar --numeric-owner --xattrs --xattrs-include='*' -C "+private+" -cf - . | zstd -q -3 >"+tarFile); err != nil {
			return err
		}
		tz.add(d)
		if st, err := os.Stat(tarFile); err == nil {
			tarSize = float64(st.Size()) / (1 << 20)
		}
		x := filepath.Join(b.work, "mig-untar")
		os.MkdirAll(x, 0o700)
		unix.Sync()
		if d, _, err = b.timed("sh", "-c", "zstd -dc "+tarFile+" | tar --numeric-owner --xattrs --xattrs-include='*' -C "+x+" -xpf -"); err != nil {
			return err
		}
		tx.add(d)
		os.RemoveAll(x)
	}
	os.Remove(file)
	os.Remove(tarFile)
	t.add(row{what: "Debian stopped: vzctl snapshot (ms)", ours: snap})
	t.add(row{what: "Debian stopped: vzctl backup vs tar | zstd -3 (ms)", ours: bk, peers: []*series{tz}})
	t.add(row{what: "Debian: vzctl restore-backup vs zstd -d | tar -x (ms)", ours: rs, peers: []*series{tx}})
	t.add(row{what: "Debian: archive size (MiB)", ours: one(bkSize), peers: []*series{one(tarSize)}})
	return nil
}

// longestGap pings dst every millisecond from before act until the first
// reply after act returned, and returns the longest time between two
// replies (the first reply must come before act starts).
func (p *icmpPinger) longestGap(dst netip.Addr, act func() error, timeout time.Duration) (time.Duration, int, error) {
	var mu sync.Mutex
	var replies []time.Time
	stop := make(chan struct{})
	wg := p.ping(dst, stop, func(at time.Time) bool {
		mu.Lock()
		replies = append(replies, at)
		mu.Unlock()
		return true
	})
	defer wg.Wait()
	defer close(stop)
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(replies) }
	for t0 := time.Now(); count() == 0; time.Sleep(time.Millisecond) {
		if time.Since(t0) > 5*time.Second {
			return 0, 0, fmt.Errorf("no echo reply from %s before the migration", dst)
		}
	}
	if err := act(); err != nil {
		return 0, 0, err
	}
	done := time.Now()
	for t0 := time.Now(); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		last := replies[len(replies)-1]
		mu.Unlock()
		if last.After(done) {
			break
		}
		if time.Since(t0) > timeout {
			return 0, 0, fmt.Errorf("no echo reply from %s within %s after the migration", dst, timeout)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var gap time.Duration
	for i := 1; i < len(replies); i++ {
		gap = max(gap, replies[i].Sub(replies[i-1]))
	}
	return gap, len(replies), nil
}
