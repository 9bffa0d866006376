package nsinit

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// The config message and its descriptors arrive together, in order, and
// close-on-exec.
func TestSendWithFDs(t *testing.T) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.SetNonblock(pair[0], true)
	parent := os.NewFile(uintptr(pair[0]), "parent")
	defer parent.Close()
	defer unix.Close(pair[1])

	a, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := os.Open("/")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := &Config{ID: "101", UserNS: true, Mounts: []string{"console", "root"}}
	if err := sendWithFDs(parent, &message{Type: msgConfig, Config: c}, []int{int(a.Fd()), int(b.Fd())}); err != nil {
		t.Fatal(err)
	}
	m, fds, err := recvWithFDs(pair[1])
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(fds)
	if m.Type != msgConfig || m.Config == nil || !m.Config.UserNS || len(m.Config.Mounts) != 2 || len(fds) != 2 {
		t.Fatalf("got %+v with %d fds", m, len(fds))
	}
	for i, want := range []*os.File{a, b} {
		var got, orig unix.Stat_t
		unix.Fstat(fds[i], &got)
		unix.Fstat(int(want.Fd()), &orig)
		if got.Ino != orig.Ino || got.Dev != orig.Dev {
			t.Errorf("fd %d is not %s", i, want.Name())
		}
		if flags, _ := unix.FcntlInt(uintptr(fds[i]), unix.F_GETFD, 0); flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("fd %d is not close-on-exec", i)
		}
	}
	// A message without descriptors still works (the run message).
	if err := sendWithFDs(parent, &message{Type: msgRun}, nil); err != nil {
		t.Fatal(err)
	}
	if m, fds, err := recvWithFDs(pair[1]); err != nil || m.Type != msgRun || len(fds) != 0 {
		t.Fatalf("%+v %v %v", m, fds, err)
	}
}
