// Package backup is vzctl backup and restore-backup: one file holding a
// container's config and private area, taken from a frozen copy so that
// the container keeps running, and restored onto any node and layout.
//
// The file is a zstd stream, so `zstd -dc FILE | tar -tv` lists the tree:
//
//	skippable frame 0x184D2A5E   manifest (JSON: format, CTID, config, ...)
//	zstd frames                  tar of the private area (GNU tar,
//	                             --numeric-owner --xattrs)
//	skippable frame 0x184D2A5F   trailer: "GOVZSUM1", SHA-256 and length of
//	                             every byte before the trailer
//
// Skippable frames (RFC 8878 §3.1.2) are ignored by every zstd decoder.
// The trailer is checked before anything is written on restore, and the
// bytes are hashed again as they are extracted, so a file changed in
// between is caught too and the half-made area removed.
package backup

import (
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

	"govz/ct/vzerror"
)

const (
	manifestMagic = 0x184D2A5E
	trailerMagic  = 0x184D2A5F
	trailerTag    = "GOVZSUM1"
	trailerLen    = 8 + len(trailerTag) + sha256.Size + 8
	// Format is the manifest's format number.
	Format = 1
	// maxManifest bounds what a restore reads as the manifest.
	maxManifest = 1 << 20
)

// ErrDamaged is wrapped by every refusal of a damaged or foreign file.
var ErrDamaged = errors.New("damaged backup")

// Manifest describes a backup.
type Manifest struct {
	Format  int       `json:"format"`
	CTID    int       `json:"ctid"`
	Created time.Time `json:"created"`
	Host    string    `json:"host"`
	Layout  string    `json:"layout"`  // the source's
	Running bool      `json:"running"` // when taken
	Copy    string    `json:"copy"`    // how the frozen copy was made
	Config  string    `json:"config"`  // the container's config file
	// TreeBytes is the private area's apparent size, for progress.
	TreeBytes int64 `json:"tree_bytes"`
}

func skippable(magic uint32, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.LittleEndian.PutUint32(b, magic)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(payload)))
	return append(b, payload...)
}

// hashingWriter counts and hashes what goes to w.
type hashingWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (h *hashingWriter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

func (h *hashingWriter) trailer() []byte {
	p := append([]byte(trailerTag), h.h.Sum(nil)...)
	p = binary.LittleEndian.AppendUint64(p, uint64(h.n))
	return skippable(trailerMagic, p)
}

// Info is what Verify learns of a backup file.
type Info struct {
	Manifest Manifest
	SHA256   string
	Size     int64 // without the trailer
	dataOff  int64 // where the tar's zstd frames begin
}

// Verify checks file's trailer against its content and reads its
// manifest. Every refusal wraps ErrDamaged and vzerror.ErrBadTemplate,
// with one line saying what is wrong.
func Verify(file string, progress func(done, total int64)) (*Info, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("opening backup: %w: %w", err, vzerror.ErrNoPrivate)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", file, err)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("backup %s is damaged: %s: %w: %w", file, fmt.Sprintf(format, a...), ErrDamaged, vzerror.ErrBadTemplate)
	}
	size := st.Size() - int64(trailerLen)
	if size < 8 {
		return nil, bad("too short (%d bytes)", st.Size())
	}
	tr := make([]byte, trailerLen)
	if _, err := f.ReadAt(tr, size); err != nil {
		return nil, bad("reading the trailer: %v", err)
	}
	if binary.LittleEndian.Uint32(tr) != trailerMagic || int(binary.LittleEndian.Uint32(tr[4:])) != trailerLen-8 ||
		string(tr[8:8+len(trailerTag)]) != trailerTag {
		return nil, bad("no checksum trailer (truncated, or not a govz backup)")
	}
	want := tr[8+len(trailerTag) : 8+len(trailerTag)+sha256.Size]
	if n := int64(binary.LittleEndian.Uint64(tr[trailerLen-8:])); n != size {
		return nil, bad("length %d, the trailer says %d", size, n)
	}
	h := sha256.New()
	if _, err := io.Copy(h, &progressReader{r: io.NewSectionReader(f, 0, size), total: size, fn: progress}); err != nil {
		return nil, bad("reading: %v", err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return nil, bad("checksum mismatch (sha256 %s, recorded %s)", hex.EncodeToString(got)[:16], hex.EncodeToString(want)[:16])
	}
	var head [8]byte
	if _, err := f.ReadAt(head[:], 0); err != nil {
		return nil, bad("reading the manifest: %v", err)
	}
	mlen := int64(binary.LittleEndian.Uint32(head[4:]))
	if binary.LittleEndian.Uint32(head[:]) != manifestMagic || mlen > maxManifest || 8+mlen > size {
		return nil, bad("no manifest")
	}
	mb := make([]byte, mlen)
	if _, err := f.ReadAt(mb, 8); err != nil {
		return nil, bad("reading the manifest: %v", err)
	}
	info := &Info{SHA256: hex.EncodeToString(want), Size: size, dataOff: 8 + mlen}
	if err := json.Unmarshal(mb, &info.Manifest); err != nil {
		return nil, bad("manifest: %v", err)
	}
	if info.Manifest.Format != Format {
		return nil, fmt.Errorf("backup %s has format %d; this vzctl reads format %d: %w", file, info.Manifest.Format, Format, vzerror.ErrBadTemplate)
	}
	return info, nil
}

// progressReader reports the bytes read through it, about every MiB.
type progressReader struct {
	r          io.Reader
	done, last int64
	total      int64
	fn         func(done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.fn != nil && (p.done-p.last >= 1<<20 || err == io.EOF) {
		p.last = p.done
		p.fn(p.done, p.total)
	}
	return n, err
}
