package storage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/conf"
	"govz/quota/btrfs"
	"govz/quota/image"
	"govz/quota/projquota"
	"govz/templates/untar"
	"govz/tests/testvm"
)

// Project quota needs a kernel with CONFIG_QFMT_V2, and an online ext4
// grow needs CAP_SYS_RESOURCE; the development machines have neither. So
// TestStorageInVM boots Debian's stock kernel under qemu (package testvm,
// shared/reference/testvm.md), with the host's root file system shared
// read-only over 9p as the VM's root, and runs this test binary's TestVM*
// tests there as PID 1's child. Without qemu or a Debian kernel it skips,
// saying so.

// inVM is set in the VM's environment.
const inVMEnv = "GOVZ_STORAGE_VM"

func TestStorageInVM(t *testing.T) {
	if os.Getenv(inVMEnv) != "" {
		t.Skip("already inside the VM")
	}
	if reason := testvm.Available(); reason != "" {
		t.Skip(reason + ": project quota and online image grow untested")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := testvm.Run(t, testvm.Options{
		Script: fmt.Sprintf(`for m in loop ext4 quota_v2 btrfs; do modprobe $m; done
%s=1 %s -test.run '^TestVM' -test.v -test.count=1`, inVMEnv, self),
		Timeout: 8 * time.Minute,
	})
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "--- ") || strings.Contains(l, "vm_test.go") {
			t.Log("vm: " + strings.TrimSpace(l))
		}
	}
}

// vmOnly skips a test outside the VM: TestStorageInVM runs it there.
func vmOnly(t *testing.T) {
	t.Helper()
	if os.Getenv(inVMEnv) == "" {
		t.Skip("runs inside the test VM (TestStorageInVM)")
	}
}

// smallTemplate writes a gzip'ed tarball of 40 files of 4 KiB.
func smallTemplate(t *testing.T, dir string) Template {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "./etc/", Typeflag: tar.TypeDir, Mode: 0o755})
	for i := range 40 {
		body := bytes.Repeat([]byte{byte(i)}, 4096)
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("./etc/f%d", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write(body)
	}
	tw.Close()
	gz.Close()
	p := filepath.Join(dir, "small.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return Template{Name: "small", Path: p, Extract: func(path, dir string, progress func(int64, int64), warnf func(string, ...any)) error {
		return untar.ExtractFile(path, dir, untar.Options{Progress: progress, Warnf: warnf})
	}}
}

// workerEnv makes the test binary a worker that fills a file system as
// told (see vmWorker).
const workerEnv = "GOVZ_STORAGE_VM_WORKER"

// noSysResource runs this binary as a worker without CAP_SYS_RESOURCE, as a
// container's root should run, and returns what it printed.
func noSysResource(t *testing.T, job, path string) string {
	t.Helper()
	self, _ := os.Executable()
	cmd := exec.Command("setpriv", "--bounding-set=-sys_resource", "--", self)
	cmd.Env = append(os.Environ(), workerEnv+"="+job+":"+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("worker %s: %v: %s", job, err, out)
	}
	return string(out)
}

// vmWorker does a worker's job: "fill:FILE" writes FILE until refused (at
// most 64 MiB), "files:DIR" creates empty files in DIR until refused (at
// most 10000).
func vmWorker(spec string) {
	job, path, _ := strings.Cut(spec, ":")
	switch job {
	case "fill":
		n, err := fill(path, 64<<20)
		fmt.Printf("wrote=%d err=%v\n", n, err)
	case "files":
		made := 0
		var err error
		for ; made < 10000; made++ {
			var f *os.File
			if f, err = os.Create(filepath.Join(path, fmt.Sprintf("i%d", made))); err != nil {
				break
			}
			f.Close()
		}
		fmt.Printf("made=%d err=%v\n", made, err)
	}
}

// fill writes to path until the file system refuses or max bytes are
// written; it returns the bytes written and the error that stopped it.
// Quota and free space are charged when write() reserves the blocks, so
// the refusal comes from write itself, delayed allocation or not.
func fill(path string, max int64) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := bytes.Repeat([]byte{1}, 256<<10)
	var n int64
	for n < max {
		w, err := f.Write(buf)
		n += int64(w)
		if err != nil {
			return n, err
		}
	}
	return n, f.Sync()
}

func TestVMDirProjectQuota(t *testing.T) {
	vmOnly(t)
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "pq.img"), filepath.Join(dir, "fs")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-O", "quota,project", "-E", "quotatype=prjquota", img, "256M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v: %s", err, out)
	}
	if err := image.Mount(img, mnt, "ext4", 0, "prjquota"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(mnt, unix.MNT_DETACH)
	if err := projquota.Check(mnt); err != nil {
		t.Fatalf("project quota on a prjquota mount: %v", err)
	}
	log := &testLog{}
	d := &dirLayout{log: log}
	c := CT{ID: 4242, Private: filepath.Join(mnt, "private", "4242"), Root: filepath.Join(mnt, "root", "4242")}
	os.MkdirAll(filepath.Dir(c.Private), 0o755)
	os.MkdirAll(c.Root, 0o755)
	lim := Limits{SpaceSoftKB: 6 << 10, SpaceHardKB: 8 << 10, InodesSoft: 200, InodesHard: 300, GraceSeconds: 3600}
	if err := d.Create(c, smallTemplate(t, dir), lim); err != nil {
		t.Fatal(err)
	}
	if id, err := projquota.ProjectOf(c.Private); err != nil || id != 4242 {
		t.Fatalf("project of the private area: %d, %v", id, err)
	}
	if err := d.Mount(c); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(c.Root, unix.MNT_DETACH)
	// df inside shows the container's limit, not the file system's size:
	// ext4 reports the soft limit when there is one (ext4_statfs_project).
	var st unix.Statfs_t
	unix.Statfs(c.Root, &st)
	if total := int64(st.Blocks) * st.Bsize; total != 6<<20 {
		t.Fatalf("statfs at the root: %d bytes, want the 6M soft limit", total)
	}
	if int64(st.Files) != 200 {
		t.Fatalf("statfs at the root: %d inodes, want the 200 soft limit", st.Files)
	}
	// The tree: the root, etc and 40 files of 4 KiB.
	const treeInodes = 42
	u, err := d.Usage(c, true)
	if err != nil || u.SpaceKB == nil || u.Inodes == nil {
		t.Fatalf("usage after create: %+v, %v", u, err)
	}
	if *u.Inodes != treeInodes || *u.SpaceKB < 160 || *u.SpaceKB > 200 {
		t.Fatalf("usage after create: %dK, %d inodes; want about 168K and %d", *u.SpaceKB, *u.Inodes, treeInodes)
	}
	// Quota does not hold against CAP_SYS_RESOURCE (ignore_hardlimit in
	// fs/quota/dquot.c): a container that keeps the capability escapes
	// its limit. This process has it:
	if n, err := fill(filepath.Join(c.Root, "escape"), 12<<20); err != nil || n != 12<<20 {
		t.Fatalf("with CAP_SYS_RESOURCE: %d bytes, %v; the kernel now enforces quota against it", n, err)
	}
	os.Remove(filepath.Join(c.Root, "escape"))
	// Without it, as a container's root should be, the limit holds.
	r := noSysResource(t, "fill", filepath.Join(c.Root, "fill"))
	if !strings.Contains(r, "quota exceeded") {
		t.Fatalf("filling past the limit without CAP_SYS_RESOURCE: %s", r)
	}
	u, _ = d.Usage(c, true)
	if *u.SpaceKB > 8<<10 || *u.SpaceKB < 7<<10 {
		t.Fatalf("usage when full: %dK of 8M", *u.SpaceKB)
	}
	os.Remove(filepath.Join(c.Root, "fill"))
	r = noSysResource(t, "files", c.Root)
	if want := fmt.Sprintf("made=%d ", 300-treeInodes); !strings.Contains(r, want) || !strings.Contains(r, "quota exceeded") {
		t.Fatalf("inode limit 300 with %d used: %s, want %s", treeInodes, r, want)
	}
	// Live raise.
	lim2 := lim
	lim2.SpaceSoftKB, lim2.SpaceHardKB, lim2.InodesSoft, lim2.InodesHard = 16<<10, 16<<10, 1000, 1000
	if err := d.SetLimits(c, lim, lim2, true); err != nil {
		t.Fatal(err)
	}
	unix.Statfs(c.Root, &st)
	if total := int64(st.Blocks) * st.Bsize; total != 16<<20 {
		t.Fatalf("statfs after the raise: %d bytes", total)
	}
	if n, err := fill(filepath.Join(c.Root, "more"), 12<<20); err != nil {
		t.Fatalf("write after the raise: %d, %v", n, err)
	}
	// A tree made without a project (a container created before quota was
	// on) is moved into it by SetLimits.
	c2 := CT{ID: 4343, Private: filepath.Join(mnt, "private", "4343")}
	os.MkdirAll(filepath.Join(c2.Private, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(c2.Private, "a", "b", "f"), make([]byte, 1<<20), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(c2.Private, "a", "link"))
	if err := d.SetLimits(c2, NoLimits(), Limits{SpaceSoftKB: conf.Unlimited, SpaceHardKB: 4 << 10, InodesSoft: conf.Unlimited, InodesHard: conf.Unlimited}, false); err != nil {
		t.Fatal(err)
	}
	if id, _ := projquota.ProjectOf(filepath.Join(c2.Private, "a", "b")); id != 4343 {
		t.Fatalf("nested directory in project %d", id)
	}
	if u, _ := d.Usage(c2, false); u.SpaceKB == nil || *u.SpaceKB < 1024 {
		t.Fatalf("usage of the moved tree: %+v", u)
	}
	if err := d.Umount(c); err != nil {
		t.Fatal(err)
	}
	if err := d.Destroy(c); err != nil {
		t.Fatal(err)
	}
	if _, l, err := projquota.Get(mnt, 4242); err != nil || l.BlockHardKB != 0 || l.InodeHard != 0 {
		t.Fatalf("limits left after destroy: %+v, %v", l, err)
	}
}

func TestVMImageOnlineGrow(t *testing.T) {
	vmOnly(t)
	if !image.HaveSysResource() {
		t.Fatal("no CAP_SYS_RESOURCE even in the VM")
	}
	dir := t.TempDir()
	m := &imageLayout{log: &testLog{}}
	c := CT{ID: 7, Private: filepath.Join(dir, "private", "7"), Root: filepath.Join(dir, "root", "7")}
	os.MkdirAll(filepath.Dir(c.Private), 0o755)
	os.MkdirAll(c.Root, 0o755)
	lim := NoLimits()
	lim.SpaceSoftKB, lim.SpaceHardKB = 64<<10, 64<<10
	if err := m.Create(c, smallTemplate(t, dir), lim); err != nil {
		t.Fatal(err)
	}
	if err := m.Mount(c); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(c.Root, unix.MNT_DETACH)
	os.WriteFile(filepath.Join(c.Root, "keep"), []byte("data"), 0o644)
	var st unix.Statfs_t
	unix.Statfs(c.Root, &st)
	before := int64(st.Blocks) * st.Bsize
	lim2 := lim
	lim2.SpaceSoftKB, lim2.SpaceHardKB = 256<<10, 256<<10
	if err := m.SetLimits(c, lim, lim2, true); err != nil {
		t.Fatal(err)
	}
	unix.Statfs(c.Root, &st)
	after := int64(st.Blocks) * st.Bsize
	if before > 64<<20 || after < 230<<20 || after > 256<<20 {
		t.Fatalf("statfs before the online grow %d, after %d", before, after)
	}
	if b, _ := os.ReadFile(filepath.Join(c.Root, "keep")); string(b) != "data" {
		t.Fatalf("data after the grow: %q", b)
	}
	if n, err := fill(filepath.Join(c.Root, "big"), 100<<20); err != nil {
		t.Fatalf("writing into the grown space: %d, %v", n, err)
	}
	if err := m.Umount(c); err != nil {
		t.Fatal(err)
	}
	if sz, err := image.FSSize(imageFile(c.Private)); err != nil || sz != 256<<20 {
		t.Fatalf("image after the grow: %d, %v", sz, err)
	}
}

// Unlike project quota, a qgroup limit holds against CAP_SYS_RESOURCE: the
// btrfs layout's limits bind a container that keeps the capability.
func TestVMBtrfsQgroupHoldsAgainstSysResource(t *testing.T) {
	vmOnly(t)
	if !image.HaveSysResource() {
		t.Fatal("no CAP_SYS_RESOURCE even in the VM")
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "b.img"), filepath.Join(dir, "fs")
	os.Mkdir(mnt, 0o755)
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Truncate(img, 512<<20)
	if out, err := exec.Command("mkfs.btrfs", "-q", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.btrfs: %v: %s", err, out)
	}
	if err := image.Mount(img, mnt, "btrfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(mnt, unix.MNT_DETACH)
	b := &btrfsLayout{log: &testLog{}}
	sv := filepath.Join(mnt, "ct")
	if err := btrfs.CreateSubvolume(sv); err != nil {
		t.Fatal(err)
	}
	lim := NoLimits()
	lim.SpaceSoftKB, lim.SpaceHardKB = 16<<10, 16<<10
	if err := b.setLimits(sv, NoLimits(), lim); err != nil {
		t.Fatal(err)
	}
	n, err := fill(filepath.Join(sv, "fill"), 64<<20)
	if !errors.Is(err, unix.EDQUOT) || n > 16<<20 {
		t.Fatalf("root with CAP_SYS_RESOURCE wrote %d bytes under a 16M qgroup limit: %v", n, err)
	}
}

// The overlay layout's limits are project quota on the upper layer, and
// bind whoever writes through the overlay: overlayfs allocates in the
// upper with the mounter's credentials, which lack CAP_SYS_RESOURCE
// (quota/overlay). df at the root shows the limit (ext4 clamps statfs of
// the PROJINHERIT upper directory). The template's blocks are not the
// container's.
func TestVMOverlayProjectQuota(t *testing.T) {
	vmOnly(t)
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "pq.img"), filepath.Join(dir, "fs")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-O", "quota,project", "-E", "quotatype=prjquota", img, "256M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v: %s", err, out)
	}
	if err := image.Mount(img, mnt, "ext4", 0, "prjquota"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(mnt, unix.MNT_DETACH)
	o := &overlayLayout{log: &testLog{}}
	for _, mapped := range []bool{false, true} {
		id := 4242
		if mapped {
			id = 4243
		}
		c := CT{ID: id, Private: filepath.Join(mnt, "private", fmt.Sprint(id)), Root: filepath.Join(mnt, "root", fmt.Sprint(id))}
		if mapped {
			c.UIDMap = []IDMap{{ContainerID: 0, HostID: 200000, Size: 65536}}
			c.GIDMap = []IDMap{{ContainerID: 0, HostID: 200000, Size: 65536}}
		}
		os.MkdirAll(filepath.Dir(c.Private), 0o700)
		os.MkdirAll(c.Root, 0o755)
		lim := Limits{SpaceSoftKB: 8 << 10, SpaceHardKB: 8 << 10, InodesSoft: 300, InodesHard: 300}
		if err := o.Create(c, smallTemplate(t, dir), lim); err != nil {
			t.Fatal(err)
		}
		if err := o.Mount(c); err != nil {
			t.Fatal(err)
		}
		var st unix.Statfs_t
		unix.Statfs(c.Root, &st)
		if total := int64(st.Blocks) * st.Bsize; total != 8<<20 {
			t.Fatalf("mapped %v: statfs at the root: %d bytes, want the 8M limit", mapped, total)
		}
		u, err := o.Usage(c, true)
		if err != nil || u.SpaceKB == nil || *u.SpaceKB > 64 {
			t.Fatalf("mapped %v: usage after create: %+v %v: the template is charged to the container", mapped, u, err)
		}
		// This process has CAP_SYS_RESOURCE; the limit holds all the same.
		// Through the mapped mount it writes as the container's root
		// (host root's fsuid 0 is in no container's range).
		asRoot := func(f func()) { f() }
		if mapped {
			asRoot = func(f func()) { asFSUID(200000, f) }
		}
		// The directories above the root are host root's alone: the
		// writer starts from a descriptor of etc, as a container does from
		// its own root.
		etc, err := os.Open(filepath.Join(c.Root, "etc"))
		if err != nil {
			t.Fatal(err)
		}
		inEtc := func(name string) string { return fmt.Sprintf("/proc/self/fd/%d/%s", etc.Fd(), name) }
		var n int64
		asRoot(func() { n, err = fill(inEtc("fill"), 64<<20) })
		if !errors.Is(err, unix.EDQUOT) || n > 8<<20 {
			t.Fatalf("mapped %v: filling past 8M through the overlay: %d bytes, %v; want EDQUOT", mapped, n, err)
		}
		// A copy-up is charged too.
		os.Remove(filepath.Join(c.Root, "etc", "fill"))
		asRoot(func() {
			if f, err := os.OpenFile(inEtc("f3"), os.O_WRONLY|os.O_APPEND, 0); err == nil {
				f.Write([]byte("x"))
				f.Close()
			}
		})
		if u, _ := o.Usage(c, true); u.SpaceKB == nil || *u.SpaceKB < 4 {
			t.Fatalf("mapped %v: usage after a copy-up: %+v", mapped, u)
		}
		etc.Close()
		if err := o.SetLimits(c, lim, Limits{SpaceSoftKB: 16 << 10, SpaceHardKB: 16 << 10, InodesSoft: conf.Unlimited, InodesHard: conf.Unlimited}, true); err != nil {
			t.Fatal(err)
		}
		unix.Statfs(c.Root, &st)
		if total := int64(st.Blocks) * st.Bsize; total != 16<<20 {
			t.Fatalf("mapped %v: statfs after the raise: %d bytes", mapped, total)
		}
		if err := o.Umount(c); err != nil {
			t.Fatal(err)
		}
		if err := o.Destroy(c); err != nil {
			t.Fatal(err)
		}
		if _, l, err := projquota.Get(mnt, uint32(id)); err != nil || l.BlockHardKB != 0 {
			t.Fatalf("limits left after destroy: %+v, %v", l, err)
		}
	}
}

// asFSUID runs f on a thread of its own with fsuid and fsgid id; the
// thread ends with it (never unlocked, so it serves no other goroutine).
func asFSUID(id int, f func()) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		unix.Setfsgid(id)
		unix.Setfsuid(id)
		f()
		close(done)
	}()
	<-done
}
