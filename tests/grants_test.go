package tests

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSetGrants: the grant options are checked when set (bad values
// refused with 21, the config untouched) and the good ones take effect at
// the next start: a feature's device node, a device granted by number.
func TestSetGrants(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	before, _ := os.ReadFile(n.path("conf/101.toml"))
	for _, bad := range [][]string{
		{"--features", "bogus:on"}, {"--features", "nfs:on"}, {"--features", "bridge:off"},
		{"--capability", "bogus:on"}, {"--devnodes", "nonexist:rw"}, {"--devnodes", "net/tun:rwx"},
		{"--devices", "all:rw"}, {"--devices", "c:x:1:rw"}, {"--netfilter", "stateless"}, {"--netfilter", "bogus"},
	} {
		r := n.fails(21, "vzctl", append([]string{"set", "101", "--save"}, bad...)...)
		if name, _, _ := strings.Cut(bad[1], ":"); !strings.Contains(r.err, name) {
			t.Errorf("set %v: error does not name %q: %s", bad, name, r.err)
		}
	}
	if after, _ := os.ReadFile(n.path("conf/101.toml")); string(after) != string(before) {
		t.Fatalf("a refused set changed the config:\n%s", after)
	}

	// tun:on gives /dev/net/tun; c:10:229 (fuse) by number opens a node
	// the admin made in the container's tree.
	n.ok("vzctl", "set", "101", "--features", "tun:on", "--devices", "c:10:229:rw", "--netfilter", "full", "--save")
	if err := unix.Mknod(n.path("private/101/fuse-node"), unix.S_IFCHR|0o666, int(unix.Mkdev(10, 229))); err != nil {
		t.Fatal(err)
	}
	n.ok("vzctl", "start", "101")
	open := func(p string) result {
		return n.run("vzctl", "exec2", "101", "exec 3<>"+p+" && echo opened")
	}
	if r := open("/dev/net/tun"); r.code != 0 || r.out != "opened\n" {
		t.Errorf("tun:on: /dev/net/tun does not open:\n%s", r)
	}
	if r := open("/fuse-node"); r.code != 0 || r.out != "opened\n" {
		t.Errorf("--devices c:10:229:rw: the node does not open:\n%s", r)
	}
	n.stopClean("101")

	// Without the grants neither opens.
	n.ok("vzctl", "set", "101", "--features", "tun:off", "--devices", "c:10:229:none", "--save")
	n.ok("vzctl", "start", "101")
	if r := open("/dev/net/tun"); r.code == 0 {
		t.Errorf("tun:off: /dev/net/tun still opens")
	}
	if r := open("/fuse-node"); r.code == 0 {
		t.Errorf("c:10:229:none: the node still opens")
	}
	n.stopClean("101")
}
