package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Section "provision" (issue #14): what a hoster's automation does when an
// order comes in, N times, P at a time: `vzctl create --ipadd auto` (an
// address from vz.toml's ip_pool, read back from the command's output as a
// script would), `vzctl set --userpasswd root:...`, `vzctl start`. Once on
// a scratch btrfs (the btrfs layout: a snapshot per container) and once on
// a scratch ext4 with no --layout (the default the node picks there). The
// peer is LXC doing the nearest thing it has: `lxc-copy` of a stopped
// busybox container (a full copy of the tree, dir backing) and
// `lxc-start -d`, with no address pool and no password step.
//
// Everything runs in a routed world of the bench's own (see net.go), so the
// venet routes and proxy entries of N containers land in its node
// namespace, never on the host's.

const (
	provP = 8
	// provPool holds more addresses than one case takes; every case
	// destroys its containers, which gives the addresses back.
	provPool = "10.77.0.100-10.77.0.250"
)

// provAssigned is vzctl's line for an address auto took (ct/ipalloc.go).
var provAssigned = regexp.MustCompile(`Assigned (\S+) to CT (\d+)`)

// provCase is one measured batch: wall time for all, per container, and
// how many of the N failed.
type provCase struct {
	wall, per *series
	distinct  int // distinct addresses read back from create's output
}

func (b *bench) sectionProvision() (*table, error) {
	n := 100
	if b.cfg.quick {
		n = 16
	}
	confPath := filepath.Join(b.vzRoot, "conf", "vz.toml")
	orig, err := os.ReadFile(confPath)
	if err != nil {
		return nil, err
	}
	b.undo.push("restoring vz.toml", func() error { return os.WriteFile(confPath, orig, 0o644) })
	if err := b.setGlobalConf(orig, fmt.Sprintf("setup_sysctls = true\nip_pool = [%q]\n", provPool)); err != nil {
		return nil, err
	}
	b.undoNetnsMount()
	w, err := b.newNetWorld("p", false)
	if err != nil {
		return nil, err
	}
	s := &stRun{b: b, tmpl: strings.TrimSuffix(filepath.Base(b.tmplBusybox), ".tar.gz"),
		dir: filepath.Join(b.work, "provision"), p: provP, live: map[string]bool{}}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, err
	}
	ext4, err := s.newFS("ext4", stExt4Size)
	if err != nil {
		return nil, fmt.Errorf("scratch ext4: %w", err)
	}
	bt, err := s.newFS("btrfs", stBtrfsSize)
	if err != nil {
		return nil, fmt.Errorf("scratch btrfs: %w", err)
	}
	// Pushed after the file systems and the world: runs before they go.
	b.undo.push("provisioned containers", func() error { return provTeardown(s, w) })

	t := &table{
		title: fmt.Sprintf("provision. Create + set --userpasswd + start, N=%d busybox containers, %d at a time (issue #14)", n, provP),
		peers: []string{peerLXC},
	}
	lxc := &provCase{wall: naSeries("LXC: " + b.peerErr[peerLXC]), per: naSeries("LXC: " + b.peerErr[peerLXC])}
	if b.peerErr[peerLXC] == "" {
		if lxc, err = b.provisionLXC(n); err != nil {
			na := naSeries("LXC: " + errFirstLine(err))
			lxc = &provCase{wall: na, per: na}
		}
	}
	noBound := naSeries("no kernel bound: a product workflow (unpack or snapshot, config, passwd, start)")
	var firstErr error
	for _, c := range []*stCase{{"btrfs layout on btrfs", "btrfs", bt}, {"default layout on ext4", "", ext4}} {
		r, err := provisionOurs(s, w, c, n)
		if err != nil {
			na := naSeries(errFirstLine(err))
			r = &provCase{wall: na, per: na}
			firstErr = firstOf(firstErr, err)
		}
		t.add(row{what: c.label + ": all N, wall, ms", ours: r.wall, bound: noBound, peers: []*series{lxc.wall}})
		t.add(row{what: c.label + ": per container, ms", ours: r.per, bound: noBound, peers: []*series{lxc.per}})
		if r.distinct > 0 {
			t.note("%s: %d distinct addresses read back from `Assigned ADDR to CT N`", c.label, r.distinct)
		}
	}
	t.note("ours: per container `vzctl create ID --ostemplate busybox --private SCRATCH/ID [--layout btrfs --diskspace %s] --ipadd auto`,", stDiskspace)
	t.note("  then `vzctl set ID --userpasswd root:PW`, then `vzctl start ID` (returned, not booted), in the node namespace of a routed world;")
	t.note("  the pool is %s; the containers are stopped and destroyed between cases, outside the figures", provPool)
	t.note("LXC: `lxc-copy -n BASE -N NAME` (dir backing: a copy of the unpacked busybox tree) + `lxc-start -d`, no network, no password step")
	return t, firstErr
}

// firstOf keeps the first error.
func firstOf(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// provisionOurs provisions n containers on c, p at a time, then stops and
// destroys them.
func provisionOurs(s *stRun, w *netWorld, c *stCase, n int) (*provCase, error) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = s.b.newCT()
	}
	var mu sync.Mutex
	addrs := map[netip.Addr]string{}
	var dup error
	t0 := time.Now()
	fails := s.parallel(ids, provP, func(id string) error {
		args := []string{"create", id, "--ostemplate", s.tmpl, "--private", c.private(id), "--ipadd", "auto"}
		if c.layout != "" {
			args = append(args, "--layout", c.layout, "--diskspace", stDiskspace)
		}
		s.track(id, true)
		_, out, err := w.vzctl(args...)
		if err != nil {
			if _, serr := os.Stat(filepath.Join(s.b.vzRoot, "conf", id+".toml")); errors.Is(serr, os.ErrNotExist) {
				s.track(id, false)
			}
			return fmt.Errorf("create %s: %w", id, err)
		}
		m := provAssigned.FindStringSubmatch(out)
		if m == nil || m[2] != id {
			return fmt.Errorf("create %s: no address in its output: %q", id, tail(out))
		}
		a, err := netip.ParseAddr(m[1])
		if err != nil {
			return fmt.Errorf("create %s: %w", id, err)
		}
		mu.Lock()
		if other, ok := addrs[a]; ok && dup == nil {
			dup = fmt.Errorf("address %s given to both %s and %s", a, other, id)
		}
		addrs[a] = id
		mu.Unlock()
		if _, _, err := w.vzctl("--quiet", "set", id, "--userpasswd", "root:bench-"+id); err != nil {
			return fmt.Errorf("set --userpasswd %s: %w", id, err)
		}
		if _, _, err := w.vzctl("--quiet", "start", id); err != nil {
			return fmt.Errorf("start %s: %w", id, err)
		}
		return nil
	})
	wall := time.Since(t0)
	r := &provCase{wall: one(ms(wall)), per: stPerCT(wall, n, fails), distinct: len(addrs)}
	r.wall.fails = fails
	if err := provTeardown(s, w); err != nil {
		return r, err
	}
	return r, dup
}

// provTeardown stops (in the world's node namespace, where the
// supervisors tear the network down) and destroys every container s still
// tracks.
func provTeardown(s *stRun, w *netWorld) error {
	s.mu.Lock()
	ids := make([]string, 0, len(s.live))
	for id := range s.live {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	var mu sync.Mutex
	var errs []error
	s.parallel(ids, provP, func(id string) error {
		w.vzctl("--quiet", "stop", "--fast", id)
		_, err := s.destroy(id)
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
		return err
	})
	return errors.Join(errs...)
}

// provisionLXC copies a stopped busybox LXC container n times and starts
// each copy, p at a time, then removes them all.
func (b *bench) provisionLXC(n int) (*provCase, error) {
	root, err := b.peerTree("busybox", b.tmplBusybox)
	if err != nil {
		return nil, err
	}
	const base = "gzbp-base"
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("gzbp%04d", i+1)
	}
	b.undo.push("provisioned LXC containers", func() error {
		for _, name := range append(names, base) {
			b.lxcRemove(name)
		}
		return nil
	})
	// lxc-copy refuses a base whose rootfs path lacks the base's name:
	// give it its own copy of the tree (outside the figures).
	rootfs := filepath.Join(b.lxcPath(), base, "rootfs")
	if err := os.MkdirAll(filepath.Dir(rootfs), 0o755); err != nil {
		return nil, err
	}
	if _, err := b.run("cp", "-a", root, rootfs); err != nil {
		return nil, err
	}
	if err := b.lxcDefine(base, rootfs, "lxc.mount.entry = tmpfs run tmpfs rw,nosuid,nodev,mode=755,size=1m 0 0"); err != nil {
		return nil, err
	}
	s := &stRun{b: b}
	t0 := time.Now()
	fails := s.parallel(names, provP, func(name string) error {
		if _, _, err := b.lxc("lxc-copy", "-n", base, "-N", name); err != nil {
			return err
		}
		_, _, err := b.lxc("lxc-start", "-n", name, "-d")
		return err
	})
	wall := time.Since(t0)
	r := &provCase{wall: one(ms(wall)), per: stPerCT(wall, n, fails)}
	r.wall.fails = fails
	for _, name := range names {
		b.lxcRemove(name)
	}
	return r, nil
}
