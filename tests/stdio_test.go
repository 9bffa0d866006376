package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestExecStdioDeviceNotShared: a host device node given to vzctl exec as
// stdin/stdout (scripts run it with </dev/null) does not reach the
// container's root as an open file it could chmod or chown. The test uses
// a private node with /dev/null's numbers, never the host's /dev/null.
func TestExecStdioDeviceNotShared(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "start", "101")
	node := filepath.Join(t.TempDir(), "null")
	if err := unix.Mknod(node, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(node, 0o666); err != nil { // past the umask
		t.Fatal(err)
	}
	in, err := os.OpenFile(node, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	c := n.cmd("vzctl", "exec2", "101", "chmod 600 /proc/self/fd/0 /proc/self/fd/1; chown 1:1 /proc/self/fd/0; read x; echo read=$?:$x >&2; echo out")
	c.Stdin, c.Stdout = in, in
	var errb strings.Builder
	c.Stderr = &errb
	if err := c.Run(); err != nil {
		t.Fatalf("vzctl exec2: %v\n%s", err, errb.String())
	}
	// stdin still reads as /dev/null does: end of file at once.
	if !strings.Contains(errb.String(), "read=1:") {
		t.Errorf("stdin inside is not at EOF: %q", errb.String())
	}
	var st unix.Stat_t
	if err := unix.Stat(node, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o666 || st.Uid != 0 || st.Gid != 0 {
		t.Fatalf("the container changed the host's device node: mode %o owner %d:%d", st.Mode&0o7777, st.Uid, st.Gid)
	}
}
