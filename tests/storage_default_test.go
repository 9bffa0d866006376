package tests

import (
	"fmt"
	"strings"
	"testing"
)

// TestStorageDefaultLayout: with no ve_layout anywhere, a container's
// private area is a btrfs subvolume when /vz is on btrfs and otherwise an
// ext4 image sized by its diskspace (the portable default, as OpenVZ's
// ploop was); without a disk limit it stays a plain directory.
func TestStorageDefaultLayout(t *testing.T) {
	for _, c := range []struct {
		fs, want string
	}{{"ext4", "image"}, {"btrfs", "btrfs"}} {
		t.Run(c.fs, func(t *testing.T) {
			n := newNodeOn(t, scratchFS(t, c.fs, 1<<30))
			n.writeFile("conf/vz.toml", fmt.Sprintf("cgroup_parent = %q\nstop_timeout = 10\n", n.cgroupParent()))
			n.ok("vzctl", "create", "101", "--diskspace", "64M")
			n.ok("vzctl", "create", "102", "--diskspace", "unlimited")
			want := "101 " + c.want + " 102 dir"
			if c.fs == "btrfs" {
				want = "101 btrfs 102 btrfs"
			}
			if r := n.ok("vzlist", "-a", "-H", "-o", "ctid,layout"); strings.Join(strings.Fields(r.out), " ") != want {
				t.Fatalf("default layouts on %s: %q, want %q", c.fs, r.out, want)
			}
			n.ok("vzctl", "start", "101")
			if r := n.ok("vzctl", "exec2", "101", "df -k / | tail -n 1"); !strings.Contains(r.out, "/") {
				t.Fatalf("df inside: %q", r.out)
			}
			// The product's defaults make an unprivileged container too:
			// its own ID range, on an idmapped root of this layout.
			uid, _ := n.ctIDs("101")
			n.checkMapped("101", uid)
			if r := n.ok("vzctl", "exec2", "101", "touch /root/f && stat -c %u:%g /root/f"); r.out != "0:0\n" {
				t.Fatalf("file made by root inside: %q", r.out)
			}
			n.ok("vzctl", "stop", "101")
			n.ok("vzctl", "destroy", "101")
			n.ok("vzctl", "destroy", "102")
		})
	}
}
