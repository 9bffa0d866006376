package main

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/storage"
	"govz/quota/btrfs"
	qimage "govz/quota/image"
)

// Section "storage": the storage layouts side by side, creating containers
// from the Debian template. Each layout works on a file system made for the
// run in a sparse file on a loop device, an ext4 and a btrfs one, so the
// used-block figures are ours alone and nothing lands on the host's own
// file systems but the sparse files:
//
//	dir on ext4      every create unpacks the tarball
//	btrfs            a snapshot of the template unpacked once into a subvolume
//	image on ext4    a sparse copy of the template's ext4 image, resized
//	image on btrfs   the same copy as a reflink
//	overlay on ext4  an overlayfs upper directory over the template
//	                 unpacked once (the shared, read-only lower layer)
//
// The containers' private areas are put on the scratch file systems with
// --private; their configs stay in the bench's installation, so its
// cleanup (cleanVZ) is the last resort should ours fail. GNU tar unpacking
// the same tarball into the same file system is the peer of every timing,
// and of every disk figure (the template's unpacked size).

const (
	// stDiskspace is the --diskspace of every btrfs and image container:
	// an image needs a size, and a btrfs limit is what turns qgroups on,
	// as a real deployment with disk limits has them. dir gets none (the
	// scratch ext4 has no project quota).
	stDiskspace = "2G"
	// Sparse: only what is written takes space on the host.
	stExt4Size  = 64 << 30
	stBtrfsSize = 24 << 30
	// stFirstBudget caps the first-use rounds (a cold image create takes
	// seconds); at least stFirstMin rounds run whatever the time.
	stFirstBudget = 4 * time.Minute
	stFirstMin    = 3
)

// stCase is one layout on one file system.
type stCase struct {
	label  string // as the table prints it
	layout string
	fs     *stFS
}

func (c *stCase) private(id string) string { return filepath.Join(c.fs.mnt, "private", id) }

// createArgs is the vzctl command line creating container id.
func (c *stCase) createArgs(id, tmpl string) []string {
	a := []string{"--quiet", "create", id, "--ostemplate", tmpl, "--private", c.private(id), "--layout", c.layout}
	// The scratch ext4 has no project quota: dir and overlay would only
	// warn that a limit is not enforced.
	if c.layout != "dir" && c.layout != "overlay" {
		a = append(a, "--diskspace", stDiskspace)
	}
	return a
}

// stRun is one run of the section: the containers it has made and not yet
// destroyed, so a failure or a signal destroys them before the file
// systems go.
type stRun struct {
	b    *bench
	tmpl string // template name
	dir  string // the section's part of the work area
	p    int    // concurrent creates in a parallel batch

	mu   sync.Mutex
	live map[string]bool

	// What was measured, for the table.
	tarTime         map[*stFS]*stStep
	tarSize         map[*stFS]*series // MiB per unpack
	dirStep         *stStep
	first, warm, bd map[*stCase]*stStep
	batches         map[*stCase]*stBatch
}

func (s *stRun) track(id string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.live[id] = true
	} else {
		delete(s.live, id)
	}
}

// create runs vzctl create and returns its wall time.
func (s *stRun) create(c *stCase, id string) (time.Duration, error) {
	s.track(id, true)
	d, _, err := s.b.vzctl(c.createArgs(id, s.tmpl)...)
	if err != nil {
		// A failed create rolls back; only a config left behind (a
		// killed command) needs the destroy.
		if _, serr := os.Stat(filepath.Join(s.b.vzRoot, "conf", id+".toml")); errors.Is(serr, os.ErrNotExist) {
			s.track(id, false)
		}
	}
	return d, err
}

func (s *stRun) destroy(id string) (time.Duration, error) {
	d, _, err := s.b.vzctl("--quiet", "destroy", id)
	if err == nil {
		s.track(id, false)
	}
	return d, err
}

// destroyLive destroys whatever containers are left (the undo step).
func (s *stRun) destroyLive() error {
	s.mu.Lock()
	ids := make([]string, 0, len(s.live))
	for id := range s.live {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	env := []string{"VZ_ROOT=" + s.b.vzRoot}
	for _, id := range ids {
		s.b.destroyCT(id, env)
		s.track(id, false)
	}
	return nil
}

// stBatchFits is how many of want containers taking perCT bytes each fit
// in room bytes (all of them when a container takes nothing measurable),
// at least one.
func stBatchFits(want int, perCT, room int64) int {
	if perCT <= 0 || int64(want)*perCT <= room {
		return want
	}
	return int(max(1, room/perCT))
}

// cacheEntries lists the template cache entries of layout on c's file
// system (full paths): a subvolume for btrfs, an .img file for image, an
// .ovl directory for overlay.
func (s *stRun) cacheEntries(c *stCase) ([]string, error) {
	parent := filepath.Join(c.fs.mnt, "private")
	names, err := storage.CachedTemplates(parent)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if !strings.HasPrefix(n, s.tmpl+"@") || strings.HasSuffix(n, ".img") != (c.layout == "image") ||
			strings.HasSuffix(n, ".ovl") != (c.layout == "overlay") {
			continue
		}
		out = append(out, filepath.Join(parent, ".tmplcache", n))
	}
	return out, nil
}

// coldCache removes c's unpacked template copy: the next create is a
// first use.
func (s *stRun) coldCache(c *stCase) error {
	ents, err := s.cacheEntries(c)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := storage.Remove(e); err != nil {
			return err
		}
	}
	return nil
}

// cacheEntry is c's one template cache entry.
func (s *stRun) cacheEntry(c *stCase) (string, error) {
	ents, err := s.cacheEntries(c)
	if err != nil {
		return "", err
	}
	if len(ents) != 1 {
		return "", fmt.Errorf("%s: template cache holds %v, want one entry", c.label, ents)
	}
	return ents[0], nil
}

// stStep is one contender of an alternating series: prep and undo are
// untimed, run is the figure.
type stStep struct {
	fs   *stFS
	prep func() error
	run  func() (time.Duration, error)
	undo func() error
	got  *series
}

// alternate runs rounds of steps, the order rotating every round, each
// step on a settled file system after a global sync (nobody pays for
// another's writeback). A failing run counts in its series; a failing prep
// or undo ends the section. After budget (when positive) no new round
// starts once minRounds are done. It returns the rounds done.
func (s *stRun) alternate(steps []*stStep, rounds, minRounds int, budget time.Duration) (int, error) {
	start := time.Now()
	for round := 0; round < rounds; round++ {
		if budget > 0 && round >= minRounds && time.Since(start) > budget {
			return round, nil
		}
		for i := range steps {
			st := steps[(i+round)%len(steps)]
			if err := s.b.ctx.Err(); err != nil {
				return round, err
			}
			if st.prep != nil {
				if err := st.prep(); err != nil {
					return round, err
				}
			}
			if err := st.fs.settle(s.b); err != nil {
				return round, err
			}
			unix.Sync()
			d, err := st.run()
			if err != nil {
				st.got.fails++
				s.b.logf("storage: %v", err)
				if st.got.na == "" {
					st.got.na = errFirstLine(err)
				}
			} else {
				st.got.add(d)
			}
			if err := st.undo(); err != nil {
				return round, err
			}
		}
	}
	for _, st := range steps {
		if len(st.got.vals) > 0 {
			st.got.na = ""
		}
	}
	return rounds, nil
}

// createStep times a vzctl create of c, destroyed afterwards; cold
// empties the template cache first.
func (s *stRun) createStep(c *stCase, cold bool) *stStep {
	var id string
	return &stStep{fs: c.fs, got: &series{},
		prep: func() error {
			id = s.b.newCT()
			if cold {
				return s.coldCache(c)
			}
			return nil
		},
		run: func() (time.Duration, error) { return s.create(c, id) },
		undo: func() error {
			if _, err := os.Stat(c.private(id)); errors.Is(err, os.ErrNotExist) {
				return nil // the create failed
			}
			_, err := s.destroy(id)
			return err
		}}
}

// tarStep times GNU tar unpacking the template into a new directory of f
// (the same options as section 1), and records the used blocks it took, in
// MiB, into size.
func (s *stRun) tarStep(f *stFS, size *series) *stStep {
	dest := filepath.Join(f.mnt, "tar")
	var before int64
	var ok bool
	return &stStep{fs: f, got: &series{},
		prep: func() error {
			var err error
			ok = false
			if before, err = f.used(s.b); err != nil {
				return err
			}
			return os.Mkdir(dest, 0o755)
		},
		run: func() (time.Duration, error) {
			d, _, err := s.b.timed("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpzf", s.b.tmplDebian, "-C", dest)
			ok = err == nil
			return d, err
		},
		undo: func() error {
			if ok {
				after, err := f.used(s.b)
				if err != nil {
					return err
				}
				size.addV(stMiB(after - before))
			}
			return os.RemoveAll(dest)
		}}
}

// boundStep times c's copy primitive alone, in this process, on its
// cached template: the snapshot ioctl for btrfs, image.Copy for image (a
// reflink on btrfs, a sparse copy_file_range copy on ext4), and for
// overlay the private area's four directories and its lower record. What
// vzctl adds around it (config, lock, qgroup limit, resize2fs, the
// overlay mount for the fresh machine identity) is the difference to the
// cached create.
func (s *stRun) boundStep(c *stCase) *stStep {
	dst := c.private("bound-" + c.layout)
	var entry string
	st := &stStep{fs: c.fs, got: &series{},
		prep: func() error {
			var err error
			entry, err = s.cacheEntry(c)
			return err
		},
		undo: func() error { return storage.Remove(dst) }}
	st.run = func() (time.Duration, error) {
		t0 := time.Now()
		var err error
		switch c.layout {
		case "btrfs":
			err = btrfs.Snapshot(entry, dst, false)
		case "overlay":
			for _, d := range []string{"fs/upper", "fs/work", "stage"} {
				if err == nil {
					err = os.MkdirAll(filepath.Join(dst, d), 0o700)
				}
			}
			if err == nil {
				err = os.WriteFile(filepath.Join(dst, "lower"), []byte(filepath.Base(entry)+"\n"), 0o600)
			}
		default:
			_, err = qimage.Copy(dst, entry)
		}
		return time.Since(t0), err
	}
	return st
}

func stMiB(bytes int64) float64 { return float64(bytes) / (1 << 20) }

// stBatch is what a layout did with N containers.
type stBatch struct {
	n           int     // containers (fewer than asked when the disk is short)
	row, par    *series // per container, ms
	rowS, parS  float64 // wall time, s
	clean       *series // background cleanup after the destroys, per container, ms
	destroy     *series // per container, ms
	cache, ctsM *series // disk: the template cache entry, the N containers, MiB
	one         float64 // disk: one container, MiB (measured before the batch)
	du          string  // du's view of the N private areas
	short       string  // why n is smaller than asked
}

// batch creates n containers of c in a row, measures their disk use,
// destroys them, then creates n at once, p at a time, and destroys those.
func (s *stRun) batch(c *stCase, n, p int) (*stBatch, error) {
	r := &stBatch{n: n}
	f := c.fs
	// The template cache entry and one container: a first use and a
	// cached create on a cold cache.
	if err := s.coldCache(c); err != nil {
		return nil, err
	}
	u0, err := f.used(s.b)
	if err != nil {
		return nil, err
	}
	var us [2]int64
	var ids [2]string
	for i := range ids {
		ids[i] = s.b.newCT()
		if _, err := s.create(c, ids[i]); err != nil {
			return nil, err
		}
		if us[i], err = f.used(s.b); err != nil {
			return nil, err
		}
	}
	perOne := us[1] - us[0]
	r.one = stMiB(perOne)
	r.cache = one(stMiB(us[0] - u0 - perOne))
	for _, id := range ids {
		if _, err := s.destroy(id); err != nil {
			return nil, err
		}
	}
	// Keep half of the host's free space for everyone else, and a tenth
	// of the scratch file system's.
	hostAvail, err := stAvail(s.dir)
	if err != nil {
		return nil, err
	}
	fsAvail, err := stAvail(f.mnt)
	if err != nil {
		return nil, err
	}
	room := min(hostAvail/2, fsAvail-fsAvail/10)
	if r.n = stBatchFits(n, perOne+perOne/10, room); r.n < n {
		r.short = fmt.Sprintf("%s: %d containers, not %d: %.0f MiB each, %.0f MiB to spare", c.label, r.n, n, r.one, stMiB(room))
	}

	// In a row.
	base, err := f.used(s.b)
	if err != nil {
		return nil, err
	}
	row := make([]string, r.n)
	for i := range row {
		row[i] = s.b.newCT()
	}
	unix.Sync()
	fails := 0
	t0 := time.Now()
	for _, id := range row {
		if err := s.b.ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := s.create(c, id); err != nil {
			fails++
			s.b.logf("storage: %s: %v", c.label, err)
		}
	}
	wall := time.Since(t0)
	r.rowS, r.row = wall.Seconds(), stPerCT(wall, r.n, fails)
	after, err := f.used(s.b)
	if err != nil {
		return nil, err
	}
	r.ctsM = one(stMiB(after - base))
	r.ctsM.fails = fails
	r.du = s.du(c, row)

	// Destroy them, in a row.
	unix.Sync()
	fails = 0
	t0 = time.Now()
	for _, id := range row {
		if err := s.b.ctx.Err(); err != nil {
			return r, err
		}
		if _, err := s.destroy(id); err != nil {
			fails++
			s.b.logf("storage: %s: %v", c.label, err)
		}
	}
	r.destroy = stPerCT(time.Since(t0), r.n, fails)
	if fails > 0 {
		return r, fmt.Errorf("%s: %d destroys failed", c.label, fails)
	}
	// What the destroys left to the background (btrfs: the cleaner
	// dropping the subvolumes; ext4: writing back freed blocks).
	t0 = time.Now()
	if err := f.settle(s.b); err != nil {
		return r, err
	}
	r.clean = stPerCT(time.Since(t0), r.n, 0)

	// At once, p at a time.
	par := make([]string, r.n)
	for i := range par {
		par[i] = s.b.newCT()
	}
	unix.Sync()
	t0 = time.Now()
	fails = s.parallel(par, p, func(id string) error {
		_, err := s.create(c, id)
		return err
	})
	wall = time.Since(t0)
	r.parS, r.par = wall.Seconds(), stPerCT(wall, r.n, fails)
	fails = s.parallel(par, p, func(id string) error {
		if _, err := os.Stat(c.private(id)); errors.Is(err, os.ErrNotExist) {
			return nil // its create failed
		}
		_, err := s.destroy(id)
		return err
	})
	if fails > 0 {
		return r, fmt.Errorf("%s: %d destroys failed", c.label, fails)
	}
	if err := s.coldCache(c); err != nil {
		return r, err
	}
	return r, s.b.ctx.Err()
}

// stPerCT is a batch's wall time per container, in ms.
func stPerCT(wall time.Duration, n, fails int) *series {
	s := one(ms(wall) / float64(n))
	s.fails = fails
	return s
}

// parallel runs fn on every id, p at a time, and returns how many failed.
func (s *stRun) parallel(ids []string, p int, fn func(id string) error) int {
	var mu sync.Mutex
	var wg sync.WaitGroup
	fails := 0
	ch := make(chan string)
	for range min(p, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ch {
				if err := fn(id); err != nil {
					s.b.logf("storage: %v", err)
					mu.Lock()
					fails++
					mu.Unlock()
				}
			}
		}()
	}
	for _, id := range ids {
		if s.b.ctx.Err() != nil {
			break
		}
		ch <- id
	}
	close(ch)
	wg.Wait()
	return fails
}

// du is du's view of the private areas of ids, which counts every
// container's blocks as its own: shared extents once per container.
func (s *stRun) du(c *stCase, ids []string) string {
	var dirs []string
	for _, id := range ids {
		if _, err := os.Stat(c.private(id)); err == nil {
			dirs = append(dirs, c.private(id))
		}
	}
	if len(dirs) == 0 {
		return ""
	}
	total := func(flags ...string) string {
		out, err := s.b.run("du", append(append([]string{"-s", "-c", "-B1"}, flags...), dirs...)...)
		if err != nil {
			return "n/a"
		}
		f := strings.Fields(lastLine(out))
		if len(f) == 0 {
			return "n/a"
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return "n/a"
		}
		return fmt.Sprintf("%.0f MiB", stMiB(v))
	}
	return fmt.Sprintf("%s: du of the %d private areas: %s allocated, %s apparent", c.label, len(dirs), total(), total("--apparent-size"))
}

func (b *bench) sectionStorage() (*table, error) {
	s := &stRun{b: b, tmpl: strings.TrimSuffix(filepath.Base(b.tmplDebian), ".tar.gz"),
		dir: filepath.Join(b.work, "storage"), p: max(8, 4*runtime.NumCPU()), live: map[string]bool{},
		tarTime: map[*stFS]*stStep{}, tarSize: map[*stFS]*series{},
		first: map[*stCase]*stStep{}, warm: map[*stCase]*stStep{}, bd: map[*stCase]*stStep{},
		batches: map[*stCase]*stBatch{}}
	n := 100
	if b.cfg.quick {
		n = 10
	}
	t := &table{
		title: fmt.Sprintf("6. Storage layouts: create from the Debian template, ms; disk space, MiB (N=%d)", n),
		peers: []string{peerTar},
	}
	loadStart, _ := readSmall("/proc/loadavg")
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
	// Pushed after the file systems: runs before they go.
	b.undo.push("containers on the storage scratch file systems", s.destroyLive)

	dirC := &stCase{"dir on ext4", "dir", ext4}
	cached := []*stCase{{"btrfs", "btrfs", bt}, {"image on ext4", "image", ext4}, {"image on btrfs", "image", bt},
		{"overlay on ext4", "overlay", ext4}}
	err = s.measure(t, dirC, cached, n)
	s.rows(t, dirC, cached)
	if err != nil {
		return t, err
	}
	// Everything destroyed: nothing may be left on, or of, the file systems.
	if err := s.finish([]*stFS{ext4, bt}); err != nil {
		return t, err
	}
	loadEnd, _ := readSmall("/proc/loadavg")
	t.note("load average (1, 5, 15 min) at the section's start: %s, at its end: %s; %d CPUs shared with other users' tests: figures are noisy",
		stLoad(loadStart), stLoad(loadEnd), runtime.NumCPU())
	return t, nil
}

// measure takes every figure: first use, dir and GNU tar alternating;
// cached creates and the copy primitives alternating; then the batches.
func (s *stRun) measure(t *table, dirC *stCase, cached []*stCase, n int) error {
	b := s.b
	fss := []*stFS{dirC.fs, cached[0].fs}
	for _, f := range fss {
		s.tarSize[f] = &series{}
		s.tarTime[f] = s.tarStep(f, s.tarSize[f])
	}
	s.dirStep = s.createStep(dirC, false)
	for _, c := range cached {
		s.first[c] = s.createStep(c, true)
	}
	steps := []*stStep{s.dirStep}
	for _, f := range fss {
		steps = append(steps, s.tarTime[f])
		for _, c := range cached {
			if c.fs == f {
				steps = append(steps, s.first[c])
			}
		}
	}
	runs := b.cfg.unpackRuns
	done, err := s.alternate(steps, runs, min(stFirstMin, runs), stFirstBudget)
	if err != nil {
		return err
	}
	if done < runs {
		t.note("first use, dir and GNU tar: %d rounds, not %d (time budget %s)", done, runs, stFirstBudget)
	}

	for _, c := range cached {
		for range max(1, b.cfg.warmup) {
			id := b.newCT()
			if _, err := s.create(c, id); err != nil {
				return fmt.Errorf("%s: warm-up create: %w", c.label, err)
			}
			if _, err := s.destroy(id); err != nil {
				return err
			}
		}
	}
	steps = nil
	for _, c := range cached {
		s.warm[c], s.bd[c] = s.createStep(c, false), s.boundStep(c)
		steps = append(steps, s.warm[c], s.bd[c])
	}
	if _, err := s.alternate(steps, b.cfg.runs, b.cfg.runs, 0); err != nil {
		return err
	}

	// btrfs last: the cleaner's work after its parallel batch's destroys
	// (minutes, see settle) would run under the next layout's figures.
	// Every other batch settles its file system after itself.
	order := slices.Clone(cached)
	slices.SortStableFunc(order, func(x, y *stCase) int { return cmp.Compare(stIsBtrfs(x), stIsBtrfs(y)) })
	for i, c := range order {
		b.logf("storage: %s: %d containers in a row, then %d at once", c.label, n, n)
		r, err := s.batch(c, n, s.p)
		if r != nil {
			s.batches[c] = r
		}
		if err != nil {
			return fmt.Errorf("%s: %w", c.label, err)
		}
		if i < len(order)-1 {
			if err := c.fs.settle(b); err != nil {
				return err
			}
		}
	}
	return nil
}

func stIsBtrfs(c *stCase) int {
	if c.layout == "btrfs" {
		return 1
	}
	return 0
}

func stLoad(s string) string {
	f := strings.Fields(s)
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}

// rows fills the table from what was measured (also after a failure).
func (s *stRun) rows(t *table, dirC *stCase, cached []*stCase) {
	fig := func(st *stStep) *series {
		if st == nil {
			return naSeries("not measured (an earlier step failed)")
		}
		return st.got
	}
	tar := func(f *stFS) []*series { return []*series{fig(s.tarTime[f])} }
	t.add(row{what: dirC.label + ": create (no template cache: every create unpacks)", ours: fig(s.dirStep), peers: tar(dirC.fs)})
	for _, c := range cached {
		t.add(row{what: c.label + ": create, first use (template cache cold)", ours: fig(s.first[c]), peers: tar(c.fs)})
		t.add(row{what: c.label + ": create, cached", ours: fig(s.warm[c]), bound: fig(s.bd[c]), peers: tar(c.fs)})
		r := s.batches[c]
		if r == nil {
			continue
		}
		t.add(row{what: fmt.Sprintf("%s: %d in a row (%.1f s), per container", c.label, r.n, r.rowS),
			ours: r.row, bound: fig(s.bd[c]), peers: tar(c.fs)})
		if r.par != nil {
			t.add(row{what: fmt.Sprintf("%s: %d at once, %d at a time (%.1f s), per container", c.label, r.n, s.p, r.parS),
				ours: r.par, bound: fig(s.bd[c]), peers: tar(c.fs)})
		}
		if r.destroy != nil {
			t.add(row{what: fmt.Sprintf("%s: destroy %d in a row, per container", c.label, r.n), ours: r.destroy})
		}
		if r.clean != nil {
			t.add(row{what: fmt.Sprintf("%s:   then until the file system settled, per container", c.label), ours: r.clean})
		}
		size := s.tarSize[c.fs]
		t.add(row{what: c.label + ": disk, template cache entry, MiB", ours: r.cache, peers: []*series{size}})
		nTar := naSeries("no GNU tar size")
		if size.ok() {
			nTar = one(float64(r.n) * size.median())
		}
		if r.ctsM != nil {
			t.add(row{what: fmt.Sprintf("%s: disk, %d containers (cache entry aside), MiB", c.label, r.n), ours: r.ctsM, peers: []*series{nTar}})
		}
		if r.short != "" {
			t.note("%s", r.short)
		}
		if r.du != "" {
			t.note("%s", r.du)
		}
	}
	t.note("each layout on a file system made for the run: ext4 (%d GiB) and btrfs (%d GiB, qgroups on), sparse files on loop devices;",
		stExt4Size>>30, stBtrfsSize>>30)
	t.note("  btrfs and image containers get --diskspace %s (qgroup limit; image size), dir none; private areas there with --private", stDiskspace)
	t.note("first use = the layout's unpacked template copy (PRIVATE/../.tmplcache) removed before each run; cached = it exists;")
	t.note("  every timed run follows a sync, alternating with the others (order rotating), and is destroyed after, untimed")
	t.note("GNU tar = tar --numeric-owner --xattrs -xpzf of the same tarball into a directory of the same file system")
	t.note("bound = the copy primitive alone, in-process, on the cached template: btrfs = the snapshot ioctl;")
	t.note("  image = image.Copy (a reflink on btrfs, a sparse copy_file_range copy on ext4), without the resize2fs that follows")
	t.note("batches: the per-container figure is the batch's wall time / N; at once = N vzctl create, %d running at a time;", s.p)
	t.note("  single runs leave their writes in the page cache (as GNU tar's); a batch also meets the writeback of the earlier ones")
	t.note("settled = synced, and on btrfs every deleted subvolume dropped by the cleaner (BTRFS_IOC_SYNC, `btrfs subvolume list -d`)")
	t.note("disk = the file system's used bytes before and after, synced, deleted subvolumes cleaned (btrfs: `btrfs filesystem usage`")
	t.note("  Used, metadata counted twice as DUP stores it; ext4: statfs); GNU tar = one unpack of the tarball (N rows: N x that)")
	t.note("%s: no batch: every create is a full unpack (first row); N of them take N x the GNU tar size", dirC.label)
}

// finish checks, after every container was destroyed, that no container,
// private area or template cache entry is left, unmounts the file systems
// and checks that no mount or loop device of the section is left.
func (s *stRun) finish(fss []*stFS) error {
	var errs []error
	s.mu.Lock()
	if len(s.live) > 0 {
		errs = append(errs, fmt.Errorf("containers left: %v", s.live))
	}
	s.mu.Unlock()
	for _, f := range fss {
		parent := filepath.Join(f.mnt, "private")
		ents, err := os.ReadDir(parent)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		for _, e := range ents {
			if e.Name() != ".tmplcache" {
				errs = append(errs, fmt.Errorf("left in the %s's private: %s", f.fstype, e.Name()))
			}
		}
		if left, _ := storage.CachedTemplates(parent); len(left) > 0 {
			errs = append(errs, fmt.Errorf("template cache entries left on the %s: %v", f.fstype, left))
		}
		if err := f.release(); err != nil {
			errs = append(errs, err)
		}
	}
	if m := mountsUnder(s.dir); len(m) > 0 {
		errs = append(errs, fmt.Errorf("still mounted: %v", m))
	}
	if loops := stLoopsGone(s.dir, time.Second); len(loops) > 0 {
		errs = append(errs, fmt.Errorf("loop devices left: %v", loops))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.b.logf("storage: every container destroyed; no private area, template cache entry, mount or loop device left under %s", s.dir)
	return nil
}
