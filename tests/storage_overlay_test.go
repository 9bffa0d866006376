package tests

import (
	"encoding/binary"
	"encoding/hex"
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

// unshift rewrites a digest seen through a mount that shows the
// container's IDs (the overlay layout's idmapped layers) back to the IDs
// on disk: owners, the IDs of POSIX ACL entries, and a file capability's
// root ID (the kernel shows a v2 capability through an idmapped mount as
// v3 with the root the mount maps host 0 to).
func unshift(d map[string]string, uid, gid int) {
	own := regexp.MustCompile(`uid=(\d+) gid=(\d+)`)
	xa := regexp.MustCompile(`(system\.posix_acl_(?:access|default)|security\.capability)=([0-9a-f]+)`)
	for p, v := range d {
		v = own.ReplaceAllStringFunc(v, func(s string) string {
			m := own.FindStringSubmatch(s)
			u, _ := strconv.Atoi(m[1])
			g, _ := strconv.Atoi(m[2])
			return "uid=" + strconv.Itoa(u-uid) + " gid=" + strconv.Itoa(g-gid)
		})
		d[p] = xa.ReplaceAllStringFunc(v, func(s string) string {
			m := xa.FindStringSubmatch(s)
			b, err := hex.DecodeString(m[2])
			if err != nil {
				return s
			}
			if m[1] == "security.capability" {
				// struct vfs_ns_cap_data: magic_etc, 2 x {permitted,
				// inheritable}, rootid.
				if len(b) == 24 && binary.LittleEndian.Uint32(b) == 0x03000001 && int(binary.LittleEndian.Uint32(b[20:])) == uid {
					binary.LittleEndian.PutUint32(b, 0x02000001)
					b = b[:20]
				}
				return m[1] + "=" + hex.EncodeToString(b)
			}
			// A 4-byte header, then {tag u16, perm u16, id u32} entries;
			// ACL_USER is 2, ACL_GROUP 8.
			for i := 4; i+8 <= len(b); i += 8 {
				id := binary.LittleEndian.Uint32(b[i+4:])
				switch binary.LittleEndian.Uint16(b[i:]) {
				case 2:
					binary.LittleEndian.PutUint32(b[i+4:], id-uint32(uid))
				case 8:
					binary.LittleEndian.PutUint32(b[i+4:], id-uint32(gid))
				}
			}
			return m[1] + "=" + hex.EncodeToString(b)
		})
	}
}
