package tests

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// treeListing describes every entry under dir: type, mode, owner, size
// and content hash of files, target of symlinks, device numbers. Two
// trees with the same listing have the same content and metadata (times
// aside).
func treeListing(t *testing.T, dir string, skip ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		for _, s := range skip {
			if rel == s || strings.HasPrefix(rel, s+"/") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %o %d:%d", rel, st.Mode, st.Uid, st.Gid)
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			line += fmt.Sprintf(" %d %s", len(b), hex.EncodeToString(h[:8]))
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case fi.Mode()&(fs.ModeDevice|fs.ModeCharDevice) != 0:
			line += fmt.Sprintf(" dev %d", st.Rdev)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func diffListings(a, b []string) []string {
	in := map[string]int{}
	for _, l := range a {
		in[l]++
	}
	for _, l := range b {
		in[l]--
	}
	var d []string
	for l, c := range in {
		if c > 0 {
			d = append(d, "- "+l)
		} else if c < 0 {
			d = append(d, "+ "+l)
		}
	}
	sort.Strings(d)
	return d
}

// jsonEvents parses --json output: one object a line.
func jsonEvents(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("--json line %q: %v", sc.Text(), err)
		}
		evs = append(evs, m)
	}
	if len(evs) == 0 {
		t.Fatalf("--json printed nothing")
	}
	return evs
}

// TestBackupRestoreRoundTrip: a backup of a running container leaves it
// running; after the container is destroyed, restore-backup brings back
// the same tree (content, owners, modes, links) and config (name,
// hostname, description) under the same CTID, and it starts. A damaged or
// truncated file is refused with one line and exit 47 before anything is
// written.
func TestBackupRestoreRoundTrip(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101", "--ostemplate", "busybox-"+arch(), "--hostname", "bk1", "--name", "bkweb", "--description", "backed up")
	n.ok("vzctl", "start", "101")
	n.ok("vzctl", "exec2", "101", "echo payload > /root/data; ln -s /etc/passwd /root/link; mkdir -p /srv/a/b; chmod 4755 /bin/busybox; chown 7:9 /root/data")
	file := filepath.Join(t.TempDir(), "101.govz.zst")
	r := n.ok("vzctl", "backup", "101", file, "--json")
	evs := jsonEvents(t, r.out)
	last := evs[len(evs)-1]
	if last["event"] != "done" || last["code"].(float64) != 0 {
		t.Fatalf("final --json event: %v", last)
	}
	res := last["result"].(map[string]any)
	if res["ctid"].(float64) != 101 || res["sha256"] == "" || res["frozen_ms"].(float64) <= 0 {
		t.Errorf("backup result: %v", res)
	}
	t.Logf("backup of a running busybox: %v bytes, frozen %v ms, %v s (%v)", res["bytes"], res["frozen_ms"], res["seconds"], res["copy"])
	if st := n.ok("vzctl", "status", "101").out; !strings.Contains(st, "running") {
		t.Fatalf("container stopped by the backup: %s", st)
	}
	if _, err := os.Stat(file + ".part"); err == nil {
		t.Errorf("%s.part left behind", file)
	}
	n.ok("vzctl", "stop", "101")
	private := n.path("private/101")
	// The running guest may have written below these after the backup.
	skip := []string{"var/run", "run", "tmp", "var/log"}
	before := treeListing(t, private, skip...)

	// Damaged copies are refused before anything is written.
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	flipped := filepath.Join(dir, "flipped")
	bad := append([]byte(nil), data...)
	bad[len(bad)/2] ^= 0x40
	os.WriteFile(flipped, bad, 0o600)
	truncated := filepath.Join(dir, "truncated")
	os.WriteFile(truncated, data[:len(data)-1000], 0o600)
	for _, f := range []string{flipped, truncated} {
		r := n.fails(47, "vzctl", "restore-backup", f, "102")
		if !strings.Contains(r.err, "damaged") {
			t.Errorf("restore of %s: %q does not say damaged", filepath.Base(f), r.err)
		}
		for _, p := range []string{"conf/102.toml", "private/102", "private/102.tmp", "root/102"} {
			if _, err := os.Lstat(n.path(p)); err == nil {
				t.Errorf("restore of a damaged backup left %s", p)
			}
		}
	}
	r = n.fails(47, "vzctl", "restore-backup", flipped, "102", "--json")
	if ev := jsonEvents(t, r.out); ev[len(ev)-1]["event"] != "error" || ev[len(ev)-1]["code"].(float64) != 47 {
		t.Errorf("--json of a refused restore: %v", ev)
	}

	// The same CTID while it exists: refused, nothing touched.
	n.fails(44, "vzctl", "restore-backup", file)

	n.ok("vzctl", "destroy", "101")
	r = n.ok("vzctl", "restore-backup", file)
	if !strings.Contains(r.out, "Container 101 restored") {
		t.Errorf("restore said:\n%s", r)
	}
	after := treeListing(t, private, skip...)
	if d := diffListings(before, after); len(d) > 0 {
		t.Fatalf("restored tree differs (%d entries):\n%s", len(d), strings.Join(d[:min(len(d), 30)], "\n"))
	}
	got := n.ok("vzlist", "-H", "-a", "-o", "ctid,name,hostname,description", "101").out
	if f := strings.Fields(got); len(f) < 4 || f[1] != "bkweb" || f[2] != "bk1" || !strings.Contains(got, "backed up") {
		t.Errorf("restored config: %q", got)
	}
	n.ok("vzctl", "start", "101")
	if out := n.ok("vzctl", "exec2", "bkweb", "cat /root/data").out; strings.TrimSpace(out) != "payload" {
		t.Errorf("restored data: %q", out)
	}
}
