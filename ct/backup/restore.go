package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	"github.com/klauspost/compress/zstd"

	"govz/conf"
	"govz/ct"
	"govz/ct/storage"
	"govz/ct/vzerror"
	"govz/templates/untar"
)

// RestoreResult is what a restore made.
type RestoreResult struct {
	CTID    int     `json:"ctid"`
	File    string  `json:"file"`
	SHA256  string  `json:"sha256"`
	Layout  string  `json:"layout"`
	Skipped int     `json:"skipped_nodes"`
	Seconds float64 `json:"seconds"`
}

// Restore makes container id (0: the backup's own CTID) from backup file.
// The file is verified whole before anything is written (Verify), then
// read as Receive reads a stream.
func Restore(n *ct.Node, file string, id int, prog Progress) (*RestoreResult, error) {
	start := time.Now()
	var fn func(done, total int64)
	if prog != nil {
		fn = func(done, total int64) { prog("verify", done, total) }
	}
	info, err := Verify(file, fn)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("opening backup: %w: %w", err, vzerror.ErrSystem)
	}
	defer f.Close()
	res, err := receive(n, &progressReader{r: f, total: info.Size + int64(trailerLen), fn: stage(prog, "extract")}, file, id)
	if err != nil {
		return nil, err
	}
	if res.SHA256 != info.SHA256 {
		// receive checked the trailer it read: the file changed between.
		return nil, fmt.Errorf("backup %s changed while being restored: %w: %w", file, ErrDamaged, vzerror.ErrBadTemplate)
	}
	res.File = file
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// Receive makes container id (0: the backup's own CTID) from a backup
// streamed on r (vzmigrate's copy). The checksum comes last: the private
// area is built at its temporary path and only committed once the trailer
// matches what was read, so a cut or damaged stream leaves nothing.
func Receive(n *ct.Node, r io.Reader, id int, prog Progress) (*RestoreResult, error) {
	start := time.Now()
	res, err := receive(n, &progressReader{r: r, total: -1, fn: stage(prog, "receive")}, "stream", id)
	if err != nil {
		return nil, err
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

func stage(prog Progress, name string) func(done, total int64) {
	if prog == nil {
		return nil
	}
	return func(done, total int64) { prog(name, done, total) }
}

func receive(n *ct.Node, r io.Reader, what string, id int) (*RestoreResult, error) {
	h := sha256.New()
	br := bufio.NewReaderSize(r, 64<<10)
	bad := func(format string, a ...any) error {
		return fmt.Errorf("backup %s is damaged: %s: %w: %w", what, fmt.Sprintf(format, a...), ErrDamaged, vzerror.ErrBadTemplate)
	}
	var head [8]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		return nil, bad("reading the manifest: %v", err)
	}
	mlen := int64(binary.LittleEndian.Uint32(head[4:]))
	if binary.LittleEndian.Uint32(head[:]) != manifestMagic || mlen > maxManifest {
		return nil, bad("no manifest")
	}
	mb := make([]byte, mlen)
	if _, err := io.ReadFull(br, mb); err != nil {
		return nil, bad("reading the manifest: %v", err)
	}
	var m Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, bad("manifest: %v", err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("backup %s has format %d; this vzctl reads format %d: %w", what, m.Format, Format, vzerror.ErrBadTemplate)
	}
	if id == 0 {
		id = m.CTID
	}
	layer, err := conf.Parse(what+": config", []byte(m.Config), conf.CT)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", what, err)
	}
	h.Write(head[:])
	h.Write(mb)
	res := &RestoreResult{CTID: id, File: what}
	err = n.CreateFrom(id, layer, func(lay storage.Layout, c storage.CT, lim storage.Limits) error {
		res.Layout = lay.Name()
		n.Log.Infof("Restoring container %d from %s (layout %s)", id, what, res.Layout)
		return storage.CreateFilled(lay, c, lim, func(dir string) error {
			sum, skipped, err := extract(n, br, h, 8+mlen, dir, bad)
			res.Skipped, res.SHA256 = skipped, sum
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// allowedDevices are the device nodes a restored tree may hold: those every
// container's /dev has (mem's null, zero, full, random, urandom; tty,
// console, ptmx). Any other (a disk, /dev/mem, /dev/kmsg) could give
// whoever reaches the private area access to a host device; it is skipped
// with a warning.
var allowedDevices = map[[3]int64]bool{
	{tar.TypeChar, 1, 3}: true, {tar.TypeChar, 1, 5}: true, {tar.TypeChar, 1, 7}: true,
	{tar.TypeChar, 1, 8}: true, {tar.TypeChar, 1, 9}: true,
	{tar.TypeChar, 5, 0}: true, {tar.TypeChar, 5, 1}: true, {tar.TypeChar, 5, 2}: true,
}

// extract unpacks the rest of a backup stream (after its manifest, off
// bytes into it) into dir, hashing everything as it goes, and checks the
// trailer at its end; it returns the checksum.
func extract(n *ct.Node, r io.Reader, h hash.Hash, off int64, dir string, bad func(string, ...any) error) (sum string, skipped int, err error) {
	tail := &tailReader{r: r, keep: trailerLen, h: h}
	dec, err := zstd.NewReader(tail, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return "", 0, err
	}
	defer dec.Close()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := untar.Extract(pr, dir, untar.Options{Warnf: n.Log.Warnf})
		// A failed extraction (a full disk) must not leave filterTar
		// blocked on a pipe nobody reads.
		pr.CloseWithError(errors.Join(err, io.ErrClosedPipe))
		done <- err
	}()
	skipped, ferr := filterTar(dec, pw, n.Log.Warnf)
	pw.CloseWithError(ferr)
	xerr := <-done
	pr.Close()
	if xerr != nil {
		return "", skipped, fmt.Errorf("backup: %w", xerr)
	}
	if ferr != nil {
		return "", skipped, bad("%v", ferr)
	}
	if _, err := io.Copy(io.Discard, dec); err != nil {
		return "", skipped, bad("%v", err)
	}
	if _, err := io.Copy(io.Discard, tail); err != nil {
		return "", skipped, bad("reading: %v", err)
	}
	tr := tail.held()
	if len(tr) != trailerLen || binary.LittleEndian.Uint32(tr) != trailerMagic ||
		string(tr[8:8+len(trailerTag)]) != trailerTag {
		return "", skipped, bad("no checksum trailer (cut short?)")
	}
	want := tr[8+len(trailerTag) : 8+len(trailerTag)+sha256.Size]
	if n := int64(binary.LittleEndian.Uint64(tr[trailerLen-8:])); n != off+tail.n {
		return "", skipped, bad("length %d, the trailer says %d", off+tail.n, n)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return "", skipped, bad("checksum mismatch (sha256 %s, recorded %s)", hex.EncodeToString(got)[:16], hex.EncodeToString(want)[:16])
	}
	return hex.EncodeToString(want), skipped, nil
}

// tailReader passes on all but the last keep bytes of r (the trailer of
// a stream whose length is not known in advance), hashing them into h. n
// counts the bytes passed on.
type tailReader struct {
	r    io.Reader
	keep int
	h    hash.Hash
	buf  []byte
	n    int64
	eof  bool
}

func (t *tailReader) Read(p []byte) (int, error) {
	for !t.eof && len(t.buf) <= t.keep {
		chunk := make([]byte, 64<<10)
		k, err := t.r.Read(chunk)
		t.buf = append(t.buf, chunk[:k]...)
		if err == io.EOF {
			t.eof = true
		} else if err != nil {
			return 0, err
		}
	}
	avail := len(t.buf) - t.keep
	if avail <= 0 {
		return 0, io.EOF
	}
	k := copy(p, t.buf[:avail])
	t.buf = t.buf[k:]
	t.n += int64(k)
	t.h.Write(p[:k])
	return k, nil
}

func (t *tailReader) held() []byte { return t.buf }

// filterTar copies the tar stream r to w, dropping the device nodes that
// allowedDevices does not list.
func filterTar(r io.Reader, w io.Writer, warnf func(string, ...any)) (skipped int, err error) {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return skipped, err
		}
		if hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock {
			if !allowedDevices[[3]int64{int64(hdr.Typeflag), hdr.Devmajor, hdr.Devminor}] {
				kind := "c"
				if hdr.Typeflag == tar.TypeBlock {
					kind = "b"
				}
				warnf("skipping device node %s (%s %d:%d): not one a container is given", hdr.Name, kind, hdr.Devmajor, hdr.Devminor)
				skipped++
				continue
			}
		}
		// Let the writer pick the format for the fields it has.
		hdr.Format = tar.FormatUnknown
		if err := tw.WriteHeader(hdr); err != nil {
			return skipped, err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := io.Copy(tw, tr); err != nil {
				return skipped, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return skipped, err
	}
	return skipped, nil
}
