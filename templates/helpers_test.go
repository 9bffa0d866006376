package templates

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func runCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// entry is one member of a tarball, with the content of small files.
type entry struct {
	hdr  *tar.Header
	data []byte
}

// readTarball reads a template with archive/tar, decompressing .gz in Go and
// .xz/.zst with the xz and zstd tools.
func readTarball(t *testing.T, path string) map[string]entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader
	switch {
	case strings.HasSuffix(path, ".gz"):
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case strings.HasSuffix(path, ".xz"), strings.HasSuffix(path, ".zst"):
		prog := "xz"
		if strings.HasSuffix(path, ".zst") {
			prog = "zstd"
		}
		out, err := exec.Command(prog, "-dc", path).Output()
		if err != nil {
			t.Fatalf("%s -dc %s: %v", prog, path, err)
		}
		r = bytes.NewReader(out)
	default:
		r = f
	}
	entries := map[string]entry{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		e := entry{hdr: h}
		if h.Typeflag == tar.TypeReg && h.Size < 4<<20 {
			e.data, err = io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
		}
		entries[h.Name] = e
	}
	return entries
}

// dirNames lists a directory, failing the test on error.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// procsMatching returns the PIDs whose environment or command line contains
// marker.
func procsMatching(t *testing.T, marker string) []string {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var pids []string
	for _, d := range dirs {
		env, _ := os.ReadFile(filepath.Join(d, "environ"))
		cmdline, _ := os.ReadFile(filepath.Join(d, "cmdline"))
		if bytes.Contains(env, []byte(marker)) || bytes.Contains(cmdline, []byte(marker)) {
			pids = append(pids, filepath.Base(d))
		}
	}
	return pids
}

// waitNoProcs fails the test if processes matching marker are still alive
// after a short grace period.
func waitNoProcs(t *testing.T, marker string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		pids := procsMatching(t, marker)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left behind: %v", pids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cancelOn is an Out writer that records everything and cancels a context
// after a delay once a line containing trigger has been written.
type cancelOn struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	trigger string
	delay   time.Duration
	cancel  context.CancelFunc
	fired   bool
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if !c.fired && c.trigger != "" && strings.Contains(c.buf.String(), c.trigger) {
		c.fired = true
		time.AfterFunc(c.delay, c.cancel)
	}
	return len(p), nil
}

func (c *cancelOn) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}
