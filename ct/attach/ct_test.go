package attach

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/cgroup"
	"govz/ct/runstate"
	"govz/internal/roottest"
)

// testCT is a running container built by hand, standing in for the
// supervisor: a busybox tree, PID 1 in new mount/pid/uts/ipc/net/cgroup
// namespaces after pivot_root, placed in test-private cgroups, and the run
// record the supervisor would write.
type testCT struct {
	runDir   string
	tree     string
	hostname string
	cmd      *exec.Cmd
	state    *runstate.State
}

// testCaps is the bounding set the record keeps: everything but a few, so
// that both kept and dropped capabilities are checked.
func testCaps() (names []string, mask uint64) {
	drop := map[string]bool{"sys_module": true, "sys_rawio": true, "sys_time": true, "mac_admin": true, "mac_override": true, "sys_ptrace": true}
	for name, n := range capNumbers() {
		if !drop[name] {
			names = append(names, name)
			mask |= 1 << n
		}
	}
	sort.Strings(names)
	return names, mask
}

// busyboxTree builds a minimal guest root: Debian's static busybox with
// its applet links, /dev nodes, and mount points.
func busyboxTree(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	mustMkdir(t, filepath.Join(dir, "bin"), filepath.Join(dir, "proc"), filepath.Join(dir, "dev/pts"),
		filepath.Join(dir, "etc"), filepath.Join(dir, "tmp"), filepath.Join(dir, "root"), filepath.Join(dir, ".oldroot"))
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static needed: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.ContainsAny(applet, "/[") {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}} {
		if err := unix.Mknod(filepath.Join(dir, "dev", n.name), unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("pts/ptmx", filepath.Join(dir, "dev/ptmx")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testCgroups creates NAME/ct below this process's own cgroup in every
// mounted hierarchy and returns hierarchy -> inner path, as the
// supervisor's record has it. They are removed in cleanup, after the
// container's processes are gone.
func testCgroups(t testing.TB) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("govz-test-%d-%d", os.Getpid(), rand.Uint32())
	paths := make(map[string]string)
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		key, mount := f[1], "/sys/fs/cgroup/"+f[1]
		switch {
		case strings.HasPrefix(f[1], "name="):
			continue // systemd's own hierarchy: not ours to populate
		case f[0] == "0" && f[1] == "":
			key, mount = "unified", "/sys/fs/cgroup/unified"
			if !isCgroupMount(mount) {
				mount = "/sys/fs/cgroup"
			}
		case strings.Contains(f[1], "cpuset"):
			continue // needs cpus/mems copied; nothing here depends on it
		}
		if !isCgroupMount(mount) {
			continue
		}
		outer := filepath.Join(mount, f[2], name)
		inner := filepath.Join(outer, "ct")
		if err := os.Mkdir(outer, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rmdirCgroup(t, outer) })
		if err := os.Mkdir(inner, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rmdirCgroup(t, inner) })
		paths[key] = inner
	}
	if len(paths) == 0 {
		t.Fatal("no cgroup hierarchy found")
	}
	return paths
}

func isCgroupMount(dir string) bool {
	var s unix.Statfs_t
	return unix.Statfs(dir, &s) == nil && (s.Type == cgroupMagic || s.Type == cgroup2Magic)
}

// rmdirCgroup retries while the last processes finish exiting; it removes
// the leaf exec creates (cgroup.JoinLeaf) first.
func rmdirCgroup(t testing.TB, dir string) {
	unix.Rmdir(filepath.Join(dir, cgroup.JoinLeaf))
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			t.Errorf("removing cgroup %s: %v", dir, err)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The container's PID 1 is busybox sh: stage 1 (host root still visible)
// joins the cgroups, then unshares the cgroup namespace so that its root is
// the container's cgroup; stage 2 pivots into the tree, mounts /proc and a
// private devpts, sets the hostname, reports ready on fd 3 and becomes
// "sleep". Mounts live only in the new (private) mount namespace: they
// vanish with it.
const (
	ctStage1 = `set -e
for f in $CGPROCS; do echo 0 > "$f"; done
exec /usr/bin/unshare --cgroup /bin/busybox sh -c "$STAGE2"`
	ctStage2 = `set -e
mount -o bind "$TREE" "$TREE"
cd "$TREE"
pivot_root . .oldroot
cd /
mount -t proc proc /proc
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
umount -l /.oldroot
hostname "$CTHOST"
echo ready >&3
exec 3>&-
exec sleep 100000`
)

func startCT(t testing.TB) *testCT {
	t.Helper()
	roottest.Require(t, "namespaces, cgroups, pivot_root")
	ct := &testCT{
		runDir:   t.TempDir(),
		tree:     busyboxTree(t),
		hostname: fmt.Sprintf("govz-ct-%x", rand.Uint32()),
	}
	cgroups := testCgroups(t)
	var procs []string
	for _, p := range cgroups {
		procs = append(procs, filepath.Join(p, "cgroup.procs"))
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer readyR.Close()
	var stderr bytes.Buffer
	cmd := exec.Command("/bin/busybox", "sh", "-c", ctStage1)
	cmd.Env = []string{
		"PATH=/bin:/sbin:/usr/bin:/usr/sbin",
		"TREE=" + ct.tree,
		"CGPROCS=" + strings.Join(procs, " "),
		"CTHOST=" + ct.hostname,
		"STAGE2=" + ctStage2,
	}
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:   syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWNET,
		Unshareflags: syscall.CLONE_NEWNS, // Go makes / rprivate in it
		Pdeathsig:    syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	readyW.Close()
	ct.cmd = cmd
	t.Cleanup(ct.kill)

	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(readyR).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if line != "ready\n" {
			ct.kill()
			t.Fatalf("container init failed: %q; stderr: %s", line, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("container init not ready; stderr: %s", stderr.String())
	}

	// "ready" comes just before the final exec: wait for the init to be
	// the sleep it becomes, so the record names the settled process.
	deadline := time.Now().Add(10 * time.Second)
	for {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
		if string(comm) == "sleep\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container init is %q, not sleep", comm)
		}
		time.Sleep(time.Millisecond)
	}

	names, _ := testCaps()
	start, err := runstate.StartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	ct.state = &runstate.State{
		ID:            "test",
		SupervisorPID: os.Getpid(),
		InitPID:       cmd.Process.Pid,
		InitStartTime: start,
		BootID:        "test-boot",
		CapBounding:   names,
		CgroupPaths:   cgroups,
		Hostname:      ct.hostname,
		Started:       time.Now(),
	}
	if err := runstate.Write(ct.runDir, ct.state); err != nil {
		t.Fatal(err)
	}
	return ct
}

// kill ends the container: SIGKILL to PID 1 kills its whole pid namespace.
func (ct *testCT) kill() {
	if ct.cmd.ProcessState != nil {
		return
	}
	ct.cmd.Process.Kill()
	ct.cmd.Wait()
}

// run is Exec with captured stdout and stderr.
func (ct *testCT) run(t testing.TB, opt Options, argv ...string) (string, int) {
	t.Helper()
	outR, outW := mustPipe(t)
	opt.Stdout, opt.Stderr = outW, outW
	if opt.Stdin == nil {
		null, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer null.Close()
		opt.Stdin = null
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(outR)
		got <- b
	}()
	status, err := Exec(ct.runDir, argv, opt)
	outW.Close()
	out := <-got
	if err != nil {
		t.Fatalf("Exec(%q): %v; output %q", argv, err, out)
	}
	return string(out), status
}
