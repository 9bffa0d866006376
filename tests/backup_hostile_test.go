package tests

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// craftBackup writes a backup file of the govz format with a valid
// checksum around the tar members given: what a hostile container's
// backup (or a forged file) can hold.
func craftBackup(t *testing.T, path string, ctid int, config string, members func(tw *tar.Writer)) {
	t.Helper()
	var body bytes.Buffer
	mb, _ := json.Marshal(map[string]any{"format": 1, "ctid": ctid, "layout": "dir", "config": config})
	frame := func(magic uint32, p []byte) {
		var h [8]byte
		binary.LittleEndian.PutUint32(h[:], magic)
		binary.LittleEndian.PutUint32(h[4:], uint32(len(p)))
		body.Write(h[:])
		body.Write(p)
	}
	frame(0x184D2A5E, mb)
	enc, _ := zstd.NewWriter(&body)
	tw := tar.NewWriter(enc)
	members(tw)
	tw.Close()
	enc.Close()
	sum := sha256.Sum256(body.Bytes())
	tr := append([]byte("GOVZSUM1"), sum[:]...)
	tr = binary.LittleEndian.AppendUint64(tr, uint64(body.Len()))
	frame(0x184D2A5F, tr)
	if err := os.WriteFile(path, body.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreBackupHostile: a backup is data from a container, so
// restore-backup treats it as hostile. A checksummed file whose tree
// plants an absolute symlink and writes through it, a symlink to a host
// directory, device nodes for a disk and /dev/mem and a setuid-root file
// restores with everything inside the new private area, the disk and
// memory nodes skipped (with a warning each) while /dev/null is kept, and
// the setuid file only under a root-only directory. A member named with
// ".." is refused (47) and leaves nothing.
func TestRestoreBackupHostile(t *testing.T) {
	n := newNode(t)
	outside := t.TempDir()
	hdr := func(tw *tar.Writer, h *tar.Header, data string) {
		h.Size = int64(len(data))
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(data))
		} else {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(data))
	}
	file := filepath.Join(t.TempDir(), "hostile.govz")
	craftBackup(t, file, 150, "hostname = \"evil\"\n", func(tw *tar.Writer) {
		hdr(tw, &tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}, "")
		hdr(tw, &tar.Header{Name: "./bin/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
		hdr(tw, &tar.Header{Name: "./bin/sh", Typeflag: tar.TypeReg, Mode: 0o755}, "#!/bin/false\n")
		hdr(tw, &tar.Header{Name: "./escape", Typeflag: tar.TypeSymlink, Linkname: outside, Mode: 0o777}, "")
		hdr(tw, &tar.Header{Name: "./dev/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
		hdr(tw, &tar.Header{Name: "./dev/sda", Typeflag: tar.TypeBlock, Devmajor: 8, Devminor: 0, Mode: 0o666}, "")
		hdr(tw, &tar.Header{Name: "./dev/mem", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 1, Mode: 0o666}, "")
		hdr(tw, &tar.Header{Name: "./dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666}, "")
		hdr(tw, &tar.Header{Name: "./bin/rootme", Typeflag: tar.TypeReg, Mode: 0o4755}, "#!/bin/false\n")
	})
	r := n.ok("vzctl", "restore-backup", file)
	for _, w := range []string{"dev/sda (b 8:0)", "dev/mem (c 1:1)"} {
		if !strings.Contains(r.err, w) {
			t.Errorf("no warning naming the skipped %s:\n%s", w, r)
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) > 0 {
		t.Fatalf("restore wrote outside the private area: %v", ents)
	}
	private := n.path("private/150")
	for _, p := range []string{"dev/sda", "dev/mem"} {
		if _, err := os.Lstat(filepath.Join(private, p)); err == nil {
			t.Errorf("device node %s was restored", p)
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(private, "dev/null"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		t.Errorf("dev/null not restored as a character device: %v", err)
	}
	// A setuid file is kept for the guest, under a directory host users
	// cannot enter.
	if fi, err := os.Stat(filepath.Dir(private)); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("the private areas' directory is open to host users: %v %v", fi.Mode(), err)
	}

	// Writes through planted links (absolute, or climbing with ..) and a
	// member named with "..": refused, nothing written anywhere.
	for i, ms := range [][]*tar.Header{
		{{Name: "./escape", Typeflag: tar.TypeSymlink, Linkname: outside}, {Name: "./escape/pwned", Typeflag: tar.TypeReg}},
		{{Name: "./up", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../../.." + outside}, {Name: "./up/pwned", Typeflag: tar.TypeReg}},
		{{Name: "../../outside-file", Typeflag: tar.TypeReg}},
	} {
		f := filepath.Join(t.TempDir(), "bad.govz")
		craftBackup(t, f, 151, "", func(tw *tar.Writer) {
			hdr(tw, &tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}, "")
			for _, m := range ms {
				m.Mode = 0o644
				hdr(tw, m, "x")
			}
		})
		r := n.fails(47, "vzctl", "restore-backup", f)
		t.Logf("hostile archive %d: %s", i, strings.TrimSpace(r.err))
		nothingOn(t, n, "151")
		if ents, _ := os.ReadDir(outside); len(ents) > 0 {
			t.Fatalf("restore wrote outside the private area: %v", ents)
		}
		if _, err := os.Lstat(n.path("outside-file")); err == nil {
			t.Fatalf("a .. member was written")
		}
	}
}
