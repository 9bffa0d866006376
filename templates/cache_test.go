package templates

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"govz/ct/vzerror"
)

func writeFile(t *testing.T, path string, size int, mtime time.Time) {
	t.Helper()
	err := os.WriteFile(path, make([]byte, size), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	err = os.Chtimes(path, mtime, mtime)
	if err != nil {
		t.Fatal(err)
	}
}

func TestListReturnsTemplatesOnly(t *testing.T) {
	dir := t.TempDir()
	when := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	files := map[string]int{
		"debian-12-x86_64.tar.gz":       30,
		"debian-12-x86_64.tar.xz":       20,
		"busybox-x86_64.tar.zst":        10,
		"centos-7-x86_64.tar.bz2":       40,
		"plain-1-x86_64.tar":            50,
		".govz-build-1-x/a.tar.gz":      1, // inside a work dir
		".debian-12-x86_64.tar.gz":      2, // hidden partial file
		"notes.txt":                     3,
		"debian-12-x86_64.tar.gz.part":  4,
		"debian-12-x86_64.tar.gz.tmp":   5,
		".tar.gz":                       6, // no name at all
		"ubuntu-24.04-x86_64.tgz.other": 7,
	}
	for name, size := range files {
		p := filepath.Join(dir, name)
		err := os.MkdirAll(filepath.Dir(p), 0o755)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, size, when)
	}
	// A directory with a template-like name is not a template.
	err := os.Mkdir(filepath.Join(dir, "dir-1-x86_64.tar.gz"), 0o755)
	if err != nil {
		t.Fatal(err)
	}
	// A symlink to a tarball is.
	err = os.Symlink(filepath.Join(dir, "plain-1-x86_64.tar"), filepath.Join(dir, "linked-1-x86_64.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}

	list, err := Cache{Dir: dir}.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tp := range list {
		got = append(got, tp.Name+"|"+tp.Compression)
		if tp.Path != filepath.Join(dir, filepath.Base(tp.Path)) || !strings.HasPrefix(filepath.Base(tp.Path), tp.Name+".tar") {
			t.Errorf("%s: path %s", tp.Name, tp.Path)
		}
		if !tp.ModTime.Equal(when) {
			t.Errorf("%s: mtime %v, want %v", tp.Name, tp.ModTime, when)
		}
		want, ok := files[filepath.Base(tp.Path)]
		if tp.Name == "linked-1-x86_64" {
			want, ok = 50, true
		}
		if !ok || tp.Size != int64(want) {
			t.Errorf("%s: size %d, want %d", tp.Path, tp.Size, want)
		}
	}
	want := []string{
		"busybox-x86_64|zst",
		"centos-7-x86_64|bz2",
		"debian-12-x86_64|gz", // gz before xz: Find's preference
		"debian-12-x86_64|xz",
		"linked-1-x86_64|gz",
		"plain-1-x86_64|",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("List:\n got %v\nwant %v", got, want)
	}
}

func TestListMissingDirIsEmpty(t *testing.T) {
	list, err := Cache{Dir: filepath.Join(t.TempDir(), "nope")}.List()
	if err != nil || len(list) != 0 {
		t.Fatalf("List of a missing dir = %v, %v; want empty, nil", list, err)
	}
}

func TestFindPrefersCompressionOrder(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	c := Cache{Dir: dir}
	// Add compressions from least to most preferred; each addition must
	// take over.
	for _, ext := range []string{".tar", ".tar.bz2", ".tar.xz", ".tar.gz", ".tar.zst"} {
		writeFile(t, filepath.Join(dir, "d-1-x86_64"+ext), 1, now)
		p, err := c.Find("d-1-x86_64")
		if err != nil {
			t.Fatal(err)
		}
		if p != filepath.Join(dir, "d-1-x86_64"+ext) {
			t.Errorf("after adding %s Find = %s", ext, p)
		}
	}
}

func TestFindMissing(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ".d-1-x86_64.tar.gz"), 1, time.Now()) // partial: not a template
	_, err := Cache{Dir: dir}.Find("d-1-x86_64")
	if !errors.Is(err, vzerror.ErrTemplateMissing) {
		t.Fatalf("Find missing: %v, want ErrTemplateMissing", err)
	}
	if !strings.Contains(err.Error(), "d-1-x86_64") {
		t.Errorf("error %q does not name the template", err)
	}
}

func TestFindRejectsBadNames(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "cache")
	err := os.Mkdir(dir, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	// Real files the bad names would reach if a path were built from them.
	writeFile(t, filepath.Join(root, "outside.tar.gz"), 1, time.Now())
	writeFile(t, filepath.Join(dir, ".hidden.tar.gz"), 1, time.Now())
	err = os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sub", "x.tar.gz"), 1, time.Now())

	for _, name := range []string{"", "../outside", ".hidden", "..", ".", "sub/x", "/etc/passwd", "a\x00b"} {
		p, err := Cache{Dir: dir}.Find(name)
		if !errors.Is(err, vzerror.ErrInvalidValue) {
			t.Errorf("Find(%q) = %q, %v; want ErrInvalidValue", name, p, err)
		}
	}
}
