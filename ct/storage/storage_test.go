package storage

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"govz/conf"
	"govz/quota/btrfs"
)

type testLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *testLog) Infof(f string, a ...any) { l.add("info: " + fmt.Sprintf(f, a...)) }
func (l *testLog) Warnf(f string, a ...any) { l.add("warn: " + fmt.Sprintf(f, a...)) }
func (l *testLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, s)
}

func writeTarball(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newCache is a cache for private areas under dir/private.
func newCache(dir string, log Logger) tmplCache {
	return cacheFor(CT{Private: filepath.Join(dir, "private", "101")}, log)
}

func TestCacheBuildsOnceUnderConcurrency(t *testing.T) {
	dir := t.TempDir()
	tb := filepath.Join(dir, "t.tar.gz")
	writeTarball(t, tb, "v1")
	c := newCache(dir, &testLog{})
	var builds, uses atomic.Int32
	build := func(work string) error {
		builds.Add(1)
		time.Sleep(50 * time.Millisecond) // long enough for the others to queue
		return os.WriteFile(work, []byte("built"), 0o600)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.use(Template{Name: "t", Path: tb}, ".img", build, func(entry string) error {
				if b, err := os.ReadFile(entry); err != nil || string(b) != "built" {
					return fmt.Errorf("entry %s: %q, %w", entry, b, err)
				}
				uses.Add(1)
				return nil
			})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if builds.Load() != 1 || uses.Load() != 8 {
		t.Fatalf("%d builds and %d uses, want 1 and 8", builds.Load(), uses.Load())
	}
	ents, _ := CachedTemplates(filepath.Join(dir, "private"))
	if len(ents) != 1 {
		t.Fatalf("cache holds %v", ents)
	}
}

func TestCacheNoticesChangedTarball(t *testing.T) {
	dir := t.TempDir()
	tb := filepath.Join(dir, "t.tar.gz")
	writeTarball(t, tb, "version-1")
	log := &testLog{}
	c := newCache(dir, log)
	var builds int
	get := func() string {
		var got string
		err := c.use(Template{Name: "t", Path: tb}, "", func(work string) error {
			builds++
			b, _ := os.ReadFile(tb)
			return os.WriteFile(work, b, 0o600)
		}, func(entry string) error {
			b, err := os.ReadFile(entry)
			got = string(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if v := get(); v != "version-1" || builds != 1 {
		t.Fatalf("first use: %q after %d builds", v, builds)
	}
	if v := get(); v != "version-1" || builds != 1 {
		t.Fatalf("second use rebuilt: %q after %d builds", v, builds)
	}
	// Same size, same modification time, other content: a copy that kept
	// the old timestamp must still be noticed.
	st, _ := os.Stat(tb)
	writeTarball(t, tb, "version-2")
	os.Chtimes(tb, st.ModTime(), st.ModTime())
	if v := get(); v != "version-2" || builds != 2 {
		t.Fatalf("after the tarball changed: %q after %d builds", v, builds)
	}
	ents, _ := CachedTemplates(filepath.Join(dir, "private"))
	if len(ents) != 1 {
		t.Fatalf("the old entry was not removed: %v", ents)
	}
	if !strings.Contains(strings.Join(log.msgs, "\n"), "tarball changed") {
		t.Fatalf("the rebuild was not reported: %v", log.msgs)
	}
}

// TestMain doubles as the builder TestCacheKilledBuilder kills (with
// GOVZ_STORAGE_HELPER_DIR set, the test binary starts a cache build that
// never finishes) and as the VM tests' worker (vmWorker).
func TestMain(m *testing.M) {
	if w := os.Getenv(workerEnv); w != "" {
		vmWorker(w)
		os.Exit(0)
	}
	dir := os.Getenv("GOVZ_STORAGE_HELPER_DIR")
	if dir == "" {
		os.Exit(m.Run())
	}
	c := newCache(dir, &testLog{})
	c.use(Template{Name: "t", Path: filepath.Join(dir, "t.tar.gz")}, "", func(work string) error {
		os.Mkdir(work+".d", 0o700)
		os.WriteFile(work, []byte("half"), 0o600)
		os.WriteFile(filepath.Join(dir, "ready"), nil, 0o600)
		time.Sleep(time.Minute)
		return nil
	}, func(string) error { return nil })
	os.Exit(1)
}

func TestCacheKilledBuilder(t *testing.T) {
	dir := t.TempDir()
	tb := filepath.Join(dir, "t.tar.gz")
	writeTarball(t, tb, "v1")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "GOVZ_STORAGE_HELPER_DIR="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("helper never started building")
		}
	}
	cmd.Process.Kill() // SIGKILL, mid-build, holding the lock
	cmd.Wait()
	log := &testLog{}
	c := newCache(dir, log)
	err := c.use(Template{Name: "t", Path: tb}, "", func(work string) error {
		return os.WriteFile(work, []byte("whole"), 0o600)
	}, func(entry string) error {
		if b, _ := os.ReadFile(entry); string(b) != "whole" {
			return fmt.Errorf("entry holds %q", b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := CachedTemplates(filepath.Join(dir, "private"))
	if len(ents) != 1 || strings.Contains(ents[0], ".tmp-") {
		t.Fatalf("cache after a killed build: %v", ents)
	}
	if !strings.Contains(strings.Join(log.msgs, "\n"), "interrupted") {
		t.Fatalf("leftover removal not reported: %v", log.msgs)
	}
}

func TestEntryNamesDoNotCollide(t *testing.T) {
	re := entryRe("a.b+c")
	for name, want := range map[string]bool{
		"a.b+c@0123456789abcdef":                     true,
		"a.b+c@0123456789abcdef-i8192-j4096.img":     true,
		"a.b+c@0123456789abcdef.tmp-42":              true,
		"a.b+c@0123456789abcdef-i16-j1024.img.tmp-7": true,
		"a.b+c@0123456789abcdef.tmp-7.d":             true,
		"axb+c@0123456789abcdef":                     false,
		"a.b+c@y@0123456789abcdef":                   false,
		"a.b+c-x@0123456789abcdef":                   false,
		"a.b+c.lock":                                 false,
	} {
		if got := re.MatchString(name); got != want {
			t.Errorf("%q matches = %v, want %v", name, got, want)
		}
	}
}

func TestResolveAuto(t *testing.T) {
	dir := t.TempDir()
	onBtrfs, _ := btrfs.IsBtrfs(dir)
	lim := NoLimits()
	parent := filepath.Join(dir, "not", "yet")
	want := "dir"
	if onBtrfs {
		want = "btrfs"
	}
	if got := Resolve("auto", parent, lim); got != want {
		t.Errorf("auto without a limit = %q, want %q", got, want)
	}
	lim.SpaceSoftKB, lim.SpaceHardKB = 1<<20, 1<<20
	if !onBtrfs {
		want = "image"
	}
	if got := Resolve("auto", parent, lim); got != want {
		t.Errorf("auto with a limit = %q, want %q", got, want)
	}
	for _, n := range Names {
		if got := Resolve(n, parent, lim); got != n {
			t.Errorf("Resolve(%q) = %q", n, got)
		}
		if _, err := Open(n, &testLog{}); err != nil {
			t.Errorf("Open(%q): %v", n, err)
		}
	}
	if _, err := Open("ploop", &testLog{}); err == nil {
		t.Error("Open(ploop) succeeded")
	}
}

func TestWhatLayoutsCannotDoIsSaid(t *testing.T) {
	lim := NoLimits()
	if w := btrfsCannot(lim, lim); len(w) != 0 {
		t.Fatalf("no limits, yet: %v", w)
	}
	lim.SpaceSoftKB, lim.SpaceHardKB = 1000, 2000
	lim.InodesSoft, lim.InodesHard = 10, 10
	lim.GraceSeconds = 60
	w := strings.Join(btrfsCannot(NoLimits(), lim), "\n")
	for _, s := range []string{"soft limit", "inodes", "grace"} {
		if !strings.Contains(w, s) {
			t.Errorf("btrfs warnings do not mention %s: %s", s, w)
		}
	}
	if w := btrfsCannot(lim, lim); len(w) != 0 {
		t.Errorf("unchanged limits warned again: %v", w)
	}
	log := &testLog{}
	(&imageLayout{log: log}).warnCannot(NoLimits(), lim)
	if len(log.msgs) != 2 { // soft space, grace; soft inodes equal hard
		t.Errorf("image warnings: %v", log.msgs)
	}
	pq := pqLimits(lim)
	if pq.BlockSoftKB != 1000 || pq.BlockHardKB != 2000 || pq.InodeHard != 10 {
		t.Errorf("project limits %+v", pq)
	}
	if pq := pqLimits(NoLimits()); pq.BlockHardKB != 0 || pq.InodeSoft != 0 {
		t.Errorf("unlimited maps to %+v, want zeros", pq)
	}
	if NoLimits().Limited() || !lim.Limited() {
		t.Error("Limited is wrong")
	}
}

func TestImageLayoutNeedsASize(t *testing.T) {
	m := &imageLayout{log: &testLog{}}
	err := m.Create(CT{ID: 1, Private: filepath.Join(t.TempDir(), "1")}, Template{}, NoLimits())
	if err == nil || !strings.Contains(err.Error(), "--diskspace") {
		t.Fatalf("create without a size: %v", err)
	}
	lim := NoLimits()
	lim.SpaceHardKB = conf.Unlimited
	if err := m.SetLimits(CT{}, NoLimits(), lim, false); err == nil {
		t.Fatal("an image made unlimited")
	}
}

func TestTemplateImageSize(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct{ bytes, files, ipg, journal int64 }{
		{150 * mb, 9300, 8192, 64 * mb}, {2 * mb, 300, 16, 4 * mb}, {150 * mb, 9300, 2016, 16 * mb},
		{10 * mb, 100000, 32768, 1024 * mb},
	} {
		s := templateImageSize(c.bytes, c.files, c.ipg, c.journal)
		if s%(128*mb) != 0 || s < c.bytes*9/8+2*c.journal || s/(128*mb)*c.ipg < c.files {
			t.Errorf("templateImageSize(%d, %d, %d, %d) = %d", c.bytes, c.files, c.ipg, c.journal, s)
		}
	}
}

func TestRemoveIsQuietOnNothing(t *testing.T) {
	dir := t.TempDir()
	if err := Remove(filepath.Join(dir, "none")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "tree", "a"), 0o755)
	outside := filepath.Join(dir, "outside")
	os.WriteFile(outside, []byte("keep"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "tree", "a", "link"))
	if err := Remove(filepath.Join(dir, "tree")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(outside); err != nil || string(b) != "keep" {
		t.Fatalf("Remove followed a symlink: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tree")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("tree left")
	}
}
