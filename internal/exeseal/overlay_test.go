package exeseal

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"govz/internal/roottest"
)

// helperEnv makes the test binary, re-executed through its overlay, a
// process that prints its /proc/self/exe and waits for stdin to close.
const helperEnv = "GOVZ_EXESEAL_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		l, _ := os.Readlink("/proc/self/exe")
		os.Stdout.WriteString(l + "\n")
		var b [1]byte
		os.Stdin.Read(b[:])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func overlayKnown(t *testing.T) bool {
	b, err := os.ReadFile("/proc/filesystems")
	return err == nil && bytes.Contains(b, []byte("\toverlay\n"))
}

// TestOverlayExe: a process executing the overlay file, as the
// constructor does inside a container, cannot have that file opened for
// writing, not while it runs and not through a handle kept after it
// exited (when ETXTBSY no longer protects a plain file); the host binary
// is unchanged and is not the inode the process executes.
func TestOverlayExe(t *testing.T) {
	roottest.Require(t, "fsopen(2) of overlayfs")
	if !overlayKnown(t) {
		t.Skip("no overlayfs in /proc/filesystems: SelfNoCopy copies (TestNoCopyFallback)")
	}
	host, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hostSum, err := os.ReadFile(host)
	if err != nil {
		t.Fatal(err)
	}
	var hostSt unix.Stat_t
	if err := unix.Stat(host, &hostSt); err != nil {
		t.Fatal(err)
	}

	f, how, why, err := SelfNoCopy(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if how != Overlay {
		t.Fatalf("SelfNoCopy used %s (%s), want %s", how, why, Overlay)
	}
	if fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0); err != nil || fl&unix.O_PATH == 0 {
		t.Errorf("the handle is not O_PATH (flags %#x, %v)", fl, err)
	}
	if _, err := os.OpenFile(Path(int(f.Fd())), os.O_WRONLY, 0); !errors.Is(err, unix.EROFS) {
		t.Errorf("reopening the handle for writing: %v, want EROFS", err)
	}

	cmd := &exec.Cmd{Path: Path(3), Args: []string{"exeseal-helper"}, ExtraFiles: []*os.File{f},
		Env: []string{helperEnv + "=1"}}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	t.Logf("helper's /proc/self/exe: %s", strings.TrimSpace(line))
	exe := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/exe"
	var held unix.Stat_t
	if err := unix.Stat(exe, &held); err != nil {
		t.Fatal(err)
	}
	if held.Dev == hostSt.Dev && held.Ino == hostSt.Ino {
		t.Errorf("the process executes the host binary itself (%d:%d)", held.Dev, held.Ino)
	}
	if _, err := os.OpenFile(exe, os.O_WRONLY, 0); !errors.Is(err, unix.EROFS) {
		t.Errorf("opening %s for writing while it runs: %v, want EROFS", exe, err)
	}
	keep, err := os.OpenFile(exe, unix.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer keep.Close()
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	f.Close()
	// Nothing executes the file any more: a plain file would open now.
	w, err := os.OpenFile(Path(int(keep.Fd())), os.O_WRONLY|os.O_APPEND, 0)
	if err == nil {
		w.Write([]byte("PWNED"))
		w.Close()
	}
	if !errors.Is(err, unix.EROFS) {
		t.Errorf("opening the kept handle for writing after the process exited: %v, want EROFS", err)
	}
	if now, err := os.ReadFile(host); err != nil || !bytes.Equal(now, hostSum) {
		t.Errorf("the host binary changed (%v)", err)
	}
}

// TestNoCopyFallback: where the overlay cannot be made (here: its spare
// layer does not exist), SelfNoCopy falls back to a sealed copy and says
// why.
func TestNoCopyFallback(t *testing.T) {
	f, how, why, err := SelfNoCopy(filepath.Join(t.TempDir(), "missing"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if how != Memfd || why == "" {
		t.Errorf("SelfNoCopy with a missing spare directory: %s (%q), want %s with a reason", how, why, Memfd)
	}
	if !Sealed(f) {
		t.Error("the fallback is not a sealed copy")
	}
}

func TestEscapeLower(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/sbin":  "/usr/sbin",
		"/a:b":       `/a\:b`,
		`/a\b:c`:     `/a\\b\:c`,
		"/x,y=z/bin": "/x,y=z/bin",
	} {
		if got := escapeLower(in); got != want {
			t.Errorf("escapeLower(%q) = %q, want %q", in, got, want)
		}
	}
}
