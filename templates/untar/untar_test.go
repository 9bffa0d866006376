//go:build linux

package untar

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/internal/roottest"
)

// capNetRaw is a VFS_CAP_REVISION_2 security.capability value granting
// cap_net_raw=ep (struct vfs_cap_data, little-endian).
const capNetRaw = "\x01\x00\x00\x02" + "\x00\x20\x00\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"

func smallTree(t *testing.T) []byte {
	return tarBytes(t,
		dir("./", 0o755),
		dir("./etc/", 0o755),
		reg("./etc/hostname", "ct101\n", 0o644),
		symlink("./etc/mtab", "/proc/self/mounts"),
		hardlink("./etc/hostname.bak", "./etc/hostname"),
	)
}

func checkSmallTree(t *testing.T, dest string) {
	t.Helper()
	if got := readString(t, filepath.Join(dest, "etc/hostname")); got != "ct101\n" {
		t.Errorf("etc/hostname = %q", got)
	}
	if got, err := os.Readlink(filepath.Join(dest, "etc/mtab")); err != nil || got != "/proc/self/mounts" {
		t.Errorf("etc/mtab -> %q, %v", got, err)
	}
	a, b := lstat(t, filepath.Join(dest, "etc/hostname")), lstat(t, filepath.Join(dest, "etc/hostname.bak"))
	if a.Ino != b.Ino {
		t.Errorf("hard link has inode %d, target %d", b.Ino, a.Ino)
	}
}

func TestFormats(t *testing.T) {
	roottest.Require(t, "chown, mknod, security.capability")
	plain := smallTree(t)
	for _, c := range []Compression{None, Gzip, Bzip2, Xz, Zstd} {
		archive := compressBytes(t, c, plain)
		if got := Detect(archive); got != c {
			t.Fatalf("Detect(%s output) = %s", c, got)
		}
		t.Run(c.String()+"/file", func(t *testing.T) {
			dest := t.TempDir()
			if err := extractBytes(t, dest, archive, Options{}); err != nil {
				t.Fatal(err)
			}
			checkSmallTree(t, dest)
		})
		t.Run(c.String()+"/stream", func(t *testing.T) {
			dest := t.TempDir()
			// A bytes.Reader, not a file: decompressor children are fed by
			// exec's copying goroutine.
			if err := Extract(bytes.NewReader(archive), dest, Options{}); err != nil {
				t.Fatal(err)
			}
			checkSmallTree(t, dest)
		})
	}
}

func TestGzipDecoders(t *testing.T) {
	roottest.Require(t, "chown, mknod, security.capability")
	if _, err := exec.LookPath("pigz"); err != nil {
		t.Fatalf("pigz is a test dependency: %v", err)
	}
	archive := compressBytes(t, Gzip, smallTree(t))
	for _, m := range []gzipMode{gzipAuto, gzipGo, gzipPigz, gzipGoPipe} {
		t.Run(fmt.Sprint(m), func(t *testing.T) {
			dest := t.TempDir()
			if err := extractBytes(t, dest, archive, Options{gzip: m}); err != nil {
				t.Fatal(err)
			}
			checkSmallTree(t, dest)
		})
	}
}

func TestMetadata(t *testing.T) {
	roottest.Require(t, "chown, mknod, security.capability")
	nano := time.Date(2019, 7, 8, 9, 10, 11, 123456789, time.UTC)
	withPAX := func(m member, kv ...string) member {
		m.hdr.PAXRecords = map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m.hdr.PAXRecords[kv[i]] = kv[i+1]
		}
		return m
	}
	owned := func(m member, uid, gid int) member {
		m.hdr.Uid, m.hdr.Gid = uid, gid
		return m
	}
	timed := func(m member, ts time.Time) member {
		m.hdr.ModTime = ts
		m.hdr.Format = tar.FormatPAX // USTAR would round to seconds
		return m
	}
	dev := func(typ byte, name string, mode int64, major, minor int64) member {
		return member{hdr: tar.Header{Typeflag: typ, Name: name, Mode: mode, Devmajor: major, Devminor: minor, ModTime: epoch}}
	}
	archive := tarBytes(t,
		owned(dir("./", 0o755), 0, 0),
		dir("bin/", 0o755),
		withPAX(reg("bin/ping", "ping", 0o4755), "SCHILY.xattr.security.capability", capNetRaw, "SCHILY.xattr.user.note", "hello"),
		owned(reg("bin/su", "su", 0o4750), 0, 42),
		owned(withPAX(reg("bin/owned-caps", "x", 0o755), "SCHILY.xattr.security.capability", capNetRaw), 1000, 1000),
		reg("bin/busybox", "busybox", 0o755),
		hardlink("bin/busybox-hard", "bin/busybox"),
		symlink("bin/sh", "busybox"),
		withPAX(timed(dir("etc/", 0o755), nano), "SCHILY.xattr.user.dirattr", "d"),
		owned(reg("etc/shadow", "s", 0o640), 0, 42),
		reg("etc/group-writable", "g", 0o664),
		owned(dir("home/user/", 0o700), 1000, 1000),
		owned(timed(reg("home/user/.profile", "p", 0o644), nano), 1000, 1000),
		owned(timed(symlink("home/user/link", "/nowhere"), nano), 1000, 1001),
		dir("tmp/", 0o1777),
		owned(dir("srv/", 0o2775), 0, 50),
		reg("srv/file", "f", 0o644),
		dir("srv/sub/", 0o755),
		owned(reg("opt/big-ids", "b", 0o600), 100000, 200000),
		dev(tar.TypeChar, "dev/null", 0o666, 1, 3),
		owned(dev(tar.TypeBlock, "dev/loop0", 0o660, 7, 0), 0, 6),
		dev(tar.TypeChar, "dev/big", 0o600, 300, 70000),
		dev(tar.TypeFifo, "dev/initctl", 0o600, 0, 0),
	)
	dest := filepath.Join(t.TempDir(), "dest")
	if err := os.Mkdir(dest, 0o700); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	opt := Options{Warnf: func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) }}
	if err := extractBytes(t, dest, archive, opt); err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Errorf("warnings: %q", warnings)
	}

	type want struct {
		path     string
		typ      uint32
		perm     uint32
		uid, gid uint32
	}
	for _, w := range []want{
		{".", unix.S_IFDIR, 0o755, 0, 0},
		{"bin/ping", unix.S_IFREG, 0o4755, 0, 0},
		{"bin/su", unix.S_IFREG, 0o4750, 0, 42},
		{"bin/owned-caps", unix.S_IFREG, 0o755, 1000, 1000},
		{"bin/sh", unix.S_IFLNK, 0o777, 0, 0},
		{"etc", unix.S_IFDIR, 0o755, 0, 0},
		{"etc/shadow", unix.S_IFREG, 0o640, 0, 42},
		{"etc/group-writable", unix.S_IFREG, 0o664, 0, 0},
		{"home/user", unix.S_IFDIR, 0o700, 1000, 1000},
		{"home/user/.profile", unix.S_IFREG, 0o644, 1000, 1000},
		{"home/user/link", unix.S_IFLNK, 0o777, 1000, 1001},
		{"tmp", unix.S_IFDIR, 0o1777, 0, 0},
		{"srv", unix.S_IFDIR, 0o2775, 0, 50},
		{"srv/file", unix.S_IFREG, 0o644, 0, 0}, // not the setgid parent's group 50
		{"srv/sub", unix.S_IFDIR, 0o755, 0, 0},  // no inherited S_ISGID
		{"opt/big-ids", unix.S_IFREG, 0o600, 100000, 200000},
		{"dev/null", unix.S_IFCHR, 0o666, 0, 0},
		{"dev/loop0", unix.S_IFBLK, 0o660, 0, 6},
		{"dev/initctl", unix.S_IFIFO, 0o600, 0, 0},
	} {
		st := lstat(t, filepath.Join(dest, w.path))
		if st.Mode&unix.S_IFMT != w.typ || st.Mode&0o7777 != w.perm || st.Uid != w.uid || st.Gid != w.gid {
			t.Errorf("%s: type %o mode %04o owner %d:%d, want type %o mode %04o owner %d:%d",
				w.path, st.Mode&unix.S_IFMT, st.Mode&0o7777, st.Uid, st.Gid, w.typ, w.perm, w.uid, w.gid)
		}
	}

	for _, d := range []struct {
		path         string
		major, minor uint32
	}{{"dev/null", 1, 3}, {"dev/loop0", 7, 0}, {"dev/big", 300, 70000}} {
		st := lstat(t, filepath.Join(dest, d.path))
		if unix.Major(st.Rdev) != d.major || unix.Minor(st.Rdev) != d.minor {
			t.Errorf("%s: device %d:%d, want %d:%d", d.path, unix.Major(st.Rdev), unix.Minor(st.Rdev), d.major, d.minor)
		}
	}

	// mtimes: files, symlinks (not their targets) and directories, whose
	// own mtime was set after their contents went in.
	for _, m := range []struct {
		path string
		when time.Time
	}{
		{".", epoch}, {"bin", epoch}, {"etc", nano}, {"bin/ping", epoch}, {"bin/sh", epoch},
		{"home/user/.profile", nano}, {"home/user/link", nano}, {"dev/null", epoch}, {"dev/initctl", epoch},
		{"srv", epoch},
	} {
		st := lstat(t, filepath.Join(dest, m.path))
		if got := time.Unix(st.Mtim.Unix()); !got.Equal(m.when) {
			t.Errorf("%s: mtime %v, want %v", m.path, got.UTC(), m.when)
		}
	}

	for _, x := range []struct{ path, attr, value string }{
		{"bin/ping", "security.capability", capNetRaw},
		{"bin/ping", "user.note", "hello"},
		{"bin/owned-caps", "security.capability", capNetRaw}, // survived the chown
		{"etc", "user.dirattr", "d"},
	} {
		buf := make([]byte, 256)
		n, err := unix.Lgetxattr(filepath.Join(dest, x.path), x.attr, buf)
		if err != nil || string(buf[:n]) != x.value {
			t.Errorf("%s: xattr %s = %q, %v; want %q", x.path, x.attr, buf[:max(n, 0)], err, x.value)
		}
	}

	a, b := lstat(t, filepath.Join(dest, "bin/busybox")), lstat(t, filepath.Join(dest, "bin/busybox-hard"))
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("hard link: inodes %d and %d, nlink %d", a.Ino, b.Ino, a.Nlink)
	}
	if got := readString(t, filepath.Join(dest, "bin/busybox-hard")); got != "busybox" {
		t.Errorf("hard link content %q", got)
	}
}

// sparseFile makes a file of size bytes with data blocks at the offsets
// given and holes elsewhere, and returns its content.
func sparseFile(t *testing.T, path string, size int64, at ...int64) []byte {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, size)
	for i, off := range at {
		blk := bytes.Repeat([]byte{byte('a' + i)}, 4096)
		if _, err := f.WriteAt(blk, off); err != nil {
			t.Fatal(err)
		}
		copy(want[off:], blk)
	}
	return want
}

func TestSparse(t *testing.T) {
	roottest.Require(t, "chown, mknod, security.capability")
	src := t.TempDir()
	const size = 8 << 20
	files := map[string][]byte{
		"tail-hole": sparseFile(t, filepath.Join(src, "tail-hole"), size, 0, 4<<20),
		"tail-data": sparseFile(t, filepath.Join(src, "tail-data"), size, 1<<20, size-4096),
		"all-hole":  sparseFile(t, filepath.Join(src, "all-hole"), size),
	}
	for _, format := range [][]string{
		{"--format=gnu"}, // old GNU 'S' members
		{"--format=pax", "--sparse-version=0.1"},
		{"--format=pax", "--sparse-version=1.0"},
	} {
		t.Run(strings.Join(format, " "), func(t *testing.T) {
			archive := filepath.Join(t.TempDir(), "sparse.tar")
			args := append([]string{"--sparse", "-cf", archive, "-C", src}, format...)
			if out, err := exec.Command("tar", append(args, "tail-hole", "tail-data", "all-hole")...).CombinedOutput(); err != nil {
				t.Fatalf("tar: %v: %s", err, out)
			}
			dest := t.TempDir()
			if err := ExtractFile(archive, dest, Options{}); err != nil {
				t.Fatal(err)
			}
			for name, want := range files {
				p := filepath.Join(dest, name)
				if got := readString(t, p); got != string(want) {
					t.Errorf("%s: content differs", name)
				}
				st := lstat(t, p)
				if st.Size != size || st.Blocks*512 > 64<<10 {
					t.Errorf("%s: size %d, %d bytes allocated; want %d with holes (at most 64 KiB)", name, st.Size, st.Blocks*512, size)
				}
			}
		})
	}

	// A member not stored sparse is written as it is, holes not invented.
	t.Run("dense", func(t *testing.T) {
		zeros := strings.Repeat("\x00", 1<<20)
		dest := t.TempDir()
		if err := extractBytes(t, dest, tarBytes(t, reg("swapfile", zeros, 0o600)), Options{}); err != nil {
			t.Fatal(err)
		}
		if st := lstat(t, filepath.Join(dest, "swapfile")); st.Blocks*512 < 1<<20 {
			t.Errorf("dense zero file has %d bytes allocated, want all %d", st.Blocks*512, 1<<20)
		}
	})
}

func TestReplaceExisting(t *testing.T) {
	roottest.Require(t, "chown, mknod, security.capability")
	dest := t.TempDir()
	keepDir := dir("d/", 0o700)
	keepDir.hdr.Uid = 7
	archive := tarBytes(t,
		reg("a", "one", 0o644),
		reg("a", "two", 0o644),
		dir("d/", 0o755),
		reg("d/keep", "k", 0o644),
		keepDir,
		symlink("s", "x"),
		symlink("s", "y"),
		reg("f", "file", 0o644),
		dir("f/", 0o755),
		reg("f/inner", "i", 0o644),
		dir("e/", 0o755),
		reg("e", "now a file", 0o644),
		fifo("p"),
		reg("p", "not a fifo", 0o644),
	)
	if err := extractBytes(t, dest, archive, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, filepath.Join(dest, "a")); got != "two" {
		t.Errorf("a = %q, want the later member", got)
	}
	if got := readString(t, filepath.Join(dest, "d/keep")); got != "k" {
		t.Errorf("d/keep = %q: the directory was not kept", got)
	}
	if st := lstat(t, filepath.Join(dest, "d")); st.Mode&0o7777 != 0o700 || st.Uid != 7 {
		t.Errorf("d: mode %04o uid %d, want the later member's 0700 and 7", st.Mode&0o7777, st.Uid)
	}
	if got, _ := os.Readlink(filepath.Join(dest, "s")); got != "y" {
		t.Errorf("s -> %q, want y", got)
	}
	if got := readString(t, filepath.Join(dest, "f/inner")); got != "i" {
		t.Errorf("f/inner = %q", got)
	}
	if got := readString(t, filepath.Join(dest, "e")); got != "now a file" {
		t.Errorf("e = %q: an empty directory is replaced by a file", got)
	}
	if got := readString(t, filepath.Join(dest, "p")); got != "not a fifo" {
		t.Errorf("p = %q", got)
	}

	// A non-empty directory cannot be replaced, as with GNU tar.
	err := extractBytes(t, t.TempDir(), tarBytes(t, reg("n/c", "c", 0o644), reg("n", "x", 0o644)), Options{})
	requireBadTemplate(t, err, `"n"`)
}

func TestMissingParentsAndManyDirs(t *testing.T) {
	roottest.Require(t, "chown, mknod, security.capability")
	var ms []member
	ms = append(ms, reg("a/b/c", "deep", 0o644))
	// More directories than the fd cache holds, visited round-robin.
	for i := range 3 {
		for d := range 2 * dirCacheSize {
			ms = append(ms, reg(fmt.Sprintf("many/d%02d/f%d", d, i), fmt.Sprint(d, i), 0o644))
		}
	}
	dest := t.TempDir()
	if err := extractBytes(t, dest, tarBytes(t, ms...), Options{}); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, filepath.Join(dest, "a/b/c")); got != "deep" {
		t.Errorf("a/b/c = %q", got)
	}
	if st := lstat(t, filepath.Join(dest, "a/b")); st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Errorf("a/b is not a directory")
	}
	for i := range 3 {
		for d := range 2 * dirCacheSize {
			p := filepath.Join(dest, fmt.Sprintf("many/d%02d/f%d", d, i))
			if got := readString(t, p); got != fmt.Sprint(d, i) {
				t.Errorf("%s = %q", p, got)
			}
		}
	}
}

// randomData is incompressible, so a cut in the compressed stream lands
// in the middle of a member's data.
func randomData(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return string(b)
}

func TestCorrupt(t *testing.T) {
	roottest.Require(t, "chown, mknod, security.capability")
	plain := tarBytes(t, reg("a", randomData(300<<10), 0o644), reg("b", randomData(300<<10), 0o644), reg("c", "c", 0o644))
	truncate := func(b []byte) []byte { return b[:len(b)*6/10] }
	flip := func(at func(n int) int) func([]byte) []byte {
		return func(b []byte) []byte {
			b = bytes.Clone(b)
			b[at(len(b))] ^= 0x55
			return b
		}
	}
	cases := []struct {
		name string
		c    Compression
		mod  func([]byte) []byte
	}{
		{"plain truncated", None, truncate},
		{"plain bad header checksum", None, flip(func(int) int { return 0 })},
		{"gzip truncated", Gzip, truncate},
		{"gzip bad crc", Gzip, flip(func(n int) int { return n - 8 })}, // caught after the last member
		{"gzip bad data", Gzip, flip(func(n int) int { return n / 2 })},
		{"bzip2 truncated", Bzip2, truncate},
		{"xz truncated", Xz, truncate},
		{"xz bad data", Xz, flip(func(n int) int { return n / 2 })},
		{"zstd truncated", Zstd, truncate},
		{"zstd bad data", Zstd, flip(func(n int) int { return n / 2 })},
		{"garbage", None, func([]byte) []byte { return []byte(randomData(4096)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			archive := tc.mod(compressBytes(t, tc.c, plain))
			err := extractBytes(t, t.TempDir(), archive, Options{})
			requireBadTemplate(t, err, "")
			err = Extract(bytes.NewReader(archive), t.TempDir(), Options{})
			requireBadTemplate(t, err, "")
		})
	}
}

func TestMissingDecompressor(t *testing.T) {
	roottest.Require(t, "chown, mknod, security.capability")
	plain := smallTree(t)
	xz := compressBytes(t, Xz, plain)
	gz := compressBytes(t, Gzip, plain)
	t.Setenv("PATH", t.TempDir())
	err := extractBytes(t, t.TempDir(), xz, Options{})
	if err == nil || !errors.Is(err, ErrSystem) || !strings.Contains(err.Error(), "xz program") ||
		!strings.Contains(err.Error(), "xz-utils") {
		t.Fatalf("xz archive without xz: %v; want an ErrSystem naming xz and xz-utils", err)
	}
	// Without pigz gzip falls back to compress/gzip.
	dest := t.TempDir()
	if err := extractBytes(t, dest, gz, Options{}); err != nil {
		t.Fatal(err)
	}
	checkSmallTree(t, dest)
}

func TestMissingArchive(t *testing.T) {
	err := ExtractFile(filepath.Join(t.TempDir(), "nope.tar.gz"), t.TempDir(), Options{})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrTemplateMissing", err)
	}
}

func TestProgress(t *testing.T) {
	roottest.Require(t, "chown, mknod, security.capability")
	var ms []member
	for i := range 8 {
		ms = append(ms, reg(fmt.Sprintf("f%d", i), randomData(1<<20), 0o644))
	}
	plain := tarBytes(t, ms...)
	for _, c := range []Compression{Gzip, Zstd, None} {
		t.Run(c.String(), func(t *testing.T) {
			archive := compressBytes(t, c, plain)
			type call struct{ done, total int64 }
			var calls []call
			opt := Options{Progress: func(done, total int64) { calls = append(calls, call{done, total}) }}
			if err := extractBytes(t, t.TempDir(), archive, opt); err != nil {
				t.Fatal(err)
			}
			n := int64(len(archive))
			if len(calls) < 3 {
				t.Fatalf("%d progress calls for 8 MiB: %v", len(calls), calls)
			}
			for i, c := range calls {
				if c.total != n || c.done > n || (i > 0 && c.done < calls[i-1].done) {
					t.Fatalf("progress calls %v: want non-decreasing done up to %d", calls, n)
				}
			}
			if last := calls[len(calls)-1]; last.done != n {
				t.Errorf("last progress call %v, want done = total", last)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	roottest.Require(t, "chown, mknod, security.capability")
	bogus := reg("f", "f", 0o644)
	bogus.hdr.PAXRecords = map[string]string{"SCHILY.xattr.bogusns.attr": "v", "SCHILY.xattr.user.ok": "v"}
	unknown := member{hdr: tar.Header{Typeflag: 'Z', Name: "z", Size: 3, Mode: 0o644, ModTime: epoch}, data: "zzz"}
	var warnings []string
	opt := Options{Warnf: func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) }}
	dest := t.TempDir()
	if err := extractBytes(t, dest, tarBytes(t, bogus, unknown, reg("after", "a", 0o644)), opt); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "bogusns.attr") || !strings.Contains(warnings[1], `'Z'`) {
		t.Errorf("warnings %q, want one for the unsupported xattr namespace and one for type 'Z'", warnings)
	}
	if _, err := os.Lstat(filepath.Join(dest, "z")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unknown member type was extracted: %v", err)
	}
	if got := readString(t, filepath.Join(dest, "after")); got != "a" {
		t.Errorf("member after the skipped one: %q", got)
	}
	buf := make([]byte, 16)
	if n, err := unix.Getxattr(filepath.Join(dest, "f"), "user.ok", buf); err != nil || string(buf[:n]) != "v" {
		t.Errorf("user.ok = %q, %v", buf[:max(n, 0)], err)
	}
}

func TestMissingDestination(t *testing.T) {
	err := Extract(bytes.NewReader(tarBytes(t, reg("a", "a", 0o644))), filepath.Join(t.TempDir(), "nope"), Options{})
	if !errors.Is(err, ErrDestination) || !errors.Is(err, unix.ENOENT) {
		t.Fatalf("got %v, want ErrCreatePrivate wrapping ENOENT", err)
	}
}
