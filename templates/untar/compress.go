package untar

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Compression is the compression of a template stream, as found from its
// first bytes.
type Compression int

// The compressions Detect recognises. None means a plain tar stream.
const (
	None Compression = iota
	Gzip
	Bzip2
	Xz
	Zstd
)

func (c Compression) String() string {
	switch c {
	case Gzip:
		return "gzip"
	case Bzip2:
		return "bzip2"
	case Xz:
		return "xz"
	case Zstd:
		return "zstd"
	default:
		return "none"
	}
}

// headLen is how many leading bytes Detect needs to see.
const headLen = 6

// Detect returns the compression whose magic number head starts with.
// Anything else is taken for a plain tar stream: the tar reader's header
// checksum rejects garbage, and old v7 archives carry no magic at all.
func Detect(head []byte) Compression {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}): // RFC 1952
		return Gzip
	case len(head) >= 4 && head[0] == 'B' && head[1] == 'Z' && head[2] == 'h' &&
		head[3] >= '1' && head[3] <= '9':
		return Bzip2
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return Xz
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}): // RFC 8878 frame
		return Zstd
	case len(head) >= 4 && head[0]&0xf0 == 0x50 && head[1] == 0x2a &&
		head[2] == 0x4d && head[3] == 0x18: // RFC 8878 skippable frame
		return Zstd
	}
	return None
}

// gzipMode says how gzip streams are decoded; Options leave it at
// gzipAuto, the benchmarks compare the others.
type gzipMode int

const (
	gzipAuto   gzipMode = iota // pigz if installed, else in-process
	gzipGo                     // compress/gzip in the extracting goroutine
	gzipPigz                   // pigz -dc
	gzipGoPipe                 // compress/gzip in its own goroutine
)

// source is the compressed input: r is what to read, file is set when r is
// an *os.File a child process may read directly (sharing its offset).
type source struct {
	r    io.Reader
	file *os.File
}

// decoder is the decompressed tar stream. finish releases it: drained says
// whether r was read to its end; only then is a decompressor's failure
// reported as a corrupt template rather than as a consequence of stopping
// early.
type decoder struct {
	r      io.Reader
	finish func(drained bool) error
}

func openDecoder(c Compression, src source, gz gzipMode) (*decoder, error) {
	switch c {
	case Gzip:
		if gz == gzipAuto {
			gz = gzipGo
			if _, err := exec.LookPath("pigz"); err == nil {
				gz = gzipPigz
			}
		}
		switch gz {
		case gzipPigz:
			return startProgram(c, "pigz", src, "-d", "-c")
		case gzipGoPipe:
			zr, err := gzip.NewReader(bufio.NewReaderSize(src.r, 64<<10))
			if err != nil {
				return nil, badStream(c, err)
			}
			return pipeline(zr), nil
		default:
			zr, err := gzip.NewReader(bufio.NewReaderSize(src.r, 64<<10))
			if err != nil {
				return nil, badStream(c, err)
			}
			return &decoder{r: zr, finish: func(bool) error { return nil }}, nil
		}
	case Bzip2:
		// compress/bzip2 is slow (tens of MB/s); decoding in a goroutine of
		// its own at least overlaps it with the file system work.
		return pipeline(bzip2.NewReader(bufio.NewReaderSize(src.r, 64<<10))), nil
	case Xz:
		return startProgram(c, "xz", src, "-d", "-c")
	case Zstd:
		return startProgram(c, "zstd", src, "-d", "-c", "-q")
	default:
		return &decoder{r: src.r, finish: func(bool) error { return nil }}, nil
	}
}

func badStream(c Compression, err error) error {
	return fmt.Errorf("decoding %s stream: %w: %w", c, err, ErrCorrupt)
}

// debianPackage names the package that installs each decompressor, for the
// error that says it is missing.
func debianPackage(prog string) string {
	if prog == "xz" {
		return "xz-utils"
	}
	return prog
}

// startProgram runs prog (xz, zstd, pigz) as a filter from src to a pipe.
func startProgram(c Compression, prog string, src source, args ...string) (*decoder, error) {
	path, err := exec.LookPath(prog)
	if err != nil {
		return nil, fmt.Errorf("%s-compressed template needs the %s program (Debian package %s): %w: %w",
			c, prog, debianPackage(prog), err, ErrSystem)
	}
	cmd := exec.Command(path, args...)
	if src.file != nil {
		cmd.Stdin = src.file // the child reads the file itself, no copy through us
	} else {
		cmd.Stdin = src.r
	}
	stderr := &stderrHead{}
	cmd.Stderr = stderr
	// Should the child exit while exec's goroutine still copies a slow
	// io.Reader into it, do not wait for that reader forever.
	cmd.WaitDelay = time.Second
	out, w, err := blockingPipe()
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w: %w", prog, err, ErrSystem)
	}
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		out.Close()
		return nil, fmt.Errorf("starting %s: %w: %w", prog, err, ErrSystem)
	}
	finish := func(drained bool) error {
		if !drained {
			// The child dies of SIGPIPE on its next write; one blocked
			// reading its input is killed (it is our child, by PID).
			out.Close()
			t := time.AfterFunc(time.Second, func() { _ = cmd.Process.Kill() })
			defer t.Stop()
		}
		err := cmd.Wait()
		if drained {
			out.Close()
		}
		if err == nil {
			return nil
		}
		var ee *exec.ExitError
		if !drained && (!errors.As(err, &ee) || !ee.Exited()) {
			return nil // stopped by us: the caller's own error says why
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%s -dc: %s: %w", prog, msg, ErrCorrupt)
	}
	return &decoder{r: out, finish: finish}, nil
}

// stderrHead keeps the first few KiB a decompressor writes to stderr: its
// complaint is the first line, and a hostile stream must not make us hoard
// an unbounded amount of output.
type stderrHead struct {
	mu  sync.Mutex
	buf []byte
}

func (b *stderrHead) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 4096 - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *stderrHead) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// pipeline decodes r in a goroutine of its own, handing over filled
// buffers, so that decompression runs on one CPU while the extractor's
// system calls run on another (what `tar -z` gets from its gzip child).
func pipeline(r io.Reader) *decoder {
	const nbuf, size = 4, 256 << 10
	p := &pipeReader{
		full: make(chan chunk, nbuf),
		free: make(chan []byte, nbuf),
		done: make(chan struct{}),
	}
	for range nbuf {
		p.free <- make([]byte, size)
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.produce(r) })
	finish := func(bool) error {
		p.stop.Do(func() { close(p.done) })
		wg.Wait()
		return nil
	}
	return &decoder{r: p, finish: finish}
}

type chunk struct {
	b   []byte
	err error
}

type pipeReader struct {
	full chan chunk
	free chan []byte
	done chan struct{}
	stop sync.Once
	cur  chunk
	off  int
}

func (p *pipeReader) produce(r io.Reader) {
	for {
		var b []byte
		select {
		case b = <-p.free:
		case <-p.done:
			return
		}
		// Fill b, passing on the decoder's own error as it is: an
		// io.ErrUnexpectedEOF from a truncated stream must not turn into
		// a clean end.
		n := 0
		var err error
		for n < len(b) && err == nil {
			var m int
			m, err = r.Read(b[n:])
			n += m
		}
		select {
		case p.full <- chunk{b[:n], err}:
		case <-p.done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (p *pipeReader) Read(b []byte) (int, error) {
	for p.off == len(p.cur.b) {
		if p.cur.err != nil {
			return 0, p.cur.err
		}
		if p.cur.b != nil {
			p.free <- p.cur.b[:cap(p.cur.b)]
		}
		p.cur, p.off = <-p.full, 0
	}
	n := copy(b, p.cur.b[p.off:])
	p.off += n
	return n, nil
}
