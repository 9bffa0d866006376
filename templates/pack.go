package templates

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"govz/ct/vzerror"
)

// compressor is the program that compresses the tar stream.
type compressor struct {
	ext   string   // file suffix after ".tar."
	progs []string // candidates, best first
	args  []string // stdin to stdout
	path  string   // resolved by lookPath
}

// compressorFor maps the --compress value to a program. gzip stays the
// default: every extractor handles it, and pigz makes it parallel.
func compressorFor(name string) (compressor, error) {
	switch name {
	case "", "gz", "gzip":
		return compressor{ext: "gz", progs: []string{"pigz", "gzip"}, args: []string{"-c"}}, nil
	case "xz":
		return compressor{ext: "xz", progs: []string{"xz"}, args: []string{"-T0", "-c"}}, nil
	case "zst", "zstd":
		return compressor{ext: "zst", progs: []string{"zstd"}, args: []string{"-T0", "-q", "-c"}}, nil
	}
	return compressor{}, fmt.Errorf("unknown compression %q (gz, xz, zst): %w", name, vzerror.ErrInvalidValue)
}

func (c *compressor) lookPath() error {
	for _, p := range c.progs {
		path, err := exec.LookPath(p)
		if err == nil {
			c.path = path
			return nil
		}
	}
	return fmt.Errorf("%s not found (apt-get install %s): %w", c.progs[len(c.progs)-1], c.progs[0], vzerror.ErrSystem)
}

// treeSize estimates the tar stream of a tree: a 512-byte header per entry
// plus the data actually allocated (tar --sparse skips holes), rounded to
// tar's 512-byte blocks.
func treeSize(root string) int64 {
	var total int64
	filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		total += 512
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		n := info.Size()
		st, ok := info.Sys().(*syscall.Stat_t)
		if ok && st.Blocks*512 < n {
			n = st.Blocks * 512
		}
		total += (n + 511) / 512 * 512
		return nil
	})
	return total
}

// tarWritten reads how many bytes process pid has written so far
// (/proc/PID/io wchar). tar writes the archive to stdout and nothing else of
// size, so this is its progress without copying the stream through Go.
func tarWritten(pid int) (int64, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "wchar: ")
		if ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// pack writes rootfs as a compressed tarball to out (created, must not
// exist) and fsyncs it. GNU tar and the compressor are connected by a kernel
// pipe: if either dies the other sees EPIPE or EOF, and both are checked.
func pack(ctx context.Context, tarPath, rootfs, out string, comp compressor, p *progress) (int64, error) {
	p.phase("packing the tree (tar | %s)", filepath.Base(comp.path))
	total := treeSize(rootfs)

	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, fmt.Errorf("creating %s: %w: %w", out, err, vzerror.ErrSystem)
	}
	defer f.Close()
	rd, wr, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("creating pipe: %w: %w", err, vzerror.ErrSystem)
	}

	var tarErr, compErr bytes.Buffer
	// Names are "./...", owners numeric (the guest's ids, not the host's
	// names for them), xattrs (file capabilities: ping's cap_net_raw) kept,
	// holes kept, and nothing mounted under the tree followed.
	tar := exec.CommandContext(ctx, tarPath, "--create", "--file=-", "--directory="+rootfs,
		"--numeric-owner", "--xattrs", "--xattrs-include=*", "--sparse",
		"--one-file-system", "--sort=name", ".")
	tar.Stdout = wr
	tar.Stderr = &tarErr
	tar.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	zip := exec.CommandContext(ctx, comp.path, comp.args...)
	zip.Stdin = rd
	zip.Stdout = f
	zip.Stderr = &compErr
	zip.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	err = zip.Start()
	if err == nil {
		err = tar.Start()
		if err != nil {
			zip.Process.Kill()
			zip.Wait()
		}
	}
	rd.Close()
	wr.Close()
	if err != nil {
		return 0, fmt.Errorf("starting tar: %w: %w", err, vzerror.ErrSystem)
	}

	done := make(chan error, 1)
	go func() { done <- tar.Wait() }()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var tarWaitErr error
wait:
	for {
		select {
		case tarWaitErr = <-done:
			break wait
		case <-tick.C:
			n, ok := tarWritten(tar.Process.Pid)
			if ok && total > 0 {
				p.percent("packing", int(min(99, n*100/total)))
			}
		}
	}
	zipWaitErr := zip.Wait()
	if ctx.Err() != nil {
		return 0, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	if tarWaitErr != nil {
		return 0, fmt.Errorf("tar failed: %w: %s: %w", tarWaitErr, strings.TrimSpace(tarErr.String()), vzerror.ErrSystem)
	}
	if zipWaitErr != nil {
		return 0, fmt.Errorf("%s failed: %w: %s: %w", comp.path, zipWaitErr, strings.TrimSpace(compErr.String()), vzerror.ErrSystem)
	}
	p.percent("packing", 100)
	err = f.Sync()
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		return 0, fmt.Errorf("writing %s: %w: %w", out, err, vzerror.ErrSystem)
	}
	st, err := os.Stat(out)
	if err != nil {
		return 0, fmt.Errorf("writing %s: %w: %w", out, err, vzerror.ErrSystem)
	}
	p.phase("packed %s of files into %s", humanSize(total), humanSize(st.Size()))
	return st.Size(), nil
}
