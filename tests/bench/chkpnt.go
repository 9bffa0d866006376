package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Section chkpnt: checkpoint and restore of the idle busybox guest with
// CRIU, ours (`vzctl chkpnt` / `vzctl restore`, CRIU over RPC) against
// LXC's lxc-checkpoint driving the same CRIU binary: the time of each
// command and the size of the dump. Every run dumps the running guest
// (which stops it) and restores it; the guest must be running again
// before the next run.

// chkpntTimeout bounds one dump or restore: a CRIU that hangs (see
// criuFault) must not hang the bench.
const chkpntTimeout = 2 * time.Minute

// criuFault is what ct/checkpoint gives its CRIU worker (CRIU_FAULT=130,
// FI_NO_BREAKPOINTS): on VMs where debug-register breakpoints never fire,
// every dump otherwise hangs in CRIU's parasite. LXC's CRIU gets it too,
// so both run the same code path.
const criuFault = "CRIU_FAULT=130"

func (b *bench) sectionChkpnt() (*table, error) {
	root, id, mark, err := b.guestSetup("busybox", b.tmplBusybox, "ck")
	if err != nil {
		return nil, err
	}
	t := &table{
		title: "chkpnt. busybox guest: checkpoint (dump + stop) and restore with CRIU, ms and KiB (idle guest, empty netns)",
		peers: []string{peerLXC},
	}
	oursDump, oursRestore, oursSize := &series{}, &series{}, &series{}
	runErr := ""
	if err := b.ckOurs(id, oursDump, oursRestore, oursSize); err != nil {
		b.logf("chkpnt, ours: %v", err)
		runErr = errFirstLine(err)
	}
	if runErr != "" && !oursDump.ok() {
		oursDump, oursRestore, oursSize = naSeries(runErr), naSeries(runErr), naSeries(runErr)
	}

	lxcDump, lxcRestore, lxcSize := &series{}, &series{}, &series{}
	if reason := b.peerErr[peerLXC]; reason != "" {
		lxcDump, lxcRestore, lxcSize = naSeries(reason), naSeries(reason), naSeries(reason)
	} else {
		// With a profile set, lxc-checkpoint -r passes it to CRIU
		// (--lsm-profile apparmor:...), which refuses it on a kernel
		// without AppArmor: cleared, as a start ignores it there anyway.
		if err := b.lxcDefine("gzb-ck", root,
			"lxc.mount.entry = tmpfs run tmpfs rw,nosuid,nodev,mode=755,size=1m 0 0",
			"lxc.mount.entry = "+mark+" bench none bind 0 0",
			"lxc.apparmor.profile ="); err != nil {
			return nil, err
		}
		b.undo.push("lxc gzb-ck", func() error { return b.lxcRemove("gzb-ck") })
		if err := b.ckLXC("gzb-ck", mark, lxcDump, lxcRestore, lxcSize); err != nil {
			b.logf("chkpnt, LXC: %v", err)
			r := "lxc-checkpoint failed on this host: " + err.Error()
			for _, s := range []**series{&lxcDump, &lxcRestore, &lxcSize} {
				if !(*s).ok() {
					*s = naSeries(r)
				}
			}
		}
	}
	t.add(row{what: "checkpoint (dump, guest stopped)", ours: oursDump, peers: []*series{lxcDump}})
	t.add(row{what: "restore (guest running again)", ours: oursRestore, peers: []*series{lxcRestore}})
	t.add(row{what: "dump size (images, logs excluded), KiB", ours: oursSize, peers: []*series{lxcSize}})
	t.note("ours: `vzctl chkpnt ID` then `vzctl restore ID` (returns once the restored init runs under its supervisor)")
	t.note("LXC: `lxc-checkpoint -s -D DIR -n NAME`, then `lxc-checkpoint -r -D DIR -n NAME` (daemonised; returns once restored)")
	t.note("dump: lxc-checkpoint -s returns when CRIU exits and its monitor tears the container down after (lxc src/lxc/criu.c do_dump); `vzctl chkpnt` returns once the container is torn down (cgroups, network host side, root unmounted), so that status and the next command see it stopped")
	t.note("the guests differ for CRIU: ours runs in a user namespace with a console pty and masked /proc and /sys entries, LXC's is privileged without a console")
	t.note("size and time: CRIU saves each tmpfs with tar and gzip; ours has two (the guest's /run and /dev/shm; /dev, the masked /proc and /sys entries and, on cgroup v1, the read-only /sys/fs/cgroup tmpfs are external mounts, see ct/checkpoint); LXC's two are /dev and /run")
	t.note("both: the same guest tree, CRIU %s from PATH / ct/checkpoint's default, with %s; the guest is checked running after each restore", b.criuVersion(), criuFault)
	if runErr != "" {
		return t, fmt.Errorf("ours: %s", runErr)
	}
	return t, nil
}

// ckOurs times cfg.runs checkpoint/restore cycles of our container id.
func (b *bench) ckOurs(id string, dump, restore, size *series) error {
	mark := filepath.Join(b.privateDir(id), "bench", "ready")
	os.Remove(mark)
	if _, _, err := b.vzctl("--quiet", "start", id); err != nil {
		return err
	}
	defer b.vzctl("--quiet", "stop", "--fast", id)
	if err := b.waitFile(mark, readyTimeout); err != nil {
		return err
	}
	dir := filepath.Join(b.vzRoot, "dump", "Dump."+id)
	for i := 0; i < b.cfg.warmup+b.cfg.runs; i++ {
		d, _, err := b.vzctl("--quiet", "chkpnt", id)
		if err != nil {
			return err
		}
		kib, err := dirKiB(dir)
		if err != nil {
			return err
		}
		r, _, err := b.vzctl("--quiet", "restore", id)
		if err != nil {
			return err
		}
		if _, _, err := b.vzctl("--quiet", "exec", id, "true"); err != nil {
			return fmt.Errorf("restored container does not run commands: %w", err)
		}
		if i < b.cfg.warmup {
			continue
		}
		dump.add(d)
		restore.add(r)
		size.addV(kib)
	}
	return nil
}

// ckLXC does the same with LXC's container name.
func (b *bench) ckLXC(name, mark string, dump, restore, size *series) error {
	os.Remove(filepath.Join(mark, "ready"))
	if _, _, err := b.lxc("lxc-start", "-n", name, "-d"); err != nil {
		return err
	}
	defer b.lxc("lxc-stop", "-n", name, "-k")
	if err := b.waitFile(filepath.Join(mark, "ready"), readyTimeout); err != nil {
		return err
	}
	for i := 0; i < b.cfg.warmup+b.cfg.runs; i++ {
		dir := filepath.Join(b.work, "lxc-ck", fmt.Sprint(i))
		os.RemoveAll(dir)
		d, _, err := b.lxcCk("-s", "-D", dir, "-n", name)
		if err != nil {
			return fmt.Errorf("dump: %s", criuError(filepath.Join(dir, "dump.log"), err))
		}
		kib, err := dirKiB(dir)
		if err != nil {
			return err
		}
		if i >= b.cfg.warmup {
			dump.add(d)
			size.addV(kib)
		}
		r, _, err := b.lxcCk("-r", "-D", dir, "-n", name)
		if err != nil {
			return fmt.Errorf("restore: %s", criuError(filepath.Join(dir, "restore.log"), err))
		}
		_, st, err := b.lxc("lxc-info", "-n", name, "-sH")
		if err != nil {
			return err
		}
		if st = strings.TrimSpace(st); st != "RUNNING" {
			return fmt.Errorf("LXC container %s is %s after lxc-checkpoint -r", name, st)
		}
		os.RemoveAll(dir)
		if i >= b.cfg.warmup {
			restore.add(r)
		}
	}
	return nil
}

// criuError is the first error CRIU logged in log (what made the tool
// fail), else err's first line.
func criuError(log string, err error) string {
	data, rerr := os.ReadFile(log)
	if rerr == nil {
		for _, l := range strings.Split(string(data), "\n") {
			// CRIU in a user namespace cannot raise its fd limit; it
			// says so on every run and goes on.
			if i := strings.Index(l, "Error ("); i >= 0 && !strings.Contains(l, "RLIMIT_NOFILE") {
				return "CRIU: " + strings.TrimSpace(l[i:])
			}
		}
	}
	return errFirstLine(err)
}

// lxcCk runs lxc-checkpoint on our lxcpath with CRIU's fault setting,
// bounded by chkpntTimeout.
func (b *bench) lxcCk(args ...string) (time.Duration, string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, chkpntTimeout)
	defer cancel()
	c, err := b.prepare(ctx, []string{criuFault}, "lxc-checkpoint", append([]string{"-P", b.lxcPath()}, args...)...)
	if err != nil {
		return 0, "", err
	}
	return c.runTimed()
}

// dirKiB is the size of the CRIU images under dir: its files but the
// logs, whose verbosity differs (ours logs at level 4 for the admin).
func dirKiB(dir string) (float64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && !strings.HasSuffix(d.Name(), ".log") {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			total += fi.Size()
		}
		return nil
	})
	return float64(total) / 1024, err
}

// criuVersion is the CRIU on PATH as it names itself.
func (b *bench) criuVersion() string {
	out, err := b.run("criu", "--version")
	if err != nil {
		return "(unknown)"
	}
	v, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	return strings.TrimPrefix(v, "Version: ")
}
