package untar

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
)

// Options tune an extraction. The zero value is valid.
type Options struct {
	// Progress, if set, is called about once per MiB of unpacked data and
	// once at the end, with the compressed bytes consumed so far and their
	// total (-1 when unknown, as for a stream of unknown length).
	Progress func(done, total int64)
	// Warnf, if set, receives what does not stop the extraction but loses
	// something: an xattr the file system refuses (file capabilities
	// included), a member type tar does not extract, stripped leading
	// slashes. Without it such problems pass silently.
	Warnf func(format string, a ...any)

	gzip gzipMode // benchmarks compare gzip decoders; zero means automatic
}

// ExtractFile unpacks the template tarball at archivePath into destDir,
// which must exist (the caller creates it, normally empty, and renames it
// into place on success). The compression is found from the file's magic
// bytes, not its name.
//
// On failure the tree is left half-extracted for the caller to remove.
// The error wraps one of this package's sentinels (ErrCorrupt, ErrNotFound,
// ErrNoSpace, ErrSystem, ErrDestination) that says whose fault it was.
func ExtractFile(archivePath, destDir string, opt Options) error {
	f, err := os.Open(archivePath)
	if err != nil {
		sentinel := ErrSystem
		if errors.Is(err, fs.ErrNotExist) {
			sentinel = ErrNotFound
		}
		return fmt.Errorf("opening template: %w: %w", err, sentinel)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("opening template: %w: %w", err, ErrSystem)
	}
	var head [headLen]byte
	n, err := f.ReadAt(head[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading template %s: %w: %w", archivePath, err, ErrSystem)
	}
	in := &countingReader{r: f}
	pos := func() int64 {
		// A decompressor child shares f's open file description, so the
		// file offset is its progress; in-process decoders read via in.
		if off, err := f.Seek(0, io.SeekCurrent); err == nil && off > in.n.Load() {
			return off
		}
		return in.n.Load()
	}
	err = run(Detect(head[:n]), source{r: in, file: f}, pos, st.Size(), destDir, opt)
	if err != nil {
		return fmt.Errorf("template %s: %w", archivePath, err)
	}
	return nil
}

// Extract is ExtractFile for a stream; Progress counts the bytes read
// from r against a total of -1.
func Extract(r io.Reader, destDir string, opt Options) error {
	in := &countingReader{r: r}
	br := bufio.NewReaderSize(in, 64<<10)
	head, err := br.Peek(headLen)
	if err != nil && len(head) == 0 && err != io.EOF {
		return fmt.Errorf("reading template: %w: %w", err, ErrCorrupt)
	}
	return run(Detect(head), source{r: br}, in.n.Load, -1, destDir, opt)
}

// run decodes src and extracts it: the part ExtractFile and Extract share.
func run(c Compression, src source, pos func() int64, total int64, destDir string, opt Options) error {
	dec, err := openDecoder(c, src, opt.gzip)
	if err != nil {
		return err
	}
	out := &countingReader{r: dec.r}
	br := bufio.NewReaderSize(out, 256<<10)
	prog := &progress{fn: opt.Progress, pos: pos, total: total, out: out}
	warnf := opt.Warnf
	if warnf == nil {
		warnf = func(string, ...any) {}
	}
	err = extractTar(br, destDir, warnf, prog)
	drained := false
	if err == nil {
		// Read on past the end-of-archive blocks so that the decoder checks
		// its trailer (gzip's CRC-32 and length, xz's check) and a stream
		// cut short is caught even when its tar part looked complete.
		if _, err = io.Copy(io.Discard, br); err != nil {
			err = badStream(c, err)
		} else {
			drained = true
		}
	}
	ferr := dec.finish(drained)
	switch {
	case err == nil:
		err = ferr
	case ferr != nil && errors.Is(err, ErrCorrupt):
		// A short or garbled read: the decompressor's complaint is the
		// cause. After any other failure it only complains of the pipe
		// we closed.
		err = fmt.Errorf("%w; %w", ferr, err)
	}
	if err == nil && prog.fn != nil {
		if total >= 0 {
			prog.fn(total, total)
		} else {
			prog.fn(pos(), total)
		}
	}
	return err
}

// countingReader counts the bytes read through it. The count is atomic
// because exec's goroutine may be the reader while Progress polls.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// progress calls Options.Progress at most once per MiB of tar stream.
type progress struct {
	fn    func(done, total int64)
	pos   func() int64
	total int64
	out   *countingReader
	next  int64
}

func (p *progress) update() {
	if p.fn == nil {
		return
	}
	if n := p.out.n.Load(); n >= p.next {
		p.next = n + 1<<20
		p.fn(p.pos(), p.total)
	}
}
