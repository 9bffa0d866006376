package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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
// The file is verified whole before anything is written; the new
// container gets the node's default paths (and layout, when the backup's
// is not available here), and its private area is unpacked with the
// template extractor's protections (no member outside the area, no
// symlink followed), with device nodes limited to allowedDevices.
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
	if id == 0 {
		id = info.Manifest.CTID
	}
	layer, err := conf.Parse(file+": config", []byte(info.Manifest.Config), conf.CT)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", file, err)
	}
	skipped := 0
	var layout string
	err = n.CreateFrom(id, layer, func(lay storage.Layout, c storage.CT, lim storage.Limits) error {
		layout = lay.Name()
		n.Log.Infof("Restoring container %d from %s (layout %s)", id, file, layout)
		return storage.CreateFilled(lay, c, lim, func(dir string) error {
			s, err := extract(n, file, info, dir, prog)
			skipped = s
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return &RestoreResult{CTID: id, File: file, SHA256: info.SHA256, Layout: layout, Skipped: skipped,
		Seconds: time.Since(start).Seconds()}, nil
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

// extract unpacks the tar of backup file into dir, hashing the file again
// as it goes: a file changed since Verify fails the restore.
func extract(n *ct.Node, file string, info *Info, dir string, prog Progress) (skipped int, err error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, fmt.Errorf("opening backup: %w: %w", err, vzerror.ErrSystem)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, info.dataOff)); err != nil {
		return 0, fmt.Errorf("reading backup %s: %w: %w", file, err, vzerror.ErrSystem)
	}
	var fn func(done, total int64)
	if prog != nil {
		fn = func(done, total int64) { prog("extract", done, total) }
	}
	data := io.TeeReader(&progressReader{r: io.NewSectionReader(f, info.dataOff, info.Size-info.dataOff),
		total: info.Size - info.dataOff, fn: fn}, h)
	dec, err := zstd.NewReader(data, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return 0, err
	}
	defer dec.Close()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- untar.Extract(pr, dir, untar.Options{Warnf: n.Log.Warnf})
	}()
	skipped, ferr := filterTar(dec, pw, n.Log.Warnf)
	pw.CloseWithError(ferr)
	xerr := <-done
	pr.Close()
	if ferr != nil {
		return skipped, fmt.Errorf("backup %s: %v: %w", file, ferr, vzerror.ErrBadTemplate)
	}
	if xerr != nil {
		return skipped, fmt.Errorf("backup %s: %w", file, xerr)
	}
	// Read to the end so the whole file is hashed.
	if _, err := io.Copy(io.Discard, dec); err != nil {
		return skipped, fmt.Errorf("backup %s: %v: %w", file, err, vzerror.ErrBadTemplate)
	}
	if _, err := io.Copy(io.Discard, data); err != nil {
		return skipped, fmt.Errorf("reading backup %s: %v: %w", file, err, vzerror.ErrSystem)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != info.SHA256 {
		return skipped, fmt.Errorf("backup %s is damaged: it changed while being restored: %w: %w", file, ErrDamaged, vzerror.ErrBadTemplate)
	}
	return skipped, nil
}

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
