package exeseal

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCopySealed(t *testing.T) {
	want, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := Copy(src, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !Sealed(f) {
		t.Fatal("copy is not sealed")
	}
	got := make([]byte, len(want)+1)
	n, _ := f.ReadAt(got, 0)
	if !bytes.Equal(got[:n], want) {
		t.Fatalf("copy has %d bytes, differing from the %d of /bin/true", n, len(want))
	}
	if fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
		t.Errorf("copy is not close-on-exec (flags %#x, %v)", fl, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&0o7777 != mode {
		t.Errorf("copy mode %o (%v), want %o", st.Mode&0o7777, err, mode)
	}

	// Nothing changes it: not this descriptor (memfd_create gives O_RDWR),
	// not a new one opened for writing through /proc.
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, unix.EPERM) {
		t.Errorf("write: %v, want EPERM", err)
	}
	if err := f.Truncate(1); !errors.Is(err, unix.EPERM) {
		t.Errorf("shrink: %v, want EPERM", err)
	}
	if err := f.Truncate(int64(len(want)) + 4096); !errors.Is(err, unix.EPERM) {
		t.Errorf("grow: %v, want EPERM", err)
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SEAL); !errors.Is(err, unix.EPERM) {
		t.Errorf("more seals: %v, want EPERM", err)
	}
	if w, err := os.OpenFile(Path(int(f.Fd())), os.O_WRONLY, 0); err == nil {
		_, werr := w.Write([]byte("x"))
		w.Close()
		if !errors.Is(werr, unix.EPERM) {
			t.Errorf("write through a reopened descriptor: %v, want EPERM", werr)
		}
	}
	if _, err := unix.MmapPtr(int(f.Fd()), 0, nil, 4096, unix.PROT_WRITE, unix.MAP_SHARED); !errors.Is(err, unix.EPERM) {
		t.Errorf("shared writable mapping: %v, want EPERM", err)
	}
	now, err := os.ReadFile(Path(int(f.Fd())))
	if err != nil || !bytes.Equal(now, want) {
		t.Errorf("content changed (%v)", err)
	}
}

// TestExecCopy runs a copy the way callers do: handed over as an
// inherited descriptor, executed by its /proc/self/fd path.
func TestExecCopy(t *testing.T) {
	src, err := os.Open("/bin/readlink")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := Copy(src, "readlink-copy")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := &exec.Cmd{Path: Path(3), Args: []string{"readlink", "/proc/self/exe"}, ExtraFiles: []*os.File{f}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); !strings.HasPrefix(got, "/memfd:readlink-copy") {
		t.Errorf("the copy's /proc/self/exe is %q, want /memfd:readlink-copy...", got)
	}
}

// TestSelf: the running executable (not a copy) is copied.
func TestSelf(t *testing.T) {
	f, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !Sealed(f) {
		t.Fatal("Self is not sealed")
	}
	plain, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if Sealed(plain) {
		t.Fatal("the test binary itself looks sealed")
	}
	var a, b unix.Stat_t
	unix.Fstat(int(f.Fd()), &a)
	unix.Fstat(int(plain.Fd()), &b)
	if a.Dev == b.Dev && a.Ino == b.Ino {
		t.Fatal("Self returned the executable, not a copy")
	}
}
