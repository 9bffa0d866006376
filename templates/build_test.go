package templates

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"errors"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"govz/ct/vzerror"
	"govz/internal/mountinfo"
	"govz/internal/roottest"
)

func TestBuildBusybox(t *testing.T) {
	roottest.Require(t, "namespaces, mknod, chroot")
	cache := filepath.Join(t.TempDir(), "cache") // Build creates it
	var out bytes.Buffer
	p, err := Build(context.Background(), "busybox", BuildOptions{CacheDir: cache, Out: &out})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, out.String())
	}
	if p != filepath.Join(cache, "busybox-x86_64.tar.gz") {
		t.Fatalf("path %s", p)
	}
	if got := dirNames(t, cache); len(got) != 2 || got[0] != "busybox-x86_64.contents.json" {
		t.Errorf("cache holds %v, want the template and its contents", got)
	}
	// What the tree holds is recorded at build time: busybox's init, no
	// network stack.
	ct, err := Cache{Dir: cache}.Contents(context.Background(), Template{Name: "busybox-x86_64", Path: p})
	if err != nil || ct.Init != "busybox" || len(ct.Network) != 0 {
		t.Errorf("contents %+v, %v", ct, err)
	}
	// A template copied in without its contents file is read from the
	// tarball, and the file written.
	os.Remove(filepath.Join(cache, "busybox-x86_64.contents.json"))
	again, err := Cache{Dir: cache}.Contents(context.Background(), Template{Name: "busybox-x86_64", Path: p})
	if err != nil || !reflect.DeepEqual(again, ct) {
		t.Errorf("contents from the tarball %+v, %v; want %+v", again, err, ct)
	}
	if got := dirNames(t, cache); len(got) != 2 {
		t.Errorf("contents file not written again: %v", got)
	}
	for _, phase := range []string{"installing busybox", "packing", "built busybox-x86_64"} {
		if !strings.Contains(out.String(), phase) {
			t.Errorf("progress lacks %q:\n%s", phase, out.String())
		}
	}
	checkBusyboxTarball(t, readTarball(t, p))
}

func checkBusyboxTarball(t *testing.T, tb map[string]entry) {
	t.Helper()
	for name, e := range tb {
		if name != "./" && !strings.HasPrefix(name, "./") {
			t.Errorf("member %q is not relative ./...", name)
		}
		if e.hdr.Uid != 0 || e.hdr.Gid != 0 || e.hdr.Uname != "" || e.hdr.Gname != "" {
			t.Errorf("%s: owner %d/%d %q/%q, want numeric 0/0", name, e.hdr.Uid, e.hdr.Gid, e.hdr.Uname, e.hdr.Gname)
		}
		if strings.HasPrefix(name, "./dev/") && name != "./dev/" {
			t.Errorf("%s: /dev must be empty", name)
		}
		// Every applet link resolves to /bin/busybox inside the tree.
		if e.hdr.Typeflag == tar.TypeSymlink && strings.HasSuffix(e.hdr.Linkname, "busybox") {
			target := path.Clean(path.Join(path.Dir(strings.TrimPrefix(name, ".")), e.hdr.Linkname))
			if target != "/bin/busybox" {
				t.Errorf("%s -> %s resolves to %s", name, e.hdr.Linkname, target)
			}
		}
	}

	init, ok := tb["./sbin/init"]
	if !ok || init.hdr.Typeflag != tar.TypeSymlink || init.hdr.Linkname != "../bin/busybox" {
		t.Errorf("./sbin/init = %+v, want symlink to ../bin/busybox", init.hdr)
	}
	if sh := tb["./bin/sh"]; sh.hdr == nil || sh.hdr.Linkname != "busybox" {
		t.Errorf("./bin/sh missing or not a link to busybox")
	}
	bb, ok := tb["./bin/busybox"]
	if !ok || bb.hdr.Typeflag != tar.TypeReg || bb.hdr.Mode&0o7777 != 0o755 {
		t.Fatalf("./bin/busybox = %+v, want a 0755 regular file", bb.hdr)
	}
	f, err := elf.NewFile(bytes.NewReader(bb.data))
	if err != nil {
		t.Fatalf("./bin/busybox is not ELF: %v", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("./bin/busybox has an ELF interpreter: not static")
		}
	}

	modes := map[string]int64{
		"./":                0o755,
		"./tmp/":            0o1777,
		"./var/tmp/":        0o1777,
		"./root/":           0o700,
		"./proc/":           0o755,
		"./sys/":            0o755,
		"./dev/":            0o755,
		"./run/":            0o755,
		"./home/":           0o755,
		"./var/log/":        0o755,
		"./usr/bin/":        0o755,
		"./usr/sbin/":       0o755,
		"./etc/shadow":      0o600,
		"./etc/passwd":      0o644,
		"./etc/group":       0o644,
		"./etc/inittab":     0o644,
		"./etc/hostname":    0o644,
		"./etc/hosts":       0o644,
		"./etc/resolv.conf": 0o644,
		"./etc/profile":     0o644,
		"./etc/init.d/rcS":  0o755,
		"./etc/init.d/rcK":  0o755,
	}
	for name, mode := range modes {
		e, ok := tb[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if e.hdr.Mode&0o7777 != mode {
			t.Errorf("%s: mode %o, want %o", name, e.hdr.Mode&0o7777, mode)
		}
	}

	inittab := string(tb["./etc/inittab"].data)
	for _, line := range []string{"::sysinit:/etc/init.d/rcS", "::ctrlaltdel:/sbin/reboot", "::shutdown:/etc/init.d/rcK", "::shutdown:/bin/umount -a"} {
		if !strings.Contains(inittab, line+"\n") {
			t.Errorf("inittab lacks %q:\n%s", line, inittab)
		}
	}
	if strings.Contains(inittab, ":respawn:") || strings.Contains(inittab, ":askfirst:") {
		t.Errorf("inittab starts a console shell:\n%s", inittab)
	}
	if !strings.HasPrefix(string(tb["./etc/shadow"].data), "root:!:") {
		t.Errorf("root is not locked: %q", tb["./etc/shadow"].data)
	}
	if !strings.HasPrefix(string(tb["./etc/passwd"].data), "root:x:0:0:") {
		t.Errorf("passwd: %q", tb["./etc/passwd"].data)
	}
	for _, empty := range []string{"./etc/resolv.conf", "./etc/hostname"} {
		if tb[empty].hdr.Size != 0 {
			t.Errorf("%s is not empty", empty)
		}
	}
	rcS := string(tb["./etc/init.d/rcS"].data)
	for _, s := range []string{"/etc/init.d/ready", "/etc/rc.local", "ip link set lo up", "hostname -F /etc/hostname"} {
		if !strings.Contains(rcS, s) {
			t.Errorf("rcS lacks %q", s)
		}
	}
}

func TestBuildCachedAndForce(t *testing.T) {
	roottest.Require(t, "namespaces, mknod, chroot")
	cache := t.TempDir()
	ctx := context.Background()
	gz, err := Build(ctx, "busybox", BuildOptions{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	old := time.Unix(1_000_000_000, 0)
	err = os.Chtimes(gz, old, old)
	if err != nil {
		t.Fatal(err)
	}

	// Cached: returned as is, even when another compression is asked for.
	var out bytes.Buffer
	p, err := Build(ctx, "busybox", BuildOptions{CacheDir: cache, Compress: "xz", Out: &out})
	if err != nil || p != gz {
		t.Fatalf("cached Build = %s, %v; want %s", p, err, gz)
	}
	st, err := os.Stat(gz)
	if err != nil || !st.ModTime().Equal(old) {
		t.Fatalf("cached template was rewritten (%v)", err)
	}
	if !strings.Contains(out.String(), "already in the cache") {
		t.Errorf("progress does not say the template was cached: %q", out.String())
	}

	// Forced, in each other compression: the new file replaces the old.
	for _, comp := range []string{"xz", "zst"} {
		p, err = Build(ctx, "busybox", BuildOptions{CacheDir: cache, Compress: comp, Force: true})
		if err != nil {
			t.Fatal(err)
		}
		if p != filepath.Join(cache, "busybox-x86_64.tar."+comp) {
			t.Fatalf("forced %s Build = %s", comp, p)
		}
		if got := dirNames(t, cache); len(got) != 2 || got[1] != filepath.Base(p) {
			t.Errorf("after forced %s rebuild cache holds %v", comp, got)
		}
		found, err := Cache{Dir: cache}.Find("busybox-x86_64")
		if err != nil || found != p {
			t.Errorf("Find = %s, %v; want %s", found, err, p)
		}
		checkBusyboxTarball(t, readTarball(t, p))
	}
}

func TestBuildRejectsBadOptions(t *testing.T) {
	cache := t.TempDir()
	for _, c := range []struct {
		recipe string
		opt    BuildOptions
	}{
		{"busybox", BuildOptions{}},
		{"busybox", BuildOptions{CacheDir: cache, Compress: "lz4"}},
		{"nosuch", BuildOptions{CacheDir: cache}},
		{"debian", BuildOptions{CacheDir: cache, Suite: "testing"}},
	} {
		_, err := Build(context.Background(), c.recipe, c.opt)
		if !errors.Is(err, vzerror.ErrInvalidValue) {
			t.Errorf("Build(%s, %+v) = %v, want ErrInvalidValue", c.recipe, c.opt, err)
		}
	}
	if got := dirNames(t, cache); len(got) != 0 {
		t.Errorf("rejected builds left %v", got)
	}
}

// testRecipe is a recipe with an arbitrary script and a marker in its
// environment, to find any process it leaves behind.
func testRecipe(t *testing.T, body string) (recipe, string) {
	t.Helper()
	r, err := resolveRecipe("busybox", BuildOptions{}, "amd64", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	marker := "GOVZ_TEST_MARK=" + hex.EncodeToString(b)
	prelude, _ := recipeFiles.ReadFile("recipes/prelude.sh")
	r.template = "test-1-x86_64"
	r.script = append(append(prelude, '\n'), body...)
	r.env = append(r.env, marker)
	return r, marker
}

func gzipComp(t *testing.T) compressor {
	t.Helper()
	c, err := compressorFor("gz")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBuildInterruptedDuringRecipe(t *testing.T) {
	roottest.Require(t, "namespaces, mknod, chroot")
	cache := t.TempDir()
	// A daemon in its own session (out of reach of a process-group kill),
	// a mount, and a half-made tree: the PID and mount namespaces must take
	// all of it down.
	r, marker := testRecipe(t, `
mkdir -p "$ROOTFS/sbin" "$ROOTFS/proc"
touch "$ROOTFS/sbin/init"
mount -t tmpfs none "$ROOTFS/proc"
setsid sleep 1000 </dev/null >/dev/null 2>&1 &
phase "sleeping"
sleep 1000
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelOn{trigger: "sleeping", delay: 100 * time.Millisecond, cancel: cancel}
	start := time.Now()
	_, err := build(ctx, r, gzipComp(t), BuildOptions{CacheDir: cache, Out: out})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("build = %v, want context.Canceled\n%s", err, out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancellation took %v", d)
	}
	waitNoProcs(t, marker)
	if got := dirNames(t, cache); len(got) != 0 {
		t.Errorf("interrupted build left %v in the cache", got)
	}
	ms, err := mountinfo.Read(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if strings.HasPrefix(m.MountPoint, cache) {
			t.Errorf("mount under the cache left behind: %s", m.MountPoint)
		}
	}
}

func TestBuildInterruptedBusybox(t *testing.T) {
	roottest.Require(t, "namespaces, mknod, chroot")
	cache := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelOn{trigger: "installing busybox", cancel: cancel}
	_, err := Build(ctx, "busybox", BuildOptions{CacheDir: cache, Out: out})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Build = %v, want context.Canceled\n%s", err, out)
	}
	if got := dirNames(t, cache); len(got) != 0 {
		t.Errorf("interrupted build left %v in the cache", got)
	}
}

func TestBuildInterruptedWhilePacking(t *testing.T) {
	roottest.Require(t, "namespaces, mknod, chroot")
	cache := t.TempDir()
	// Incompressible data keeps tar | pigz busy for a while.
	r, _ := testRecipe(t, `
mkdir -p "$ROOTFS/sbin"
touch "$ROOTFS/sbin/init"
head -c 256M /dev/urandom >"$ROOTFS/big"
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelOn{trigger: "packing the tree", delay: 300 * time.Millisecond, cancel: cancel}
	_, err := build(ctx, r, gzipComp(t), BuildOptions{CacheDir: cache, Out: out})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("build = %v, want context.Canceled\n%s", err, out)
	}
	if strings.Contains(out.String(), "packed ") {
		t.Fatalf("packing finished before the cancel; the test proves nothing:\n%s", out)
	}
	// tar's command line names the work directory inside the cache.
	waitNoProcs(t, cache)
	if got := dirNames(t, cache); len(got) != 0 {
		t.Errorf("interrupted build left %v in the cache", got)
	}
}

func TestBuildRecipeFailure(t *testing.T) {
	roottest.Require(t, "namespaces, mknod, chroot")
	cache := t.TempDir()
	r, marker := testRecipe(t, `
phase "doing things"
echo "some detail"
mkdir "$ROOTFS/etc"
die "the frobnicator is missing"
`)
	var out bytes.Buffer
	_, err := build(context.Background(), r, gzipComp(t), BuildOptions{CacheDir: cache, Out: &out})
	if !errors.Is(err, vzerror.ErrSystem) || !strings.Contains(err.Error(), "the frobnicator is missing") {
		t.Fatalf("build = %v, want the recipe's error line wrapping ErrSystem", err)
	}
	if !strings.Contains(out.String(), "doing things") || !strings.Contains(out.String(), "some detail") {
		t.Errorf("progress lacks the phase or the output tail:\n%s", out.String())
	}
	waitNoProcs(t, marker)
	if got := dirNames(t, cache); len(got) != 0 {
		t.Errorf("failed build left %v", got)
	}

	// A recipe that succeeds without making /sbin/init makes no template.
	r, _ = testRecipe(t, `mkdir "$ROOTFS/etc"`)
	_, err = build(context.Background(), r, gzipComp(t), BuildOptions{CacheDir: cache})
	if !errors.Is(err, vzerror.ErrBadTemplate) {
		t.Fatalf("build without /sbin/init = %v, want ErrBadTemplate", err)
	}
	if got := dirNames(t, cache); len(got) != 0 {
		t.Errorf("failed build left %v", got)
	}
}

func TestBuildRemovesStaleWork(t *testing.T) {
	roottest.Require(t, "namespaces, mknod, chroot")
	cache := t.TempDir()
	// PIDs never exceed 2^22 (pid_max), so 999999999 is a dead build.
	stale := filepath.Join(cache, workPrefix+"999999999-abc")
	live := filepath.Join(cache, workPrefix+strconv.Itoa(os.Getpid())+"-abc")
	for _, d := range []string{stale, live} {
		err := os.MkdirAll(filepath.Join(d, "rootfs", "etc"), 0o755)
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := Build(context.Background(), "busybox", BuildOptions{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(stale)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale work dir of a dead build kept (%v)", err)
	}
	_, err = os.Stat(live)
	if err != nil {
		t.Errorf("work dir of a running build removed: %v", err)
	}
}
