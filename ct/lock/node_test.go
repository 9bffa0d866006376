package lock

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"govz/ct/vzerror"
	"govz/internal/exitcode"
)

func TestNodeLockWaitsAndTimesOut(t *testing.T) {
	dir := t.TempDir()
	a, err := AcquireNode(dir, "create 101", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = AcquireNode(dir, "create 102", 50*time.Millisecond)
	if !errors.Is(err, vzerror.ErrLocked) || exitcode.Of(err) != 9 ||
		!strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())+" (create 101)") {
		t.Fatalf("second holder: %v; want exit 9 naming the holder", err)
	}
	go func() { time.Sleep(30 * time.Millisecond); a.Release() }()
	b, err := AcquireNode(dir, "create 102", 5*time.Second)
	if err != nil {
		t.Fatalf("waiting for the holder: %v", err)
	}
	b.Release()
	if data, _ := os.ReadFile(filepath.Join(dir, NodeFile)); len(data) != 0 {
		t.Errorf("record left after release: %q", data)
	}
}

// TestNodeLockExcludes: a read-modify-write of one file by many holders
// loses no update.
func TestNodeLockExcludes(t *testing.T) {
	dir := t.TempDir()
	counter := filepath.Join(dir, "counter")
	os.WriteFile(counter, []byte("0"), 0o600)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 10 {
				l, err := AcquireNode(dir, "test", 10*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := os.ReadFile(counter)
				v, _ := strconv.Atoi(string(b))
				time.Sleep(100 * time.Microsecond)
				os.WriteFile(counter, []byte(strconv.Itoa(v+1)), 0o600)
				l.Release()
			}
		})
	}
	wg.Wait()
	if b, _ := os.ReadFile(counter); string(b) != "160" {
		t.Fatalf("counter %s, want 160", b)
	}
}
