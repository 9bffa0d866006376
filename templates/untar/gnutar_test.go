//go:build linux

package untar

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/internal/roottest"
)

// busyboxTree builds a small root file system the way a template has one:
// the static busybox with its applet symlinks, plus the metadata that is
// easy to lose (setuid, file capabilities, owners, a setgid directory,
// device nodes, hard links, a sparse file, old directory times).
func busyboxTree(t *testing.T, root string) {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static is a test dependency: %v", err)
	}
	mk := func(p string, mode os.FileMode) {
		if err := os.MkdirAll(filepath.Join(root, p), mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin", "sbin", "etc", "dev", "home/user", "srv/shared", "var/log", "tmp"} {
		mk(d, 0o755)
	}
	writeFile(t, filepath.Join(root, "bin/busybox"), bb)
	out, err := exec.Command("/bin/busybox", "--list-full").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, applet := range strings.Fields(string(out)) {
		dir, name := filepath.Split(applet)
		if name == "busybox" {
			continue
		}
		mk(dir, 0o755)
		target, err := filepath.Rel(filepath.Join("/", dir), "/bin/busybox")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, applet)); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ping := filepath.Join(root, "bin/ping6-caps")
	writeFile(t, ping, bb[:4096])
	must(os.Chmod(ping, 0o755))
	must(unix.Setxattr(ping, "security.capability", []byte(capNetRaw), 0))
	must(unix.Setxattr(ping, "user.origin", []byte("test"), 0))
	su := filepath.Join(root, "bin/su-suid")
	writeFile(t, su, bb[:8192])
	must(os.Chown(su, 0, 42))
	must(unix.Chmod(su, 0o4750))
	must(unix.Link(filepath.Join(root, "bin/busybox"), filepath.Join(root, "sbin/busybox-hard")))
	shadow := writeFile(t, filepath.Join(root, "etc/shadow"), []byte("root:*:19000:0:99999:7:::\n"))
	must(os.Chown(shadow, 0, 42))
	must(unix.Chmod(shadow, 0o640))
	must(unix.Chmod(filepath.Join(root, "tmp"), 0o1777))
	must(os.Chown(filepath.Join(root, "srv/shared"), 0, 50))
	must(unix.Chmod(filepath.Join(root, "srv/shared"), 0o2775))
	writeFile(t, filepath.Join(root, "srv/shared/file"), []byte("inherits group 50 on disk"))
	must(os.Chown(filepath.Join(root, "home/user"), 1000, 1000))
	must(unix.Chmod(filepath.Join(root, "home/user"), 0o700))
	profile := writeFile(t, filepath.Join(root, "home/user/.profile"), []byte("PS1='$ '\n"))
	must(os.Lchown(profile, 1000, 1000))
	must(unix.Setxattr(filepath.Join(root, "home/user"), "user.dirattr", []byte("d"), 0))
	must(unix.Mknod(filepath.Join(root, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Mknod(filepath.Join(root, "dev/sda1"), unix.S_IFBLK|0o660, int(unix.Mkdev(8, 1))))
	must(os.Chown(filepath.Join(root, "dev/sda1"), 0, 6))
	must(unix.Mkfifo(filepath.Join(root, "dev/initctl"), 0o600))
	must(os.Symlink("/proc/self/mounts", filepath.Join(root, "etc/mtab")))
	must(os.Lchown(filepath.Join(root, "etc/mtab"), 0, 4))
	sparseFile(t, filepath.Join(root, "var/log/lastlog"), 16<<20, 0, 12<<20)

	// Times last, deepest first, so creating entries does not undo them.
	var paths []string
	must(filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	}))
	sort.Sort(sort.Reverse(sort.StringSlice(paths)))
	for i, p := range paths {
		ts := time.Date(2020, 1, 2, 3, 4, 5, i*1000, time.UTC)
		tv := []unix.Timespec{unix.NsecToTimespec(ts.UnixNano()), unix.NsecToTimespec(ts.UnixNano())}
		must(unix.UtimesNanoAt(unix.AT_FDCWD, p, tv, unix.AT_SYMLINK_NOFOLLOW))
	}
}

// treeRecord describes a tree entry by everything extraction must
// preserve.
type treeRecord struct {
	typ, perm, uid, gid uint32
	rdev                uint64
	mtime               unix.Timespec
	size                int64
	sparse              bool
	content, link       string
	xattrs              string
	linkGroup           string // first path sharing this inode, for hard links
}

func describeTree(t *testing.T, root string) map[string]treeRecord {
	t.Helper()
	m := map[string]treeRecord{}
	inodes := map[uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		r := treeRecord{typ: st.Mode & unix.S_IFMT, perm: st.Mode & 0o7777, uid: st.Uid, gid: st.Gid, mtime: st.Mtim}
		switch r.typ {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			r.size, r.content = st.Size, fmt.Sprintf("%x", sha256.Sum256(b))
			r.sparse = st.Blocks*512 < st.Size/2
			if first, ok := inodes[st.Ino]; ok {
				r.linkGroup = first
			} else {
				inodes[st.Ino] = rel
			}
		case unix.S_IFLNK:
			r.link, _ = os.Readlink(p)
		case unix.S_IFCHR, unix.S_IFBLK:
			r.rdev = st.Rdev
		}
		r.xattrs = listXattrs(t, p)
		m[rel] = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func listXattrs(t *testing.T, p string) string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return "error: " + err.Error()
	}
	var out []string
	for name := range strings.SplitSeq(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		v := make([]byte, 4096)
		vn, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			t.Fatalf("%s: %s: %v", p, name, err)
		}
		out = append(out, fmt.Sprintf("%s=%q", name, v[:vn]))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// TestMatchesGNUTar extracts archives GNU tar made of a busybox root with
// both GNU tar and this package and requires identical trees: types,
// modes, owners, times, contents, link targets, device numbers, xattrs,
// hard link grouping and holes.
func TestMatchesGNUTar(t *testing.T) {
	roottest.Require(t, "chown, mknod, security.capability")
	src := filepath.Join(t.TempDir(), "src")
	busyboxTree(t, src)
	plain := filepath.Join(t.TempDir(), "busybox.tar")
	out, err := exec.Command("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--sparse",
		"-cpf", plain, "-C", src, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	data, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Compression{Gzip, Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			archive := writeFile(t, filepath.Join(t.TempDir(), "busybox.tar."+c.String()), compressBytes(t, c, data))
			gnu, ours := filepath.Join(t.TempDir(), "gnu"), filepath.Join(t.TempDir(), "ours")
			for _, d := range []string{gnu, ours} {
				if err := os.Mkdir(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			out, err := exec.Command("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*",
				"-xpf", archive, "-C", gnu).CombinedOutput()
			if err != nil {
				t.Fatalf("tar -x: %v: %s", err, out)
			}
			if err := ExtractFile(archive, ours, Options{Warnf: t.Logf}); err != nil {
				t.Fatal(err)
			}
			want, got := describeTree(t, gnu), describeTree(t, ours)
			if len(want) < 250 {
				t.Fatalf("GNU tar extracted only %d entries", len(want))
			}
			for p, w := range want {
				g, ok := got[p]
				if !ok {
					t.Errorf("%s: missing", p)
					continue
				}
				if g != w {
					t.Errorf("%s differs:\n gnu tar %+v\n ours    %+v", p, w, g)
				}
			}
			for p := range got {
				if _, ok := want[p]; !ok {
					t.Errorf("%s: extra entry", p)
				}
			}
			if r := got["var/log/lastlog"]; !r.sparse {
				t.Errorf("var/log/lastlog lost its holes: %+v", r)
			}
			if r := got["bin/ping6-caps"]; !strings.Contains(r.xattrs, "security.capability") {
				t.Errorf("bin/ping6-caps lost its capability: %+v", r)
			}
		})
	}
}
