package inroot

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/internal/roottest"
)

// tree makes a root with a host file beside it that every escape aims at.
func tree(t *testing.T) (root, secret string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "root")
	secret = filepath.Join(base, "secret")
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root, secret
}

func open(t *testing.T, dir string, opts ...Option) *Root {
	t.Helper()
	r, err := Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// within runs f and fails the test if it has not returned after d: the
// old code blocked forever in open(2) on a FIFO.
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("blocked for %v", d)
	}
}

func TestSymlinkEscapesStayInside(t *testing.T) {
	root, secret := tree(t)
	rel, _ := filepath.Rel(filepath.Join(root, "etc"), secret)
	for name, target := range map[string]string{
		"abs":    secret,                     // absolute: resolved as if root were "/"
		"dotdot": rel,                        // ../../secret climbs no higher than root
		"deep":   "../../../../../../" + rel, // however many
		"magic":  "/proc/self/root" + secret, // a magic link: refused
	} {
		link := filepath.Join(root, "etc", name)
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		r := open(t, root)
		if b, err := r.ReadFile("/etc/"+name, 1<<20); err == nil {
			t.Errorf("%s: read through the symlink: %q", name, b)
		}
		if err := r.WriteFile("/etc/"+name, []byte("guest\n"), 0o644); err != nil {
			t.Errorf("%s: write: %v", name, err)
		}
		if b, _ := os.ReadFile(secret); string(b) != "host\n" {
			t.Fatalf("%s: host file written: %q", name, b)
		}
		if st, err := os.Lstat(link); err != nil || !st.Mode().IsRegular() {
			t.Errorf("%s: the symlink was not replaced by a file: %v %v", name, st.Mode(), err)
		}
	}
	// A symlinked directory on the way is resolved inside the root too.
	if err := os.Symlink(filepath.Dir(secret), filepath.Join(root, "up")); err != nil {
		t.Fatal(err)
	}
	r := open(t, root)
	if err := r.WriteFile("/up/secret", []byte("guest\n"), 0o644); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("write through a symlinked directory: %v", err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "host\n" {
		t.Fatalf("host file written through a directory symlink: %q", b)
	}
}

func TestInsideSymlinksFollowed(t *testing.T) {
	root, _ := tree(t)
	os.MkdirAll(filepath.Join(root, "run"), 0o755)
	os.WriteFile(filepath.Join(root, "run", "resolv.conf"), []byte("nameserver 1.2.3.4\n"), 0o644)
	os.Symlink("../run/resolv.conf", filepath.Join(root, "etc", "resolv.conf"))
	r := open(t, root)
	b, err := r.ReadFile("/etc/resolv.conf", 1<<20)
	if err != nil || string(b) != "nameserver 1.2.3.4\n" {
		t.Fatalf("read through an inside symlink: %q %v", b, err)
	}
	if _, err := r.OpenFile("/etc/resolv.conf", unix.O_RDONLY|unix.O_NOFOLLOW, Regular); !errors.Is(err, ErrWrongType) {
		t.Errorf("O_NOFOLLOW on a symlink: %v, want a type refusal", err)
	}
}

func TestSpecialFilesRefusedWithoutBlocking(t *testing.T) {
	root, _ := tree(t)
	fifo := filepath.Join(root, "etc", "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(root, "etc", "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	special := map[string]string{"/etc/fifo": "fifo", "/etc/sock": "socket"}
	if os.Getuid() == 0 {
		// /dev/null's numbers: harmless should the open happen anyway.
		if err := unix.Mknod(filepath.Join(root, "etc", "dev"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
		special["/etc/dev"] = "character device"
	} else {
		t.Log("not root: the device case is not run")
	}
	os.Symlink("fifo", filepath.Join(root, "etc", "tofifo"))
	special["/etc/tofifo"] = "fifo"
	r := open(t, root)
	for p, kind := range special {
		within(t, 5*time.Second, func() {
			_, err := r.ReadFile(p, 1<<20)
			var te *TypeError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), filepath.Join(root, p)+" is a "+kind) {
				t.Errorf("read %s: %v, want a refusal naming the path and %q", p, err, kind)
			}
		})
		within(t, 5*time.Second, func() {
			if _, err := r.OpenFile(p, unix.O_WRONLY, Regular); !errors.Is(err, ErrWrongType) {
				t.Errorf("open %s for writing: %v", p, err)
			}
		})
	}
	// Replacing one is refused too (the symlink to it is just replaced).
	for _, p := range []string{"/etc/fifo", "/etc/sock", "/etc"} {
		if err := r.WriteFile(p, []byte("x"), 0o644); !errors.Is(err, ErrWrongType) {
			t.Errorf("write over %s: %v", p, err)
		}
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the fifo was replaced: %v %v", st.Mode(), err)
	}
	// A FIFO the caller asks for opens, still non-blocking: no reader, no
	// writer open (ENXIO) rather than a hang.
	within(t, 5*time.Second, func() {
		if _, err := r.OpenFile("/etc/fifo", unix.O_WRONLY, FIFO); !errors.Is(err, unix.ENXIO) {
			t.Errorf("writing a FIFO nobody reads: %v, want ENXIO", err)
		}
		f, err := r.OpenFile("/etc/fifo", unix.O_RDONLY, FIFO)
		if err != nil {
			t.Fatalf("reading the FIFO: %v", err)
		}
		f.Close()
	})
}

func TestRegularFileIsBlocking(t *testing.T) {
	root, _ := tree(t)
	os.WriteFile(filepath.Join(root, "etc", "f"), []byte("x"), 0o644)
	r := open(t, root)
	f, err := r.OpenFile("/etc/f", unix.O_RDWR, Regular)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	if err != nil || fl&unix.O_NONBLOCK != 0 || fl&unix.O_ACCMODE != unix.O_RDWR {
		t.Errorf("flags %#o %v: want O_RDWR without O_NONBLOCK", fl, err)
	}
}

func TestSetuidBitsDropped(t *testing.T) {
	root, _ := tree(t)
	p := filepath.Join(root, "etc", "hosts")
	os.WriteFile(p, []byte("old\n"), 0o644)
	if err := os.Chmod(p, 0o6755|os.ModeSetuid|os.ModeSetgid|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	r := open(t, root)
	if err := r.WriteFile("/etc/hosts", []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteFile("/etc/new", []byte("new\n"), 0o4755|os.ModeSetuid|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]uint32{"hosts": 0o755, "new": 0o755} {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(root, "etc", f), &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&0o7777 != want {
			t.Errorf("%s: mode %#o, want %#o", f, st.Mode&0o7777, want)
		}
	}
}

func TestOwnerKept(t *testing.T) {
	roottest.Require(t, "chown")
	root, _ := tree(t)
	p := filepath.Join(root, "etc", "hosts")
	os.WriteFile(p, []byte("old\n"), 0o640)
	os.Chown(p, 1234, 5678)
	r := open(t, root)
	if err := r.WriteFile("/etc/hosts", []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Stat(p, &st)
	if st.Uid != 1234 || st.Gid != 5678 || st.Mode&0o7777 != 0o640 {
		t.Errorf("replaced file: %d:%d %#o, want 1234:5678 0640", st.Uid, st.Gid, st.Mode&0o7777)
	}
}

func TestAtomicReplace(t *testing.T) {
	root, _ := tree(t)
	p := filepath.Join(root, "etc", "resolv.conf")
	os.WriteFile(p, []byte("old\n"), 0o644)
	// A reader holding the old file sees it whole: the new one is another
	// inode, renamed over it.
	held, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	r := open(t, root)
	if err := r.WriteFile("/etc/resolv.conf", []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new\n" {
		t.Errorf("new content %q", b)
	}
	buf := make([]byte, 16)
	n, _ := held.ReadAt(buf, 0)
	if string(buf[:n]) != "old\n" {
		t.Errorf("the old file was rewritten in place: %q", buf[:n])
	}
	ents, _ := os.ReadDir(filepath.Join(root, "etc"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".govz-") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}

func TestReadCapped(t *testing.T) {
	root, _ := tree(t)
	os.WriteFile(filepath.Join(root, "etc", "big"), make([]byte, 4097), 0o644)
	r := open(t, root)
	if _, err := r.ReadFile("/etc/big", 4096); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the cap: %v", err)
	}
	if b, err := r.ReadFile("/etc/big", 4097); err != nil || len(b) != 4097 {
		t.Errorf("at the cap: %d %v", len(b), err)
	}
	if _, err := r.ReadFile("/etc/missing", 10); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestRemove(t *testing.T) {
	root, secret := tree(t)
	os.Symlink(secret, filepath.Join(root, "etc", "l"))
	r := open(t, root)
	if err := r.Remove("/etc/l"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("removing a symlink removed its target: %v", err)
	}
	if err := r.Remove("/etc/l"); err != nil {
		t.Errorf("missing: %v", err)
	}
	if err := r.Remove("/nodir/x"); err != nil {
		t.Errorf("missing directory: %v", err)
	}
}

func TestSameMount(t *testing.T) {
	roottest.Require(t, "mount")
	root, _ := tree(t)
	sub := filepath.Join(root, "mnt")
	os.Mkdir(sub, 0o755)
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, ""); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	defer unix.Unmount(sub, unix.MNT_DETACH)
	os.WriteFile(filepath.Join(sub, "f"), []byte("x"), 0o644)
	if _, err := open(t, root).ReadFile("/mnt/f", 10); err != nil {
		t.Errorf("across a mount: %v", err)
	}
	if _, err := open(t, root, SameMount).ReadFile("/mnt/f", 10); !errors.Is(err, unix.EXDEV) {
		t.Errorf("across a mount with SameMount: %v, want EXDEV", err)
	}
}

// Mkdir makes a directory with the owner and mode asked for, leaves an
// existing one alone and refuses a symlink (even to a directory) or a
// file; WriteFileAs gives a new file its owner; Lstat sees the link.
func TestMkdirAndOwnedWrite(t *testing.T) {
	roottest.Require(t, "chown")
	root, secret := tree(t)
	r := open(t, root)
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	if err := r.Mkdir("/etc/d", 0o750, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(root, "etc/d"), &st); err != nil || st.Mode&0o7777 != 0o750 || st.Uid != 1234 || st.Gid != 5678 {
		t.Fatalf("made %o %d:%d (%v)", st.Mode, st.Uid, st.Gid, err)
	}
	if err := r.Mkdir("/etc/d", 0o700, 0, 0); err != nil {
		t.Fatalf("existing directory: %v", err)
	}
	if err := unix.Stat(filepath.Join(root, "etc/d"), &st); err != nil || st.Mode&0o7777 != 0o750 || st.Uid != 1234 {
		t.Fatalf("existing directory changed: %o %d", st.Mode, st.Uid)
	}
	if err := os.Symlink(filepath.Dir(secret), filepath.Join(root, "etc/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/etc/link", "/etc/file"} {
		if err := r.Mkdir(p, 0o700, 0, 0); !errors.Is(err, ErrWrongType) {
			t.Errorf("Mkdir %s: %v, want ErrWrongType", p, err)
		}
	}
	if st, err := r.Lstat("/etc/link"); err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Fatalf("Lstat of a symlink: %v", err)
	}
	if err := r.WriteFileAs("/etc/d/f", []byte("x"), 0o640, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(filepath.Join(root, "etc/d/f"), &st); err != nil || st.Mode&0o7777 != 0o640 || st.Uid != 1234 || st.Gid != 5678 {
		t.Fatalf("new file %o %d:%d (%v)", st.Mode, st.Uid, st.Gid, err)
	}
}
