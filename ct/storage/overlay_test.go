package storage

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/internal/mountinfo"
	"govz/internal/roottest"
)

// ovlEnv is a parent directory of private areas and mount points for the
// overlay tests, with the small template; every mount below dir is gone
// when the test ends, or the test fails.
func ovlEnv(t *testing.T) (dir string, tmpl Template, lay *overlayLayout, log *testLog) {
	t.Helper()
	roottest.Require(t, "overlayfs and idmapped mounts")
	dir = t.TempDir()
	os.MkdirAll(filepath.Join(dir, "private"), 0o700)
	os.MkdirAll(filepath.Join(dir, "root"), 0o700)
	t.Cleanup(func() {
		for _, m := range mountsUnder(t, dir) {
			t.Errorf("left mounted: %s", m)
			unix.Unmount(m, unix.MNT_DETACH)
		}
	})
	log = &testLog{}
	return dir, smallTemplate(t, dir), &overlayLayout{log: log}, log
}

func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	ms, err := mountinfo.Read(0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		if m.MountPoint == dir || strings.HasPrefix(m.MountPoint, dir+"/") {
			out = append(out, m.MountPoint)
		}
	}
	return out
}

func ovlCT(dir string, id int, mapped bool) CT {
	c := CT{ID: id, Private: filepath.Join(dir, "private", strconv.Itoa(id)), Root: filepath.Join(dir, "root", strconv.Itoa(id))}
	os.MkdirAll(c.Root, 0o755)
	if mapped {
		c.UIDMap = []IDMap{{ContainerID: 0, HostID: 200000, Size: 65536}}
		c.GIDMap = []IDMap{{ContainerID: 0, HostID: 300000, Size: 65536}}
	}
	return c
}

// asUID opens path (relative to the open directory dirfd) with flags and
// writes to it as host uid/gid, the way the container's root writes through its
// idmapped root: fsuid and fsgid are per thread.
func asUID(t *testing.T, dirfd int, path string, flags, uid, gid int) error {
	t.Helper()
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		// The thread is left locked: it ends with the goroutine, and no
		// other goroutine ever runs with its changed fsuid.
		unix.Setfsgid(gid)
		unix.Setfsuid(uid)
		fd, err := unix.Openat(dirfd, path, flags|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Write(fd, []byte("written inside\n"))
			unix.Close(fd)
		}
		done <- err
	}()
	return <-done
}

// A create is two empty directories and a reference: the template is
// unpacked once and shared; a mapped mount shows the container's IDs, and
// what the container writes lands, unshifted, in its own upper layer only;
// destroy leaves nothing of the container and keeps the lower for others.
func TestOverlayCreateMountDestroy(t *testing.T) {
	dir, tmpl, lay, _ := ovlEnv(t)
	parent := filepath.Join(dir, "private")
	a, b := ovlCT(dir, 101, true), ovlCT(dir, 102, false)
	for _, c := range []CT{a, b} {
		if err := lay.Create(c, tmpl, NoLimits()); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := CachedTemplates(parent)
	if len(ents) != 1 || !strings.HasSuffix(ents[0], ".ovl") {
		t.Fatalf("cache holds %v, want one overlay lower", ents)
	}
	lowerBytes, _, _ := treeSize(filepath.Join(parent, ".tmplcache", ents[0], "root"))
	privBytes, _, _ := treeSize(a.Private)
	if privBytes*4 > lowerBytes {
		t.Fatalf("a private area takes %d bytes, the template %d: not shared", privBytes, lowerBytes)
	}
	if err := lay.Mount(a); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(a.Root, "etc/f1"), &st); err != nil || st.Uid != 200000 || st.Gid != 300000 {
		t.Fatalf("etc/f1 through the mapped mount: uid %d gid %d (%v), want 200000 300000", st.Uid, st.Gid, err)
	}
	rfd, err := unix.Open(a.Root, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The container's root creates a file and copies one up; on disk
	// both are host root's, as in the lower.
	err = asUID(t, rfd, "etc/new", unix.O_CREAT|unix.O_EXCL, 200000, 300000)
	if err == nil {
		err = asUID(t, rfd, "etc/f2", unix.O_APPEND, 200000, 300000)
	}
	unix.Close(rfd)
	if err != nil {
		t.Fatalf("container root writing in etc: %v", err)
	}
	for _, f := range []string{"etc/new", "etc/f2"} {
		if err := unix.Stat(filepath.Join(a.Private, "fs/upper", f), &st); err != nil || st.Uid != 0 || st.Gid != 0 {
			t.Fatalf("%s in the upper layer: uid %d gid %d (%v), want 0 0 (unshifted on disk)", f, st.Uid, st.Gid, err)
		}
	}
	if _, err := os.Stat(filepath.Join(parent, ".tmplcache", ents[0], "root/etc/new")); err == nil {
		t.Fatal("a container's write reached the shared lower layer")
	}
	if err := lay.Umount(a); err != nil {
		t.Fatal(err)
	}
	if ms := mountsUnder(t, dir); len(ms) != 0 {
		t.Fatalf("after umount: %v still mounted (staged layers must go at mount)", ms)
	}
	if err := lay.Mount(b); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(b.Root, "etc/new")); err == nil {
		t.Fatal("container 102 sees 101's file")
	}
	if err := unix.Stat(filepath.Join(b.Root, "etc/f1"), &st); err != nil || st.Uid != 0 {
		t.Fatalf("identity mount: etc/f1 uid %d (%v), want 0", st.Uid, err)
	}
	if err := lay.Umount(b); err != nil {
		t.Fatal(err)
	}
	for _, c := range []CT{a, b} {
		if err := lay.Destroy(c); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(c.Private); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("after destroy %s: %v", c.Private, err)
		}
	}
	if ents, _ := CachedTemplates(parent); len(ents) != 1 {
		t.Fatalf("the current lower went with its last container: cache %v", ents)
	}
}

// A changed tarball gets a new lower; the old one stays while a
// container uses it (so it keeps its files) and goes with the last.
func TestOverlayLowerVersions(t *testing.T) {
	dir, tmpl, lay, _ := ovlEnv(t)
	parent := filepath.Join(dir, "private")
	old := ovlCT(dir, 101, false)
	if err := lay.Create(old, tmpl, NoLimits()); err != nil {
		t.Fatal(err)
	}
	v1, _ := CachedTemplates(parent)
	time.Sleep(10 * time.Millisecond)
	sub := filepath.Join(dir, "v2")
	os.Mkdir(sub, 0o700)
	if err := os.Rename(smallTemplate(t, sub).Path, tmpl.Path); err != nil {
		t.Fatal(err)
	}
	cur := ovlCT(dir, 102, false)
	if err := lay.Create(cur, tmpl, NoLimits()); err != nil {
		t.Fatal(err)
	}
	both, _ := CachedTemplates(parent)
	if len(both) != 2 || !slices.Contains(both, v1[0]) {
		t.Fatalf("after the tarball changed the cache holds %v, want the old %v kept beside the new", both, v1)
	}
	if err := lay.Mount(old); err != nil {
		t.Fatal(err)
	}
	_, err := os.Stat(filepath.Join(old.Root, "etc/f1"))
	lay.Umount(old)
	if err != nil {
		t.Fatalf("container 101 lost its template files: %v", err)
	}
	if err := lay.Destroy(old); err != nil {
		t.Fatal(err)
	}
	if now, _ := CachedTemplates(parent); len(now) != 1 || now[0] == v1[0] {
		t.Fatalf("after its last user went the cache holds %v, want only the new lower", now)
	}
	if err := lay.Destroy(cur); err != nil {
		t.Fatal(err)
	}
}

// The upper layer is the container's: an overlay.redirect xattr in it must
// not be followed to another directory of the lower layers (nor, through
// a crafted absolute path, anywhere else), the container cannot set
// overlay xattrs through its root, and the lower's setuid files sit under
// a root-only directory.
func TestOverlayUpperCannotRedirect(t *testing.T) {
	dir, tmpl, lay, _ := ovlEnv(t)
	c := ovlCT(dir, 101, false)
	if err := lay.Create(c, tmpl, NoLimits()); err != nil {
		t.Fatal(err)
	}
	defer lay.Destroy(c)
	// What a container root would need CAP_SYS_ADMIN of the initial
	// namespace for; the mount must ignore it all the same.
	x := filepath.Join(c.Private, "fs/upper/x")
	os.Mkdir(x, 0o755)
	if err := unix.Setxattr(x, "trusted.overlay.redirect", []byte("/etc"), 0); err != nil {
		t.Fatal(err)
	}
	if err := lay.Mount(c); err != nil {
		t.Fatal(err)
	}
	defer lay.Umount(c)
	// nofollow refuses the lookup (EPERM); an empty x would do too.
	ents, err := os.ReadDir(filepath.Join(c.Root, "x"))
	if len(ents) != 0 || (err != nil && !errors.Is(err, unix.EPERM)) {
		t.Fatalf("x with a redirect to /etc shows %d entries (%v): the redirect was followed", len(ents), err)
	}
	// Refused before Linux 6.7; since, stored escaped
	// (trusted.overlay.overlay.opaque) for nested overlays: either way
	// the upper directory is not made opaque.
	unix.Setxattr(filepath.Join(c.Root, "etc"), "trusted.overlay.opaque", []byte("y"), 0)
	if _, err := unix.Getxattr(filepath.Join(c.Private, "fs/upper/etc"), "trusted.overlay.opaque", nil); err == nil {
		t.Fatal("trusted.overlay.opaque set through the overlay reached the upper layer")
	}
	if _, err := os.Stat(filepath.Join(c.Root, "etc/f1")); err != nil {
		t.Fatalf("etc lost its lower files: %v", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "private", ".tmplcache"), &st); err != nil || st.Mode&0o077 != 0 {
		t.Fatalf("template cache mode %o (%v): host users could reach the lower's setuid files", st.Mode&0o777, err)
	}
}

// A private area's lower record is read by host root: a name that leaves
// the template cache is refused.
func TestOverlayLowerRecordConfined(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "101")
	os.Mkdir(p, 0o700)
	for _, bad := range []string{"../../etc", "..", "a/b", ""} {
		os.WriteFile(filepath.Join(p, "lower"), []byte(bad+"\n"), 0o600)
		if e, err := lowerOf(p); err == nil {
			t.Errorf("lower record %q accepted as %s", bad, e)
		}
	}
}
