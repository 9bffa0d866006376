package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/storage"
	"govz/quota/image"
)

// Storage layouts end to end, each installation on a scratch file system
// (btrfs or ext4 in a sparse file, loop-mounted) the test makes and
// unmounts, so limits, snapshots and loop devices never touch the host's
// own file systems.

// scratchFS makes a file system of type fstype and size bytes in a sparse
// file and mounts it. Its cleanup, registered before the node's, runs
// after it: containers are stopped and unmounted first, then the file
// system goes and its loop device detaches itself (autoclear).
func scratchFS(t *testing.T, fstype string, size int64) string {
	t.Helper()
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, fstype+".img"), filepath.Join(dir, "mnt")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	mkfs := exec.Command("mkfs."+fstype, "-q", img)
	if fstype == "ext4" {
		mkfs = exec.Command("mkfs.ext4", "-q", "-F", img)
	}
	if out, err := mkfs.CombinedOutput(); err != nil {
		t.Fatalf("mkfs.%s: %v: %s", fstype, err, out)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := ""
	if fstype == "btrfs" {
		// The cleaner that drops deleted subvolumes (and their qgroups)
		// runs after each periodic commit: every second, not every 30.
		opts = "commit=1"
	}
	if err := image.Mount(img, mnt, fstype, 0, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A process of the test's containers that is still exiting (a
		// supervisor closing its log in the run directory) keeps the file
		// system busy for a moment after stop returns: wait for it, and say
		// so, rather than fail or detach at once.
		start := time.Now()
		err := unix.Unmount(mnt, 0)
		for ; errors.Is(err, unix.EBUSY) && time.Since(start) < 3*time.Second; err = unix.Unmount(mnt, 0) {
			time.Sleep(50 * time.Millisecond)
		}
		if err == nil && time.Since(start) > 50*time.Millisecond {
			t.Logf("scratch %s was busy for %v after the test", fstype, time.Since(start).Round(time.Millisecond))
		}
		if err != nil {
			t.Errorf("unmounting scratch %s: %v", fstype, err)
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
		// Not an error of the code under test: a process elsewhere that
		// unshared its mount namespace while this file system was mounted
		// holds a copy of the mount, and the loop device with it.
		if loops := settledLoops(dir); len(loops) > 0 {
			t.Logf("scratch loop device still attached (pinned by another mount namespace?): %v", loops)
		}
	})
	return mnt
}

// settledLoops lists the loop devices backed by files under dir, giving
// the kernel a moment: an autoclear loop device detaches asynchronously
// after its last user goes.
func settledLoops(dir string) []string {
	var loops []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if loops, _ = image.LoopsOf(dir); len(loops) == 0 {
			break
		}
	}
	return loops
}

// hostNum runs a host command that prints one number.
func hostNum(t *testing.T, script string) int64 {
	t.Helper()
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", script, err, out)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatalf("%s: not a number: %q", script, out)
	}
	return v
}

// newNodeOn is newNode with the installation on the file system at dir.
func newNodeOn(t *testing.T, dir string) *node {
	t.Helper()
	n := &node{t: t, root: filepath.Join(dir, "vz"), cgParent: uniqueCgroupParent()}
	cache := n.path("template/cache")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, busyboxTmpl, filepath.Join(cache, filepath.Base(busyboxTmpl)))
	n.writeFile("conf/vz.toml", n.baseVZConf())
	t.Cleanup(n.cleanup)
	return n
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// num runs a command that prints one number.
func (n *node) num(name string, args ...string) int64 {
	n.t.Helper()
	r := n.ok(name, args...)
	v, err := strconv.ParseInt(strings.TrimSpace(r.out), 10, 64)
	if err != nil {
		n.t.Fatalf("%s %v: not a number: %q", name, args, r.out)
	}
	return v
}

// dfInside returns the container's view of its root: total and used
// 1 KiB blocks, total and used inodes.
func (n *node) dfInside(id string) (total, used, itotal, iused int64) {
	n.t.Helper()
	get := func(flag string) (int64, int64) {
		r := n.ok("vzctl", "exec2", id, "df "+flag+" / | tail -n 1")
		f := strings.Fields(r.out)
		if len(f) < 3 {
			n.t.Fatalf("df %s inside: %q", flag, r.out)
		}
		a, _ := strconv.ParseInt(f[1], 10, 64)
		b, _ := strconv.ParseInt(f[2], 10, 64)
		return a, b
	}
	total, used = get("-k")
	itotal, iused = get("-i")
	return
}

// within reports whether got is within pct percent of want.
func within(got, want int64, pct float64) bool {
	d := float64(got - want)
	return d*d <= (pct/100*float64(want))*(pct/100*float64(want))
}

func statfsUsed(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Blocks-st.Bfree) * st.Bsize
}

// qgroups lists the level-0 qgroup ids of the btrfs at mnt.
func qgroups(t *testing.T, mnt string) []string {
	t.Helper()
	out, err := exec.Command("btrfs", "qgroup", "show", mnt).CombinedOutput()
	if err != nil {
		t.Fatalf("btrfs qgroup show: %v: %s", err, out)
	}
	var ids []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "0/") {
			ids = append(ids, f[0])
		}
	}
	return ids
}

// subvolumes lists the paths of the subvolumes of the btrfs at mnt.
func subvolumes(t *testing.T, mnt string) []string {
	t.Helper()
	out, err := exec.Command("btrfs", "subvolume", "list", mnt).CombinedOutput()
	if err != nil {
		t.Fatalf("btrfs subvolume list: %v: %s", err, out)
	}
	var paths []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if i := strings.Index(l, " path "); i >= 0 {
			paths = append(paths, l[i+6:])
		}
	}
	return paths
}

// btrfsSettled waits until deleted subvolumes are dropped and returns the
// qgroups left.
func btrfsSettled(t *testing.T, mnt string, wantQgroups int) []string {
	t.Helper()
	if out, err := exec.Command("btrfs", "subvolume", "sync", mnt).CombinedOutput(); err != nil {
		t.Fatalf("btrfs subvolume sync: %v: %s", err, out)
	}
	var q []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if q = qgroups(t, mnt); len(q) <= wantQgroups {
			break
		}
	}
	return q
}

func TestStorageBtrfsQuota(t *testing.T) {
	mnt := scratchFS(t, "btrfs", 2<<30)
	n := newNodeOn(t, mnt)
	n.ok("vzctl", "create", "101", "--layout", "btrfs", "--diskspace", "64M")
	n.ok("vzctl", "create", "102", "--layout", "auto", "--diskspace", "64M")
	if r := n.ok("vzlist", "-a", "-H", "-o", "ctid,layout,diskspace.h"); !strings.Contains(r.out, "101  btrfs      65536") || !strings.Contains(r.out, "102  btrfs      65536") {
		t.Fatalf("vzlist: %q", r.out)
	}
	if cfg, _ := os.ReadFile(n.path("conf/101.toml")); !strings.Contains(string(cfg), `ve_layout = "btrfs"`) {
		t.Fatalf("the config does not record the layout:\n%s", cfg)
	}
	n.ok("vzctl", "start", "101")
	fsBefore := statfsUsed(t, mnt)
	r := n.run("vzctl", "exec2", "101", "dd if=/dev/zero of=/fill bs=1M count=200")
	if r.code == 0 || !strings.Contains(r.err+r.out, "quota exceeded") {
		t.Fatalf("filling past 64M:\n%s", r)
	}
	st, err := os.Stat(n.path("root/101/fill"))
	if err != nil {
		t.Fatal(err)
	}
	unix.Sync()
	usage := n.num("vzlist", "-H", "-o", "diskspace", "101")
	if usage > 64<<10 || usage < 60<<10 || st.Size() > 64<<20 {
		t.Fatalf("limit 64M: usage %dK, file %d bytes", usage, st.Size())
	}
	// The file system the installation lives on took the container's
	// 64M and no more: it did not fill up.
	if grown := statfsUsed(t, mnt) - fsBefore; grown > 72<<20 {
		t.Fatalf("the file system grew %d bytes for a 64M container", grown)
	}
	du := hostNum(t, "du -sk "+n.path("private/101")+" | cut -f1")
	if !within(usage, du, 5) {
		t.Fatalf("vzlist usage %dK, du %dK", usage, du)
	}
	// The neighbour does not notice.
	n.ok("vzctl", "mount", "102")
	if err := os.WriteFile(n.path("root/102/data"), make([]byte, 16<<20), 0o644); err != nil {
		t.Fatalf("neighbour write: %v", err)
	}
	n.ok("vzctl", "umount", "102")
	// A live raise applies at once, without a restart.
	n.ok("vzctl", "set", "101", "--diskspace", "128M")
	n.ok("vzctl", "exec2", "101", "dd if=/dev/zero of=/more bs=1M count=40")
	n.ok("vzctl", "stop", "101")
	// Saved limits survive; vzlist shows them.
	n.ok("vzctl", "set", "101", "--diskspace", "100M", "--save")
	if h := n.num("vzlist", "-a", "-H", "-o", "diskspace.h", "101"); h != 100<<10 {
		t.Fatalf("diskspace.h %d", h)
	}
	before := subvolumes(t, mnt)
	n.ok("vzctl", "destroy", "101")
	n.ok("vzctl", "destroy", "102")
	after := subvolumes(t, mnt)
	if len(after) != len(before)-2 {
		t.Fatalf("subvolumes before destroy %v, after %v", before, after)
	}
	for _, s := range after {
		if !strings.Contains(s, "/.tmplcache/") {
			t.Fatalf("subvolume left after destroy: %s (all: %v)", s, after)
		}
	}
	// Left: the top level's and the cached template's.
	if q := btrfsSettled(t, mnt, 2); len(q) != 2 {
		t.Fatalf("qgroups left after destroy: %v", q)
	}
	if ents, _ := os.ReadDir(n.path("private")); len(ents) != 1 {
		t.Fatalf("private/ holds %v, want only the template cache", ents)
	}
}

func TestStorageImage(t *testing.T) {
	mnt := scratchFS(t, "ext4", 2<<30)
	n := newNodeOn(t, mnt)
	n.fails(63, "vzctl", "create", "100", "--layout", "image", "--diskspace", "unlimited")
	n.fails(99, "vzctl", "create", "100", "--layout", "btrfs")
	n.fails(21, "vzctl", "create", "100", "--layout", "ploop")
	if ents, _ := os.ReadDir(n.path("private")); len(ents) > 1 {
		t.Fatalf("failed creates left %v", ents)
	}
	// auto picks image off btrfs when there is a size, dir without one.
	n.ok("vzctl", "create", "100", "--layout", "auto", "--diskspace", "64M")
	n.ok("vzctl", "create", "99", "--layout", "auto", "--diskspace", "unlimited")
	if r := n.ok("vzlist", "-a", "-H", "-o", "ctid,layout"); strings.Join(strings.Fields(r.out), " ") != "99 dir 100 image" {
		t.Fatalf("auto layouts: %q", r.out)
	}
	n.ok("vzctl", "destroy", "99")
	n.ok("vzctl", "destroy", "100")
	n.ok("vzctl", "create", "101", "--layout", "image", "--diskspace", "64M", "--diskinodes", "4000:4000")
	n.ok("vzctl", "start", "101")
	total, _, itotal, _ := n.dfInside("101")
	if total > 64<<10 || total < 58<<10 {
		t.Fatalf("df inside a 64M image: %dK", total)
	}
	if !within(itotal, 4000, 3) {
		t.Fatalf("df -i inside: %d inodes for diskinodes 4000", itotal)
	}

	// Space: the writer gets ENOSPC from its own file system, and the
	// file system holding the image does not fill.
	fsBefore := statfsUsed(t, mnt)
	r := n.run("vzctl", "exec2", "101", "dd if=/dev/zero of=/fill bs=1M count=100")
	if r.code == 0 || !strings.Contains(r.err+r.out, "No space left") {
		t.Fatalf("filling past 64M:\n%s", r)
	}
	_, used, _, _ := n.dfInside("101")
	if used > 64<<10 || used < 56<<10 {
		t.Fatalf("used %dK of a 64M image when full", used)
	}
	if grown := statfsUsed(t, mnt) - fsBefore; grown > 72<<20 {
		t.Errorf("the file system holding the image grew %d bytes", grown)
	}
	n.ok("vzctl", "exec2", "101", "rm /fill")

	// Inodes.
	r = n.ok("vzctl", "exec2", "101", "mkdir /many && i=0; while touch /many/f$i 2>/dev/null; do i=$((i+1)); done; echo $i")
	made, _ := strconv.Atoi(strings.TrimSpace(r.out))
	_, _, itotal, iused := n.dfInside("101")
	if iused != itotal || !within(iused, 4000, 3) || made < 3000 {
		t.Fatalf("inode limit 4000: created %d files, %d of %d inodes used", made, iused, itotal)
	}
	n.ok("vzctl", "exec2", "101", "rm -rf /many")

	// vzlist's usage is the file system's, matching du inside.
	n.ok("vzctl", "exec2", "101", "dd if=/dev/urandom of=/data bs=1M count=30 2>/dev/null; sync")
	usage := n.num("vzlist", "-H", "-o", "diskspace", "101")
	du := n.num("vzctl", "exec2", "101", "du -skx / | cut -f1")
	if !within(usage, du, 5) {
		t.Fatalf("vzlist usage %dK, du inside %dK", usage, du)
	}
	inodes := n.num("vzlist", "-H", "-o", "diskinodes", "101")
	files := n.num("vzctl", "exec2", "101", "find / -xdev | wc -l")
	if !within(inodes, files, 5) {
		t.Fatalf("vzlist inodes %d, find inside %d", inodes, files)
	}

	// Grow while running: df inside shows it at once. ext4 grows online
	// only with CAP_SYS_RESOURCE; where a sandbox took it away, the
	// refusal must be clean and the offline path must work.
	if image.HaveSysResource() {
		n.ok("vzctl", "set", "101", "--diskspace", "128M", "--save")
	} else {
		r := n.fails(154, "vzctl", "set", "101", "--diskspace", "128M", "--save")
		if !strings.Contains(r.err, "CAP_SYS_RESOURCE") || !strings.Contains(r.err, "offline") {
			t.Fatalf("refused online grow does not say why:\n%s", r)
		}
		if h := n.num("vzlist", "-H", "-o", "diskspace.h", "101"); h != 64<<10 {
			t.Fatalf("a refused grow was saved: diskspace.h %d", h)
		}
		t.Log("no CAP_SYS_RESOURCE here: online grow refused as it must be; growing offline instead")
		n.ok("vzctl", "stop", "101")
		n.ok("vzctl", "set", "101", "--diskspace", "128M", "--save")
		n.ok("vzctl", "start", "101")
	}
	total, _, _, _ = n.dfInside("101")
	if total > 128<<10 || total < 118<<10 {
		t.Fatalf("df inside after growing to 128M: %dK", total)
	}
	if got := n.ok("vzctl", "exec2", "101", "wc -c < /data"); strings.TrimSpace(got.out) != strconv.Itoa(30<<20) {
		t.Fatalf("data after grow: %q", got.out)
	}
	// Shrinking is offline only.
	n.fails(41, "vzctl", "set", "101", "--diskspace", "96M", "--save")
	n.ok("vzctl", "stop", "101")
	n.ok("vzctl", "set", "101", "--diskspace", "96M", "--save")
	n.fails(154, "vzctl", "set", "101", "--diskspace", "8M", "--save")
	n.ok("vzctl", "start", "101")
	total, _, _, _ = n.dfInside("101")
	if total > 96<<10 || total < 88<<10 {
		t.Fatalf("df inside after shrinking to 96M: %dK", total)
	}
	if got := n.ok("vzctl", "exec2", "101", "wc -c < /data"); strings.TrimSpace(got.out) != strconv.Itoa(30<<20) {
		t.Fatalf("data after shrink: %q", got.out)
	}
	n.ok("vzctl", "stop", "101")
	if loops := settledLoops(n.root); len(loops) != 0 {
		t.Fatalf("loop devices left after stop: %v", loops)
	}
	n.ok("vzctl", "destroy", "101")
	for _, p := range []string{"private/101", "root/101"} {
		if _, err := os.Stat(n.path(p)); !os.IsNotExist(err) {
			t.Fatalf("%s left after destroy: %v", p, err)
		}
	}
}

// miniTemplate writes a tiny template whose /etc/version says v.
func (n *node) miniTemplate(name, v string) {
	n.writeTemplate(name, []tarEntry{dir("./"), dir("./etc/"), dir("./sbin/"),
		file("./sbin/init", "#!/bin/sh\n"), file("./etc/version", v)})
}

func TestStorageTemplateCache(t *testing.T) {
	mnt := scratchFS(t, "btrfs", 2<<30)
	n := newNodeOn(t, mnt)
	// Concurrent first uses: one build, every create succeeds.
	var wg sync.WaitGroup
	res := make([]result, 8)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"create", strconv.Itoa(101 + i), "--layout", "btrfs"}
			if i%2 == 1 {
				args = []string{"create", strconv.Itoa(101 + i), "--layout", "image", "--diskspace", "64M"}
			}
			res[i] = n.run("vzctl", args...)
		}()
	}
	wg.Wait()
	for i, r := range res {
		if r.code != 0 {
			t.Fatalf("create %d:\n%s", 101+i, r)
		}
	}
	ents, _ := storage.CachedTemplates(n.path("private"))
	if len(ents) != 2 {
		t.Fatalf("template cache after concurrent creates: %v, want one subvolume and one image", ents)
	}
	for i := range res {
		n.ok("vzctl", "mount", strconv.Itoa(101+i))
		if _, err := os.Stat(n.path(fmt.Sprintf("root/%d/bin/busybox", 101+i))); err != nil {
			t.Fatalf("container %d: %v", 101+i, err)
		}
		n.ok("vzctl", "umount", strconv.Itoa(101+i))
	}

	// A changed tarball is noticed: the next create gets the new tree and
	// the old cached copy goes. Creates made from the old one keep it. An
	// overlay lower is the old containers' file system: it stays until
	// the last of them is destroyed.
	for _, layout := range []string{"btrfs", "image", "overlay"} {
		n.miniTemplate("mini", "one")
		n.ok("vzctl", "create", "201", "--ostemplate", "mini", "--layout", layout, "--diskspace", "64M")
		n.miniTemplate("mini", "two")
		n.ok("vzctl", "create", "202", "--ostemplate", "mini", "--layout", layout, "--diskspace", "64M")
		for id, want := range map[string]string{"201": "one", "202": "two"} {
			n.ok("vzctl", "mount", id)
			if b, _ := os.ReadFile(n.path("root/" + id + "/etc/version")); string(b) != want {
				t.Fatalf("%s container %s has version %q, want %q", layout, id, b, want)
			}
			n.ok("vzctl", "umount", id)
		}
		mini := func() (c int) {
			ents, _ := storage.CachedTemplates(n.path("private"))
			for _, e := range ents {
				if strings.HasPrefix(e, "mini@") {
					c++
				}
			}
			return c
		}
		want := 1
		if layout == "overlay" {
			want = 2
		}
		if c := mini(); c != want {
			t.Fatalf("%s: cache holds %d entries for mini, want %d", layout, c, want)
		}
		n.ok("vzctl", "destroy", "201")
		if c := mini(); c != 1 {
			t.Fatalf("%s: after the old template's last container went the cache holds %d entries for mini, want 1", layout, c)
		}
		n.ok("vzctl", "destroy", "202")
		if layout == "overlay" {
			n.ok("vzctl", "create", "203", "--ostemplate", "mini", "--layout", layout)
			n.ok("vzctl", "destroy", "203")
		}
	}
}

func TestStorageKilledCreate(t *testing.T) {
	for _, layout := range []string{"btrfs", "image", "overlay"} {
		t.Run(layout, func(t *testing.T) {
			fstype := map[string]string{"btrfs": "btrfs", "image": "ext4", "overlay": "ext4"}[layout]
			mnt := scratchFS(t, fstype, 1<<30)
			n := newNodeOn(t, mnt)
			entries := []tarEntry{dir("./"), dir("./sbin/"), file("./sbin/init", "#!/bin/sh\n")}
			for d := 0; d < 40; d++ {
				entries = append(entries, dir(fmt.Sprintf("./d%d/", d)))
				for f := 0; f < 250; f++ {
					entries = append(entries, file(fmt.Sprintf("./d%d/f%d", d, f), strings.Repeat("x", 512)))
				}
			}
			n.writeTemplate("big", entries)
			c := n.cmd("vzctl", "create", "101", "--ostemplate", "big", "--layout", layout, "--diskspace", "256M")
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			killed := false
			for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !killed; time.Sleep(2 * time.Millisecond) {
				ents, _ := storage.CachedTemplates(n.path("private"))
				for _, e := range ents {
					if strings.Contains(e, ".tmp-") {
						c.Process.Kill() // SIGKILL in the middle of the cache build
						killed = true
					}
				}
			}
			c.Wait()
			if !killed {
				t.Fatal("create finished before it could be killed")
			}
			if s := n.status("101"); s != "CTID 101 deleted unmounted down" {
				t.Fatalf("killed create looks like a container: %q", s)
			}
			n.ok("vzctl", "create", "101", "--ostemplate", "big", "--layout", layout, "--diskspace", "256M")
			ents, _ := storage.CachedTemplates(n.path("private"))
			if len(ents) != 1 || strings.Contains(ents[0], ".tmp-") {
				t.Fatalf("template cache after a killed build: %v", ents)
			}
			if layout == "btrfs" {
				// A create killed after its snapshot: simulate the state a
				// dead holder leaves (its lock record, a .tmp subvolume)
				// and check the next command deletes the subvolume.
				n.ok("vzctl", "destroy", "101")
				if out, err := exec.Command("btrfs", "subvolume", "create", n.path("private/101.tmp")).CombinedOutput(); err != nil {
					t.Fatalf("btrfs subvolume create: %v: %s", err, out)
				}
				rec := fmt.Sprintf("999999 create %q %q\n", n.path("private/101"), n.path("root/101"))
				n.writeFile("lock/101.lck", rec)
				r := n.ok("vzctl", "create", "101", "--ostemplate", "big", "--layout", layout)
				if !strings.Contains(r.err, "did not finish") {
					t.Fatalf("recovery not reported:\n%s", r)
				}
				for _, s := range subvolumes(t, mnt) {
					if strings.HasSuffix(s, "101.tmp") {
						t.Fatalf("stale subvolume survived recovery: %v", subvolumes(t, mnt))
					}
				}
			}
			n.ok("vzctl", "destroy", "101")
			if loops := settledLoops(n.root); len(loops) != 0 {
				t.Fatalf("loop devices left: %v", loops)
			}
		})
	}
}

// storageDebianTemplate is the cached Debian template (GOVZ_DEBIAN_TEMPLATE
// overrides the path).
func storageDebianTemplate(t *testing.T) string {
	t.Helper()
	p := os.Getenv("GOVZ_DEBIAN_TEMPLATE")
	if p == "" {
		p = "/var/cache/govz-dev/template/cache/debian-12-" + arch() + ".tar.gz"
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("Debian template %s missing (make template-debian builds it): %v", p, err)
	}
	return p
}

// TestStorageDebianTreesIdentical creates the Debian template on every
// layout and compares the trees: the same files with the same content,
// owners, modes, times, links and xattrs, whatever stores them.
func TestStorageDebianTreesIdentical(t *testing.T) {
	mnt := scratchFS(t, "btrfs", 3<<30)
	n := newNodeOn(t, mnt)
	src := storageDebianTemplate(t)
	copyFile(t, src, n.path("template/cache/"+filepath.Base(src)))
	name := strings.TrimSuffix(filepath.Base(src), ".tar.gz")
	layouts := []string{"dir", "btrfs", "image", "overlay"}
	for i, l := range layouts {
		id := strconv.Itoa(101 + i)
		n.ok("vzctl", "create", id, "--ostemplate", name, "--layout", l, "--diskspace", "2G")
		n.ok("vzctl", "mount", id)
	}
	ref := treeDigest(t, n.path("root/101"))
	if len(ref) < 5000 {
		t.Fatalf("the Debian tree has only %d entries", len(ref))
	}
	for i, l := range layouts[1:] {
		id := strconv.Itoa(102 + i)
		got := treeDigest(t, n.path("root/"+id))
		// ext4 keeps its own lost+found at the root of an image.
		if l == "image" {
			delete(got, "/lost+found")
		}
		// The overlay's mount shows the container's IDs already.
		if l == "overlay" {
			uid, gid := idBase(t, n, id)
			unshift(got, uid, gid)
		}
		diffs := 0
		for p, want := range ref {
			if got[p] != want && diffs < 10 {
				t.Errorf("%s: %s\n  dir:   %s\n  %s: %s", l, p, want, l, got[p])
				diffs++
			}
		}
		for p := range got {
			if _, ok := ref[p]; !ok && diffs < 10 {
				t.Errorf("%s: extra %s", l, p)
				diffs++
			}
		}
	}
	for i := range layouts {
		id := strconv.Itoa(101 + i)
		n.ok("vzctl", "umount", id)
		n.ok("vzctl", "destroy", id)
	}
	if loops := settledLoops(n.root); len(loops) != 0 {
		t.Fatalf("loop devices left: %v", loops)
	}
}

// treeDigest describes every entry under root, keyed by path: type, mode,
// owner, size, times, link target or content hash, hard link count and
// xattrs. Directory sizes and link counts are left out: they are the file
// system's bookkeeping (btrfs counts a directory's names, ext4 its
// blocks), not the tree's.
// writtenAtCreate says whether vzctl create writes path of a systemd
// guest's tree (the checkpoint drop-ins, docs/GUESTS.md): its time is the
// create's, which differs between containers made a second apart; its
// content is still compared.
func writtenAtCreate(rel string) bool {
	const dir = "/etc/systemd/system"
	return rel == dir || strings.HasPrefix(rel, dir+"/") &&
		(strings.HasSuffix(rel, ".service.d") || strings.HasSuffix(rel, "/govz-checkpoint.conf"))
}

func treeDigest(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, root)
		if rel == "" {
			rel = "/"
		}
		st := fi.Sys().(*syscall.Stat_t)
		mtime := fmt.Sprint(st.Mtim.Sec)
		if writtenAtCreate(rel) {
			mtime = "(vzctl create)"
		}
		d := fmt.Sprintf("mode=%o uid=%d gid=%d mtime=%s", st.Mode, st.Uid, st.Gid, mtime)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			d += " -> " + target
		case unix.S_IFREG:
			d += fmt.Sprintf(" size=%d nlink=%d sha=%s", st.Size, st.Nlink, fileSHA(t, p))
		default:
			d += fmt.Sprintf(" rdev=%d nlink=%d", st.Rdev, st.Nlink)
		}
		d += " xattrs=" + xattrs(p)
		out[rel] = d
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func fileSHA(t *testing.T, p string) string {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func xattrs(p string) string {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	sort.Strings(names)
	var out []string
	for _, name := range names {
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			out = append(out, name+"=?"+err.Error())
			continue
		}
		out = append(out, fmt.Sprintf("%s=%x", name, v[:m]))
	}
	return strings.Join(out, ",")
}
