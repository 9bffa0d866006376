package tests

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

var snapUUIDRe = regexp.MustCompile(`Snapshot \{([0-9a-f-]{36})\}`)

// snapshotCycle runs create, list, switch and delete on container 101 of
// n, made with createArgs, and checks the copy method the output names.
func snapshotCycle(t *testing.T, n *node, wantCopy string, createArgs ...string) {
	n.ok("vzctl", append([]string{"create", "101", "--ostemplate", "busybox-" + arch()}, createArgs...)...)
	n.ok("vzctl", "start", "101")
	n.ok("vzctl", "exec2", "101", "echo v1 > /root/f")
	r := n.ok("vzctl", "snapshot", "101", "--name", "first", "--description", "before v2")
	m := snapUUIDRe.FindStringSubmatch(r.out)
	if m == nil {
		t.Fatalf("snapshot printed no id:\n%s", r)
	}
	first := m[1]
	if !strings.Contains(r.out, wantCopy) || !strings.Contains(r.out, "container frozen") {
		t.Errorf("snapshot output does not say %q and the freeze:\n%s", wantCopy, r.out)
	}
	t.Logf("%s", strings.TrimSpace(r.out))
	if st := n.ok("vzctl", "status", "101").out; !strings.Contains(st, "running") {
		t.Fatalf("snapshot stopped the container: %s", st)
	}
	n.ok("vzctl", "exec2", "101", "echo v2 > /root/f; touch /root/new")
	second := "3f0c2b9e-1d4a-4c7b-9e2f-0a1b2c3d4e5f"
	n.ok("vzctl", "snapshot", "101", "--id", "{"+second+"}", "--name", "second")
	n.fails(21, "vzctl", "snapshot", "101", "--id", second)
	n.fails(21, "vzctl", "snapshot", "101", "--id", "not-a-uuid")

	list := squeeze(n.ok("vzctl", "snapshot-list", "101", "-H", "-o", "uuid,parent_uuid,current,name").out)
	want := "{" + first + "} first\n{" + second + "} {" + first + "} * second\n"
	if list != want {
		t.Fatalf("snapshot-list:\n%s\nwant:\n%s", list, want)
	}
	if head := n.ok("vzctl", "snapshot-list", "101").out; !strings.HasPrefix(head, "PARENT_UUID") {
		t.Errorf("snapshot-list header: %q", head)
	}

	r = n.ok("vzctl", "snapshot-switch", "101", "--id", first)
	if !strings.Contains(r.out, "restarted") {
		t.Errorf("switch of a running container does not say it restarted it:\n%s", r.out)
	}
	if st := n.ok("vzctl", "status", "101").out; !strings.Contains(st, "running") {
		t.Fatalf("container not running after the switch: %s", st)
	}
	if got := n.ok("vzctl", "exec2", "101", "cat /root/f; test -e /root/new && echo new-exists; true").out; got != "v1\n" {
		t.Errorf("after switching to the first snapshot: %q, want v1 and no /root/new", got)
	}
	if list := squeeze(n.ok("vzctl", "snapshot-list", "101", "-H", "-o", "id,current").out); list != "{"+first+"} *\n{"+second+"}\n" {
		t.Errorf("current after switch:\n%s", list)
	}
	n.fails(21, "vzctl", "snapshot-switch", "101", "--id", "00000000-0000-4000-8000-000000000000")

	n.ok("vzctl", "snapshot-delete", "101", "--id", first)
	if list := squeeze(n.ok("vzctl", "snapshot-list", "101", "-H", "-o", "uuid,parent_uuid,current").out); list != "{"+second+"}\n" {
		t.Errorf("after delete (the child re-parented, no current):\n%q", list)
	}
	// Back to the second one, stopped this time.
	n.ok("vzctl", "stop", "101")
	n.ok("vzctl", "snapshot-switch", "101", "--id", second)
	n.ok("vzctl", "start", "101")
	if got := n.ok("vzctl", "exec2", "101", "cat /root/f; ls /root/new").out; got != "v2\n/root/new\n" {
		t.Errorf("after switching to the second snapshot: %q", got)
	}
	n.ok("vzctl", "stop", "101")
	n.ok("vzctl", "destroy", "101")
	ents, _ := os.ReadDir(n.path("private/.snapshots"))
	if len(ents) != 0 {
		t.Errorf("destroy left snapshots: %v", ents)
	}
}

// TestSnapshotDefaultLayout: the tests' default layout (dir) copies the
// tree in full, and says so.
func TestSnapshotDefaultLayout(t *testing.T) {
	snapshotCycle(t, newNode(t), "full copy: layout dir cannot snapshot cheaply here")
}

// TestSnapshotBtrfs: btrfs snapshots of the subvolume.
func TestSnapshotBtrfs(t *testing.T) {
	snapshotCycle(t, newNodeOn(t, scratchFS(t, "btrfs", 2<<30)), "(btrfs snapshot;", "--layout", "btrfs")
}

// TestSnapshotImage: the image layout on btrfs reflinks its image.
func TestSnapshotImage(t *testing.T) {
	snapshotCycle(t, newNodeOn(t, scratchFS(t, "btrfs", 2<<30)), "(reflink;", "--layout", "image", "--diskspace", "256M")
}

// squeeze joins each line's fields with one space (tabwriter pads).
func squeeze(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		b.WriteString(strings.Join(strings.Fields(l), " ") + "\n")
	}
	return b.String()
}
