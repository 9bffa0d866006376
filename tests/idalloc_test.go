package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Unprivileged by default: create gives every new container a host ID
// range of its own from the node's pool (local_id_pool), under the
// node-wide allocation lock, and writes the numbers into its config.

const idRange = 65536

// autoNode is a node whose new containers get auto ranges whatever
// GOVZ_E2E_IDMODE says: these tests are about the allocation itself.
func autoNode(t *testing.T, extra string) *node {
	t.Helper()
	n := newNode(t)
	n.writeFile("conf/vz.toml", strings.ReplaceAll(n.baseVZConf(), "local_uid = 0\n", "")+"local_uid = \"auto\"\n"+extra)
	return n
}

var ctIDKey = regexp.MustCompile(`(?m)^local_(uid|gid) = (\d+)$`)

// ctIDs reads local_uid and local_gid from container id's config file;
// -1 when a key is missing.
func (n *node) ctIDs(id string) (uid, gid int64) {
	n.t.Helper()
	b, err := os.ReadFile(n.path("conf/" + id + ".toml"))
	if err != nil {
		n.t.Fatal(err)
	}
	uid, gid = -1, -1
	for _, m := range ctIDKey.FindAllStringSubmatch(string(b), -1) {
		v, _ := strconv.ParseInt(m[2], 10, 64)
		if m[1] == "uid" {
			uid = v
		} else {
			gid = v
		}
	}
	return uid, gid
}

// initIDs is the host UID and GID the running container's init has.
func (n *node) initIDs(id string) (uid, gid string) {
	n.t.Helper()
	_, pid := n.runState(id)
	if pid <= 0 {
		n.t.Fatalf("container %s: no init pid", id)
	}
	return procIDs(n.t, pid)
}

// checkMapped asserts container id runs with root at host ID base (uid
// and gid): its init's credentials seen from the host, and its maps seen
// from inside.
func (n *node) checkMapped(id string, base int64) {
	n.t.Helper()
	want := strconv.FormatInt(base, 10)
	if u, g := n.initIDs(id); u != want || g != want {
		n.t.Fatalf("container %s: init runs as host %s:%s, want %s:%s", id, u, g, want, want)
	}
	r := n.ok("vzctl", "exec2", id, "cat", "/proc/self/uid_map", "/proc/self/gid_map")
	if got, w := strings.Join(strings.Fields(r.out), " "), fmt.Sprintf("0 %d %d 0 %d %d", base, idRange, base, idRange); got != w {
		n.t.Fatalf("container %s: maps %q, want %q", id, got, w)
	}
}

// checkIdentity asserts container id runs identity-mapped: root inside is
// host root.
func (n *node) checkIdentity(id string) {
	n.t.Helper()
	if u, g := n.initIDs(id); u != "0" || g != "0" {
		n.t.Fatalf("container %s: init runs as host %s:%s, want 0:0", id, u, g)
	}
	r := n.ok("vzctl", "exec2", id, "cat", "/proc/self/uid_map")
	if got := strings.Join(strings.Fields(r.out), " "); got != "0 0 4294967295" {
		n.t.Fatalf("container %s: uid map %q, want the identity", id, got)
	}
}

// checkDisjoint asserts the bases are aligned and their ranges share no ID.
func checkDisjoint(t *testing.T, bases map[string]int64) {
	t.Helper()
	var ids []string
	for id, b := range bases {
		if b <= 0 || b%idRange != 0 {
			t.Errorf("container %s: local_uid %d is not an aligned range", id, b)
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return bases[ids[i]] < bases[ids[j]] })
	for i := 1; i < len(ids); i++ {
		if bases[ids[i]] < bases[ids[i-1]]+idRange {
			t.Errorf("containers %s and %s overlap: %d and %d", ids[i-1], ids[i], bases[ids[i-1]], bases[ids[i]])
		}
	}
}

// TestIDAllocDistinct: two containers created without options get two
// distinct ranges, written in their configs and shown by vzlist, and
// their root is that host ID.
func TestIDAllocDistinct(t *testing.T) {
	n := autoNode(t, "")
	bases := map[string]int64{}
	for _, id := range []string{"101", "102"} {
		n.ok("vzctl", "create", id)
		uid, gid := n.ctIDs(id)
		if uid != gid || uid <= 0 {
			t.Fatalf("container %s: config holds local_uid %d, local_gid %d", id, uid, gid)
		}
		bases[id] = uid
	}
	checkDisjoint(t, bases)
	if r := n.ok("vzlist", "-a", "-H", "-o", "ctid,local_uid,local_gid"); strings.Join(strings.Fields(r.out), " ") !=
		fmt.Sprintf("101 %d %d 102 %d %d", bases["101"], bases["101"], bases["102"], bases["102"]) {
		t.Fatalf("vzlist: %q", r.out)
	}
	for _, id := range []string{"101", "102"} {
		n.ok("vzctl", "start", id)
		n.checkMapped(id, bases[id])
		// The guest's files keep their owners on disk: nothing was chowned.
		n.ok("vzctl", "exec2", id, "touch /root/made-inside")
		if o := fileOwner(t, n.path("private/"+id+"/root/made-inside")); o != "0:0" {
			t.Errorf("container %s: a file root made inside is %s on disk", id, o)
		}
	}
	// A destroyed container's range is free again: the next create takes
	// the lowest free one.
	n.ok("vzctl", "stop", "101")
	n.ok("vzctl", "destroy", "101")
	n.ok("vzctl", "create", "103")
	if uid, _ := n.ctIDs("103"); uid != bases["101"] {
		t.Fatalf("container 103 got %d, want 101's freed %d", uid, bases["101"])
	}
	n.ok("vzctl", "stop", "102")
	n.noLeftovers()
}

// fileOwner is "UID:GID" of p on the host.
func fileOwner(t *testing.T, p string) string {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
}

// TestIDAllocParallel: eight creates at once get eight distinct,
// non-overlapping ranges (the node lock serialises the choice).
func TestIDAllocParallel(t *testing.T) {
	n := autoNode(t, "")
	var wg sync.WaitGroup
	results := make([]result, 8)
	for i := range results {
		wg.Go(func() { results[i] = n.run("vzctl", "create", strconv.Itoa(201+i)) })
	}
	wg.Wait()
	bases := map[string]int64{}
	for i, r := range results {
		id := strconv.Itoa(201 + i)
		if r.code != 0 {
			t.Fatalf("create %s: %s", id, r)
		}
		uid, gid := n.ctIDs(id)
		if uid != gid {
			t.Errorf("container %s: local_uid %d, local_gid %d", id, uid, gid)
		}
		bases[id] = uid
	}
	checkDisjoint(t, bases)
	if _, err := os.Stat(n.path("lock/node.lck")); err != nil {
		t.Errorf("no node lock file: %v", err)
	}
}

// TestIDAllocSwitch: set --local_uid 0|auto|N --save switches a stopped
// container; a running one is refused (32); someone else's range is
// refused (21) unless forced; a full pool is "not enough resources" (6)
// and leaves nothing behind.
func TestIDAllocSwitch(t *testing.T) {
	// Room for two ranges only.
	n := autoNode(t, "local_id_pool = \"1879048192+131072\"\n")
	n.ok("vzctl", "create", "101")
	base, _ := n.ctIDs("101")
	if base != 1879048192 {
		t.Fatalf("first range %d, want the pool's first 1879048192", base)
	}
	n.ok("vzctl", "set", "101", "--local_uid", "0", "--save")
	if u, g := n.ctIDs("101"); u != 0 || g != 0 {
		t.Fatalf("after --local_uid 0: %d %d", u, g)
	}
	n.ok("vzctl", "start", "101")
	n.checkIdentity("101")
	n.fails(32, "vzctl", "set", "101", "--local_uid", "auto", "--save")
	n.ok("vzctl", "stop", "101")
	n.ok("vzctl", "set", "101", "--local_uid", "auto", "--save")
	if u, g := n.ctIDs("101"); u != base || g != base {
		t.Fatalf("after --local_uid auto: %d %d, want %d", u, g, base)
	}
	n.ok("vzctl", "start", "101")
	n.checkMapped("101", base)
	// auto again keeps the range it has; so does the same number.
	n.ok("vzctl", "set", "101", "--local_uid", "auto", "--save")
	n.ok("vzctl", "set", "101", "--local_uid", strconv.FormatInt(base, 10), "--save")
	if u, _ := n.ctIDs("101"); u != base {
		t.Fatalf("unchanged set moved the range to %d", u)
	}
	n.ok("vzctl", "stop", "101")

	// Another container: create with an explicit taken range is refused
	// before anything is unpacked; identity on request.
	r := n.fails(21, "vzctl", "create", "102", "--local_uid", strconv.FormatInt(base+100, 10))
	if !strings.Contains(r.err, "container 101") {
		t.Errorf("overlap error does not name the holder: %q", r.err)
	}
	if _, err := os.Stat(n.path("private/102")); err == nil {
		t.Errorf("refused create left a private area")
	}
	n.ok("vzctl", "create", "102", "--local_uid", "0")
	if u, g := n.ctIDs("102"); u != 0 || g != 0 {
		t.Fatalf("create --local_uid 0: %d %d", u, g)
	}
	n.fails(21, "vzctl", "set", "102", "--local_uid", strconv.FormatInt(base, 10), "--save")
	n.fails(21, "vzctl", "set", "102", "--local_uid", "auto", "--local_gid", "0", "--save")
	n.fails(21, "vzctl", "set", "102", "--local_uid", "1000", "--save")
	r = n.ok("vzctl", "set", "102", "--local_uid", strconv.FormatInt(base, 10), "--force", "--save")
	if !strings.Contains(r.err+r.out, "shared because of --force") {
		t.Errorf("forced overlap without a warning: %s", r)
	}
	// auto moves a shared range to a free one: the pool's second.
	n.ok("vzctl", "set", "102", "--local_uid", "auto", "--save")
	if u, _ := n.ctIDs("102"); u != base+idRange {
		t.Fatalf("auto from a shared range: %d, want %d", u, base+idRange)
	}
	// The pool is full now.
	r = n.fails(6, "vzctl", "create", "103")
	if !strings.Contains(r.err, "id pool") {
		t.Errorf("full pool error: %q", r.err)
	}
	if _, err := os.Stat(n.path("conf/103.toml")); err == nil {
		t.Errorf("failed create left a config")
	}
	if ents, _ := os.ReadDir(n.path("private")); len(ents) != 2 {
		t.Errorf("failed create left private areas: %v", ents)
	}
	// vz.toml's local_uid = 0 makes new containers identity-mapped; a
	// fixed number there is refused (it would be every container's).
	base0, _ := os.ReadFile(n.path("conf/vz.toml"))
	n.writeFile("conf/vz.toml", strings.ReplaceAll(string(base0), "local_uid = \"auto\"", "local_uid = 0"))
	n.ok("vzctl", "create", "103")
	if u, g := n.ctIDs("103"); u != 0 || g != 0 {
		t.Fatalf("create with vz.toml local_uid = 0: %d %d", u, g)
	}
	n.writeFile("conf/vz.toml", strings.ReplaceAll(string(base0), "local_uid = \"auto\"", "local_uid = 300000"))
	n.fails(85, "vzctl", "status", "103")
	// A container created before allocation existed (no key in its file)
	// runs identity-mapped whatever vz.toml says for new ones.
	n.writeFile("conf/vz.toml", string(base0))
	cfg, _ := os.ReadFile(n.path("conf/103.toml"))
	n.writeFile("conf/103.toml", regexp.MustCompile(`(?m)^local_[ug]id = .*\n`).ReplaceAllString(string(cfg), ""))
	n.ok("vzctl", "start", "103")
	n.checkIdentity("103")
	n.ok("vzctl", "stop", "103")
	n.noLeftovers()
}

// TestIDAllocDebian: a Debian 12 guest boots with no failed unit in the
// default (auto) mode.
func TestIDAllocDebian(t *testing.T) {
	n := autoNode(t, "")
	src := debianTemplate(t)
	if err := os.Link(src, n.path("template/cache/"+filepath.Base(src))); err != nil {
		t.Fatal(err)
	}
	n.ok("vzctl", "create", "101", "--ostemplate", strings.TrimSuffix(filepath.Base(src), ".tar.gz"))
	base, _ := n.ctIDs("101")
	n.ok("vzctl", "start", "101", "--wait")
	r := n.run("vzctl", "exec2", "101", "systemctl", "is-system-running", "--wait")
	if strings.TrimSpace(r.out) != "running" {
		failed := n.run("vzctl", "exec2", "101", "systemctl", "--failed", "--no-legend", "--no-pager")
		t.Fatalf("is-system-running: %q; failed units:\n%s", r.out, failed.out)
	}
	n.checkMapped("101", base)
	n.stopClean("101")
}

// TestIDModeOfSuite: the suite's containers are created in the mode
// GOVZ_E2E_IDMODE names, so a pass in either mode tested that mode.
func TestIDModeOfSuite(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	uid, gid := n.ctIDs("101")
	switch mode := idMode(); {
	case mode == "identity" && (uid != 0 || gid != 0):
		t.Fatalf("identity mode: container created with %d:%d", uid, gid)
	case mode == "auto" && (uid <= 0 || gid != uid):
		t.Fatalf("auto mode: container created with %d:%d", uid, gid)
	}
	n.ok("vzctl", "start", "101")
	if idMode() == "identity" {
		n.checkIdentity("101")
	} else {
		n.checkMapped("101", uid)
	}
	n.ok("vzctl", "stop", "101")
}
