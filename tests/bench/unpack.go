package main

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"govz/templates/untar"
)

// Section 1: unpacking a template into a new private area. Four
// contenders, all writing into the same file system (the work area):
//
//	vzctl create     the whole command: lock, config, extract, rename
//	untar.Extract    our extractor alone, called in this process
//	GNU tar          tar --numeric-owner --xattrs --xattrs-include='*' -xpzf
//	bound            the tree replayed from memory (replay.go)
//
// Runs alternate (the order rotates every round) and the file system is
// synced before each timed run, so nobody pays for another's writeback,
// and drifts of the shared disk hit everyone alike.

// unpacker is one contender: it unpacks into dest (an empty directory) or,
// for vzctl create, into a new container whose private area is made in
// dest; undo removes the result.
type unpacker struct {
	name string
	run  func(dest string) (time.Duration, error)
	undo func(dest string) error
	got  *series
}

// unpackFS is where the unpacks go: "loop" gives every timed run a new ext4
// on a loop device (the default: on this host's long-lived ext4 the inode
// allocator's walk past recently deleted inodes made the same extraction
// take 2 to 14 s, drowning every difference); "host" uses the work area's
// file system as it is.
func (b *bench) unpackTarget(scratch string) (dir string, release func() error, err error) {
	if b.cfg.unpackFS == "host" {
		return scratch, func() error { return nil }, nil
	}
	img := filepath.Join(scratch, "fs.img")
	mnt := filepath.Join(scratch, "mnt")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return "", nil, err
	}
	os.Remove(img)
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		return "", nil, err
	}
	if err := os.Truncate(img, 2<<30); err != nil {
		return "", nil, err
	}
	// No lazy init: ext4lazyinit would zero inode tables in the background
	// while we measure.
	if _, err := b.run("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", img); err != nil {
		return "", nil, err
	}
	out, err := b.run("losetup", "-f", "--show", img)
	if err != nil {
		return "", nil, err
	}
	dev := strings.TrimSpace(out)
	var once sync.Once
	release = func() error {
		var rerr error
		once.Do(func() {
			if err := unix.Unmount(mnt, 0); err != nil && !errors.Is(err, unix.EINVAL) {
				unix.Unmount(mnt, unix.MNT_DETACH)
			}
			rerr = b.cleanupRun(nil, "losetup", "-d", dev)
			os.Remove(img)
		})
		return rerr
	}
	b.undo.push("loop file system "+dev, release)
	if err := unix.Mount(dev, mnt, "ext4", 0, ""); err != nil {
		release()
		return "", nil, fmt.Errorf("mounting %s: %w", dev, err)
	}
	return mnt, release, nil
}

func (b *bench) sectionUnpack() (*table, error) {
	t := &table{
		title: "1. Template unpack, ms (" + b.unpackWhere() + "; alternating runs, sync before each)",
		peers: []string{peerTar},
	}
	t.note("bound = per round max(fs replay, gunzip): the two costs no extractor avoids, and which two cores can overlap;")
	t.note("  fs replay = the same tree created from members already decompressed in memory, one thread, plain syscalls")
	t.note("  (open/write/fchown/fchmod/futimens, mkdir, symlink, link, xattrs); gunzip = fastest of pigz -dc and Go's compress/gzip to nowhere")
	t.note("vzctl create = the whole command (config, lock, extraction, rename); untar.ExtractFile = govz/templates/untar called in-process")
	templates := []struct {
		label, path string
		runs        int
	}{
		{"debian-12", b.tmplDebian, b.cfg.unpackRuns},
		{"busybox", b.tmplBusybox, b.cfg.runs},
	}
	for _, tm := range templates {
		res, info, err := b.unpackOne(tm.path, tm.runs)
		if err != nil {
			return t, fmt.Errorf("%s: %w", tm.label, err)
		}
		label := fmt.Sprintf("%s (%s): ", tm.label, info)
		t.add(row{what: label + "vzctl create", ours: res["create"], bound: res["bound"], peers: []*series{res["tar"]}})
		t.add(row{what: label + "untar.ExtractFile", ours: res["extract"], bound: res["bound"], peers: []*series{res["tar"]}})
		if res["replay"].ok() && res["gunzip"].ok() {
			t.note("%s: fs replay %s ms, gunzip %s ms (medians)", tm.label, num(res["replay"].median()), num(res["gunzip"].median()))
		}
	}
	return t, nil
}

func (b *bench) unpackWhere() string {
	if b.cfg.unpackFS == "host" {
		return "into the work area's file system"
	}
	return "each run into a new ext4 on a loop device"
}

// unpackOne measures the four contenders on one template.
func (b *bench) unpackOne(template string, runs int) (map[string]*series, string, error) {
	im, err := loadImage(template)
	if err != nil {
		return nil, "", err
	}
	info := fmt.Sprintf("%d entries, %.0f MiB", len(im.members), float64(im.bytes)/(1<<20))
	tmplName := strings.TrimSuffix(filepath.Base(template), ".tar.gz")
	scratch := filepath.Join(b.work, "unpack")
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		return nil, "", err
	}
	rmDir := func(dest string) error {
		if b.cfg.unpackFS == "host" {
			return os.RemoveAll(dest)
		}
		return nil // the file system goes as a whole
	}
	var lastCT string
	cs := []*unpacker{
		{name: "create", run: func(dest string) (time.Duration, error) {
			lastCT = b.newCT()
			d, _, err := b.vzctl("--quiet", "create", lastCT, "--ostemplate", tmplName, "--private", filepath.Join(dest, "ct"))
			return d, err
		}, undo: func(string) error {
			_, _, err := b.vzctl("--quiet", "destroy", lastCT)
			return err
		}},
		{name: "extract", run: func(dest string) (time.Duration, error) {
			t0 := time.Now()
			err := untar.ExtractFile(template, dest, untar.Options{})
			return time.Since(t0), err
		}, undo: rmDir},
		{name: "tar", run: func(dest string) (time.Duration, error) {
			d, _, err := b.timed("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpzf", template, "-C", dest)
			return d, err
		}, undo: rmDir},
		{name: "replay", run: func(dest string) (time.Duration, error) {
			t0 := time.Now()
			err := im.replay(dest)
			return time.Since(t0), err
		}, undo: rmDir},
	}
	res := map[string]*series{"gunzip": {}}
	for _, c := range cs {
		c.got = &series{}
		res[c.name] = c.got
	}
	var bound series
	// The debian tree takes seconds per run; warm up on the small one only
	// (loadImage has just read the template into the page cache).
	warm := 0
	if im.bytes < 64<<20 {
		warm = b.cfg.warmup
	}
	counts := map[string]int{}
	for round := -warm; round < runs; round++ {
		for i := range cs {
			c := cs[(i+max(round, 0))%len(cs)]
			fsDir, release, err := b.unpackTarget(scratch)
			if err != nil {
				return nil, "", err
			}
			dest := filepath.Join(fsDir, "x")
			if err := os.Mkdir(dest, 0o755); err != nil {
				release()
				return nil, "", err
			}
			unix.Sync()
			if err := b.ctx.Err(); err != nil {
				return nil, "", err
			}
			d, err := c.run(dest)
			if err != nil {
				c.got.fails++
				b.logf("unpack %s: %v", c.name, err)
				if c.got.na == "" {
					c.got.na = errFirstLine(err)
				}
			} else if round >= 0 {
				c.got.add(d)
			}
			if round == 0 && err == nil {
				where := dest
				if c.name == "create" {
					where = filepath.Join(dest, "ct")
				}
				counts[c.name] = countEntries(where)
			}
			if err := c.undo(dest); err != nil {
				release()
				return nil, "", fmt.Errorf("cleaning up after %s: %w", c.name, err)
			}
			os.RemoveAll(dest)
			if err := release(); err != nil {
				return nil, "", err
			}
		}
		// Decompression alone, the other half of the bound.
		gz, err := b.gunzipFloor(template)
		if err != nil {
			return nil, "", err
		}
		if round >= 0 {
			res["gunzip"].add(gz)
			if r := res["replay"].vals; len(r) == round+1 {
				bound.addV(max(r[round], ms(gz)))
			}
		}
	}
	res["bound"] = &bound
	if len(bound.vals) == 0 {
		res["bound"] = naSeries("the replay failed")
	}
	for _, c := range cs {
		if len(c.got.vals) > 0 {
			c.got.na = ""
		}
	}
	// The extractor and the bound must make the same tree as GNU tar
	// (vzctl create may add its own files, e.g. /etc/hostname).
	for _, name := range []string{"extract", "replay"} {
		if n, ok := counts[name]; ok && n != counts["tar"] {
			return res, info, fmt.Errorf("%s made %d entries, GNU tar %d", name, n, counts["tar"])
		}
	}
	return res, info, nil
}

// gunzipFloor is the fastest decompression of the template to nowhere:
// pigz -dc (when installed) or Go's compress/gzip, whichever wins.
func (b *bench) gunzipFloor(template string) (time.Duration, error) {
	t0 := time.Now()
	f, err := os.Open(template)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return 0, err
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return 0, err
	}
	best := time.Since(t0)
	if _, err := exec.LookPath("pigz"); err != nil {
		return best, nil
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	c := exec.CommandContext(b.ctx, "pigz", "-dc", template)
	c.Stdout = null
	t0 = time.Now()
	if err := c.Run(); err != nil {
		return 0, fmt.Errorf("pigz -dc %s: %w", template, err)
	}
	return min(best, time.Since(t0)), nil
}

// countEntries counts the entries of a tree (its root excluded).
func countEntries(root string) int {
	n := 0
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != root {
			n++
		}
		return nil
	})
	return n
}
