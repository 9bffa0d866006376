package tests

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"govz/ct/storage"
)

// TestStorageOverlay: the overlay layout end to end on an ext4 without
// project quota (the scratch file system has none): creates share one
// unpacked template, a limit request says plainly it is not enforced, the
// container runs on its idmapped layers and what it writes lands unshifted
// in its own upper layer, and destroy leaves no mount, no private area and
// no host file touched through the container's symlinks, keeping the
// lower for the next create.
func TestStorageOverlay(t *testing.T) {
	mnt := scratchFS(t, "ext4", 2<<30)
	n := newNodeOn(t, mnt)
	n.ok("vzctl", "create", "101", "--layout", "overlay")
	r := n.ok("vzctl", "create", "102", "--layout", "overlay", "--diskspace", "64M")
	if !strings.Contains(r.err, "overlay layout: disk limits are not enforced") || !strings.Contains(r.err, "project quota") {
		t.Fatalf("a limit without project quota is not refused or said plainly:\n%s", r)
	}
	if r := n.ok("vzlist", "-a", "-H", "-o", "ctid,layout"); strings.Join(strings.Fields(r.out), " ") != "101 overlay 102 overlay" {
		t.Fatalf("vzlist layouts: %q", r.out)
	}
	ents, _ := storage.CachedTemplates(n.path("private"))
	if len(ents) != 1 || !strings.HasSuffix(ents[0], ".ovl") {
		t.Fatalf("template cache: %v, want one lower for both", ents)
	}
	if s := n.status("101"); s != "CTID 101 exist unmounted down" {
		t.Fatalf("status after create: %q", s)
	}
	n.ok("vzctl", "mount", "101")
	if s := n.status("101"); s != "CTID 101 exist mounted down" {
		t.Fatalf("status after mount: %q", s)
	}
	n.ok("vzctl", "umount", "101")
	if ms := n.mounts(); len(ms) != 0 {
		t.Fatalf("mounts left after umount: %v", ms)
	}

	n.ok("vzctl", "start", "101")
	if got := strings.TrimSpace(n.ok("vzctl", "exec2", "101", "stat -c %u:%g /bin/busybox").out); got != "0:0" {
		t.Fatalf("/bin/busybox inside is owned by %s, want 0:0", got)
	}
	hostFile := n.path("host-secret")
	n.writeFile("host-secret", "keep me\n")
	n.ok("vzctl", "exec2", "101", "echo hi > /written && chown 7:7 /written && ln -s "+hostFile+" /escape && mkdir -p /d && ln -s / /d/up && echo x >> /bin/busybox.txt")
	var st syscall.Stat_t
	if err := syscall.Stat(n.path("private/101/fs/upper/written"), &st); err != nil || st.Uid != 7 || st.Gid != 7 {
		t.Fatalf("/written in the upper layer: %d:%d (%v), want 7:7 (unshifted on disk)", st.Uid, st.Gid, err)
	}
	lower := n.path("private/.tmplcache/" + ents[0] + "/root")
	if _, err := os.Stat(lower + "/written"); err == nil {
		t.Fatal("the container wrote into the shared lower layer")
	}
	n.ok("vzctl", "stop", "101")
	if ms := n.mounts(); len(ms) != 0 {
		t.Fatalf("mounts left after stop: %v", ms)
	}
	for _, id := range []string{"101", "102"} {
		n.ok("vzctl", "destroy", id)
		for _, p := range []string{"private/" + id, "root/" + id} {
			if _, err := os.Lstat(n.path(p)); !os.IsNotExist(err) {
				t.Fatalf("%s left after destroy: %v", p, err)
			}
		}
	}
	if b, err := os.ReadFile(hostFile); err != nil || string(b) != "keep me\n" {
		t.Fatalf("host file behind the container's symlink: %q %v", b, err)
	}
	if _, err := os.Stat(lower + "/bin/busybox"); err != nil {
		t.Fatalf("the lower went with its containers, the next create unpacks again: %v", err)
	}
	if ms := n.mounts(); len(ms) != 0 {
		t.Fatalf("mounts left: %v", ms)
	}
}

// idBase is container id's local_uid and local_gid (0 when identity
// mapped), from its config.
func idBase(t *testing.T, n *node, id string) (uid, gid int) {
	t.Helper()
	b, err := os.ReadFile(n.path("conf/" + id + ".toml"))
	if err != nil {
		t.Fatal(err)
	}
	get := func(key string) int {
		m := regexp.MustCompile(`(?m)^` + key + ` = "?(\d+)"?`).FindSubmatch(b)
		if m == nil {
			return 0
		}
		v, _ := strconv.Atoi(string(m[1]))
		return v
	}
	return get("local_uid"), get("local_gid")
}

// unshift rewrites the owners of a digest seen through a mount that shows
// the container's IDs (the overlay layout's idmapped layers) back to the
// IDs on disk.
func unshift(d map[string]string, uid, gid int) {
	re := regexp.MustCompile(`uid=(\d+) gid=(\d+)`)
	for p, v := range d {
		d[p] = re.ReplaceAllStringFunc(v, func(s string) string {
			m := re.FindStringSubmatch(s)
			u, _ := strconv.Atoi(m[1])
			g, _ := strconv.Atoi(m[2])
			return "uid=" + strconv.Itoa(u-uid) + " gid=" + strconv.Itoa(g-gid)
		})
	}
}
