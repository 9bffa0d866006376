//go:build linux

package untar

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// member is one archive entry to write with archive/tar.
type member struct {
	hdr  tar.Header
	data string
}

var epoch = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

func reg(name, data string, mode int64) member {
	return member{tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch}, data}
}

func dir(name string, mode int64) member {
	return member{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: epoch}}
}

func symlink(name, target string) member {
	return member{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: epoch}}
}

func hardlink(name, target string) member {
	return member{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, ModTime: epoch}}
}

func fifo(name string) member {
	return member{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: name, Mode: 0o644, ModTime: epoch}}
}

// tarBytes writes members as a PAX archive (archive/tar picks USTAR where
// it can and PAX where a record needs it).
func tarBytes(t testing.TB, ms ...member) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, m := range ms {
		h := m.hdr
		if h.Size == 0 && m.data != "" {
			h.Size = int64(len(m.data))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("writing header %q: %v", h.Name, err)
		}
		if _, err := tw.Write([]byte(m.data)); err != nil {
			t.Fatalf("writing %q: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// compressBytes compresses data the way template tarballs are: gzip with
// compress/gzip, the others with their programs (Go has no writer for
// them).
func compressBytes(t testing.TB, c Compression, data []byte) []byte {
	t.Helper()
	var prog []string
	switch c {
	case None:
		return data
	case Gzip:
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	case Bzip2:
		prog = []string{"bzip2", "-c"}
	case Xz:
		prog = []string{"xz", "-c", "-T1"}
	case Zstd:
		prog = []string{"zstd", "-c", "-q"}
	}
	cmd := exec.Command(prog[0], prog[1:]...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v", prog, err)
	}
	return out
}

func writeFile(t testing.TB, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// layout is the scene of a hostile-archive test, all inside t.TempDir():
//
//	tmp/dest/         the extraction root
//	tmp/sentinel/     a directory beside it an escape would write into
//	tmp/host/passwd   a "host file" the archive aims at
type layout struct {
	tmp, dest, sentinel, host, passwd string
	before                            map[string]snap
}

// snap is what must not change about a path outside dest.
type snap struct {
	mode        fs.FileMode
	uid, gid    uint32
	size, nlink uint64
	mtime       unix.Timespec
	content     string
}

func newLayout(t *testing.T) *layout {
	t.Helper()
	tmp := t.TempDir()
	l := &layout{
		tmp:      tmp,
		dest:     filepath.Join(tmp, "dest"),
		sentinel: filepath.Join(tmp, "sentinel"),
		host:     filepath.Join(tmp, "host"),
	}
	l.passwd = filepath.Join(l.host, "passwd")
	for _, d := range []string{l.dest, l.sentinel, l.host} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, l.passwd, []byte("root:x:0:0::/root:/bin/sh\n"))
	old := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range []string{l.passwd, l.host, l.sentinel} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	l.before = l.outside(t)
	return l
}

// outside records every path under tmp except dest's contents.
func (l *layout) outside(t *testing.T) map[string]snap {
	t.Helper()
	m := map[string]snap{}
	err := filepath.WalkDir(l.tmp, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == l.dest {
			return filepath.SkipDir
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		s := snap{mode: d.Type(), uid: st.Uid, gid: st.Gid, size: uint64(st.Size), nlink: st.Nlink, mtime: st.Mtim}
		s.mode |= fs.FileMode(st.Mode & 0o7777)
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s.content = string(b)
		}
		m[p] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// assertUntouched fails unless everything outside dest is as it was: no
// new path, no changed owner, mode, link count, time or content.
func (l *layout) assertUntouched(t *testing.T) {
	t.Helper()
	after := l.outside(t)
	for p, s := range after {
		b, ok := l.before[p]
		if !ok {
			t.Errorf("escape: %s appeared outside the destination", p)
			continue
		}
		if b != s {
			t.Errorf("escape: %s changed: before %+v, after %+v", p, b, s)
		}
	}
	for p := range l.before {
		if _, ok := after[p]; !ok {
			t.Errorf("escape: %s was removed", p)
		}
	}
}

func lstat(t *testing.T, p string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat: %v", err)
	}
	return &st
}

func readString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func requireBadTemplate(t *testing.T, err error, mention string) {
	t.Helper()
	if err == nil {
		t.Fatal("extraction succeeded; want an error wrapping ErrBadTemplate")
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("error %q does not wrap ErrBadTemplate", err)
	}
	if mention != "" && !strings.Contains(err.Error(), mention) {
		t.Fatalf("error %q does not mention %q", err, mention)
	}
}

// extractBytes writes an archive to a file beside dest and extracts it.
func extractBytes(t *testing.T, dest string, archive []byte, opt Options) error {
	t.Helper()
	f := writeFile(t, filepath.Join(t.TempDir(), "template.tar"), archive)
	return ExtractFile(f, dest, opt)
}
