package cgroup

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/internal/roottest"
)

// These tests run against the real cgroupfs of this machine, under a
// parent of their own, and remove it again even when they fail.

const helperEnv = "GOVZ_CGROUP_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "guestmounts" {
		os.Exit(guestMountsHelper())
	}
	os.Exit(m.Run())
}

// testGroup creates ID under a fresh govz-test-<random> parent; cleanup
// kills what is left in it, destroys it and removes the parent, checking
// that no directory remains in any hierarchy.
func testGroup(t *testing.T, id string) *Group {
	t.Helper()
	roottest.Require(t, "creates cgroups")
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	parent := "govz-test-" + hex.EncodeToString(b)
	g, err := Open(parent, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.Kill(ctx); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := g.Destroy(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := RemoveParentIfEmpty(parent); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, h := range g.hier {
			if p := h.hostPath(parent); g.k.Exists(p) {
				t.Errorf("cleanup left %s", p)
			}
		}
	})
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	return g
}

// started starts cmd and makes sure it is killed (by its PID) and reaped.
func started(t *testing.T, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// procCgroups maps hierarchy name to path from a /proc/PID/cgroup text.
func procCgroups(t *testing.T, text string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			t.Fatalf("bad cgroup line %q", l)
		}
		name := f[1]
		if f[0] == "0" && name == "" {
			name = UnifiedName
		}
		m[name] = f[2]
	}
	return m
}

func TestRootCreateAddProcDestroy(t *testing.T) {
	g := testGroup(t, "101")
	if !g.Exists() {
		t.Fatal("Exists() = false after Create")
	}
	for name, p := range g.InnerPaths() {
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			t.Errorf("INNER of %s: %v", name, err)
		}
	}
	if h := g.v1("cpuset"); h != nil {
		root, _ := os.ReadFile(h.hostPath("") + "/cpuset.cpus")
		inner, _ := os.ReadFile(h.hostPath(g.inner()) + "/cpuset.cpus")
		if len(strings.TrimSpace(string(root))) == 0 || string(root) != string(inner) {
			t.Errorf("INNER cpuset.cpus %q, root %q", inner, root)
		}
	}

	cmd := started(t, exec.Command("sleep", "100"))
	pid := cmd.Process.Pid
	if err := g.AddProc(pid); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	got := procCgroups(t, string(b))
	want := "/" + g.inner()
	for name := range g.InnerPaths() {
		if got[name] != want {
			t.Errorf("/proc/%d/cgroup: %s is %q; want %q", pid, name, got[name], want)
		}
	}
	if pids, err := g.Procs(); err != nil || !slices.Equal(pids, []int{pid}) {
		t.Errorf("Procs = %v, %v; want [%d]", pids, err, pid)
	}

	// A guest's systemd nests groups below INNER; put the process in one.
	for _, p := range g.InnerPaths() {
		for _, d := range []string{"/system.slice", "/system.slice/cron.service"} {
			if err := os.Mkdir(p+d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(p+"/system.slice/cron.service/cgroup.procs", []byte(fmt.Sprint(pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Destroy(); !errors.Is(err, ErrPopulated) {
		t.Fatalf("Destroy with a live process = %v; want ErrRunning", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("sleep ended with %v; want killed", err)
	}
	if err := g.Destroy(); err != nil {
		t.Fatal(err)
	}
	if g.Exists() {
		t.Error("Exists() after Destroy")
	}
	for _, h := range g.hier {
		if p := h.hostPath(g.outer()); g.k.Exists(p) {
			t.Errorf("Destroy left %s", p)
		}
	}
	if err := g.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

// Join enters a container whose guest systemd has moved init to
// init.scope and enabled controllers in INNER (on cgroup2 that makes INNER
// refuse members).
func TestRootJoin(t *testing.T) {
	g := testGroup(t, "join")
	initProc := started(t, exec.Command("sleep", "100"))
	if err := g.AddProc(initProc.Process.Pid); err != nil {
		t.Fatal(err)
	}
	enabled := ""
	for name, p := range g.InnerPaths() {
		if err := os.Mkdir(p+"/init.scope", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p+"/init.scope/cgroup.procs", []byte(fmt.Sprint(initProc.Process.Pid)), 0); err != nil {
			t.Fatal(err)
		}
		if name == UnifiedName {
			b, err := os.ReadFile(p + "/cgroup.controllers")
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range strings.Fields(string(b)) {
				if err := os.WriteFile(p+"/cgroup.subtree_control", []byte("+"+c), 0); err != nil {
					t.Fatalf("enabling %s in INNER: %v", c, err)
				}
				enabled += c + " "
			}
		}
	}
	t.Logf("controllers enabled in INNER's cgroup2 subtree_control: %q", enabled)

	proc := started(t, exec.Command("sleep", "100"))
	pid := proc.Process.Pid
	if enabled != "" {
		err := os.WriteFile(g.InnerPaths()[UnifiedName]+"/cgroup.procs", []byte(fmt.Sprint(pid)), 0)
		if !errors.Is(err, syscall.EBUSY) {
			t.Errorf("direct join of INNER with controllers enabled: %v; want EBUSY", err)
		}
	}
	for range 2 { // the leaf exists the second time
		if err := Join(g.InnerPaths(), pid); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	got := procCgroups(t, string(b))
	for name := range g.InnerPaths() {
		want := "/" + g.inner()
		if name == UnifiedName {
			want += "/" + JoinLeaf
		}
		if got[name] != want {
			t.Errorf("joined process's %s cgroup is %q; want %q", name, got[name], want)
		}
	}
}

// A shell forking sleeps as fast as it can is killed completely by every
// method. The shell is PID 1 of its own PID namespace so that the orphaned
// sleeps are reaped by the kernel when it dies, not left as zombies under
// this machine's init, which does not reap.
func TestRootKillForking(t *testing.T) {
	for _, m := range []killMethod{killAuto, killFreezerV1, killFreezeV2, killSignals} {
		t.Run(m.String(), func(t *testing.T) {
			g := testGroup(t, "forker")
			switch {
			case m == killFreezerV1 && g.v1("freezer") == nil:
				t.Skip("no v1 freezer hierarchy here")
			case m == killFreezeV2 && g.unified() == nil:
				t.Skip("no cgroup2 hierarchy here")
			}
			g.kill = m
			// A safety net well above what the test waits for.
			pidsDir, err := g.OuterPath("pids")
			if err != nil {
				t.Fatal(err)
			}
			limit := "pids.max"
			if err := os.WriteFile(pidsDir+"/"+limit, []byte("3000"), 0); err != nil {
				t.Fatal(err)
			}

			cmd := exec.Command("sh", "-c", "read x; while :; do sleep 1000 & done")
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
			in, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			started(t, cmd)
			if err := g.AddProc(cmd.Process.Pid); err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(in, "go\n"); err != nil {
				t.Fatal(err)
			}
			n := waitProcs(t, g, 50)
			if later := waitProcs(t, g, n+1); later <= n {
				t.Fatalf("not forking: %d then %d processes", n, later)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			if err := g.Kill(ctx); err != nil {
				t.Fatal(err)
			}
			t.Logf("%v killed a tree of %d+ processes in %v", g.killMethod(), n, time.Since(start))
			if pids, err := g.Procs(); err != nil || len(pids) != 0 {
				t.Errorf("Procs after Kill = %v, %v", pids, err)
			}
			if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
				t.Errorf("shell ended with %v; want killed", err)
			}
			if h := g.v1("freezer"); h != nil {
				if b, _ := os.ReadFile(h.hostPath(g.outer()) + "/freezer.state"); strings.TrimSpace(string(b)) != "THAWED" {
					t.Errorf("freezer.state left %q", b)
				}
			}
			if err := g.Destroy(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Kill works on a group the v1 freezer left frozen, with every method.
func TestRootKillFrozen(t *testing.T) {
	for _, m := range []killMethod{killAuto, killFreezerV1} {
		t.Run(m.String(), func(t *testing.T) {
			g := testGroup(t, "frozen")
			h := g.v1("freezer")
			if h == nil {
				t.Skip("no v1 freezer hierarchy here")
			}
			g.kill = m
			cmd := started(t, exec.Command("sleep", "100"))
			if err := g.AddProc(cmd.Process.Pid); err != nil {
				t.Fatal(err)
			}
			state := h.hostPath(g.outer()) + "/freezer.state"
			// Runs before started's kill and wait, which a frozen
			// sleep would never let finish.
			t.Cleanup(func() { _ = os.WriteFile(state, []byte("THAWED"), 0) })
			if err := os.WriteFile(state, []byte("FROZEN"), 0); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := g.Kill(ctx); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
				t.Errorf("sleep ended with %v; want killed", err)
			}
		})
	}
}

// waitProcs waits until the group holds at least n processes and returns
// how many it holds.
func waitProcs(t *testing.T, g *Group, n int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := g.Procs()
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) >= n {
			return len(pids)
		}
		if time.Now().After(deadline) {
			t.Fatalf("group holds %d processes; waited for %d", len(pids), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A process that unshares its cgroup namespace while in INNER sees INNER
// as the root of every hierarchy.
func TestRootCgroupNamespace(t *testing.T) {
	g := testGroup(t, "nsroot")
	cmd := exec.Command("sh", "-c", "read x; exec unshare --cgroup cat /proc/self/cgroup")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	started(t, cmd)
	if err := g.AddProc(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(in, "go\n"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	got := procCgroups(t, out.String())
	for name := range g.InnerPaths() {
		if got[name] != "/" {
			t.Errorf("inside the namespace %s is %q; want /\n%s", name, got[name], out.String())
		}
	}
}

// guestReport is what the helper saw inside the container's namespaces.
type guestReport struct {
	Err       string
	Cgroup    string              // /proc/thread-self/cgroup
	Entries   map[string][]string // guest dir name -> directory listing
	Procs     map[string]string   // guest dir name -> cgroup.procs at its root
	Links     map[string]string
	Root      []string // listing of the mount directory itself (v2)
	RootProcs string
	ROErr     string // mkdir in the tmpfs after the read-only remount
	Mountinfo string
}

// guestMountsHelper runs in a child process the test placed in INNER: it
// enters new cgroup and mount namespaces on one locked thread and performs
// the GuestMounts read from stdin below $DIR instead of /sys/fs/cgroup.
func guestMountsHelper() int {
	var ms []Mount
	rep := guestReport{Entries: map[string][]string{}, Procs: map[string]string{}, Links: map[string]string{}}
	defer func() { _ = json.NewEncoder(os.Stdout).Encode(rep) }()
	if err := json.NewDecoder(bufio.NewReader(os.Stdin)).Decode(&ms); err != nil {
		rep.Err = err.Error()
		return 0
	}
	// Namespaces belong to the thread; the process exits with it.
	runtime.LockOSThread()
	dir := os.Getenv("DIR")
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP); err != nil {
		rep.Err = "unshare: " + err.Error()
		return 0
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		rep.Err = "making / private: " + err.Error()
		return 0
	}
	for _, m := range ms {
		target := dir + strings.TrimPrefix(m.Target, guestCgroupDir)
		if m.Symlink != "" {
			if err := os.Symlink(m.Symlink, target); err != nil {
				rep.Err = err.Error()
				return 0
			}
			continue
		}
		if m.Flags&unix.MS_REMOUNT == 0 {
			if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				rep.Err = err.Error()
				return 0
			}
		}
		if err := unix.Mount(m.Source, target, m.FSType, m.Flags, m.Data); err != nil {
			rep.Err = fmt.Sprintf("mount %+v: %v", m, err)
			return 0
		}
	}
	b, _ := os.ReadFile("/proc/thread-self/cgroup")
	rep.Cgroup = string(b)
	b, _ = os.ReadFile("/proc/thread-self/mountinfo")
	rep.Mountinfo = string(b)
	es, _ := os.ReadDir(dir)
	for _, e := range es {
		rep.Root = append(rep.Root, e.Name())
	}
	b, _ = os.ReadFile(dir + "/cgroup.procs")
	rep.RootProcs = strings.TrimSpace(string(b))
	for _, e := range es {
		p := filepath.Join(dir, e.Name())
		if e.Type()&os.ModeSymlink != 0 {
			rep.Links[e.Name()], _ = os.Readlink(p)
			continue
		}
		sub, _ := os.ReadDir(p)
		for _, s := range sub {
			rep.Entries[e.Name()] = append(rep.Entries[e.Name()], s.Name())
		}
		b, _ := os.ReadFile(p + "/cgroup.procs")
		rep.Procs[e.Name()] = strings.TrimSpace(string(b))
	}
	if err := os.Mkdir(dir+"/new", 0o755); err != nil {
		rep.ROErr = err.Error()
	}
	return 0
}

// GuestMounts, performed by a process in the container's cgroup namespace,
// mount every hierarchy with INNER as its root, accepted by this kernel.
func TestRootGuestMounts(t *testing.T) {
	g := testGroup(t, "guest")
	for _, p := range g.InnerPaths() {
		if err := os.Mkdir(p+"/init.scope", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ms := g.GuestMounts()
	data, err := json.Marshal(ms)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=guestmounts", "DIR="+t.TempDir())
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	started(t, cmd)
	if err := g.AddProc(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Write(data); err != nil {
		t.Fatal(err)
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v: %s", err, errOut.String())
	}
	var rep guestReport
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("helper output %q: %v", out.String(), err)
	}
	if rep.Err != "" {
		t.Fatalf("helper: %s", rep.Err)
	}
	for name, p := range procCgroups(t, rep.Cgroup) {
		if p != "/" {
			t.Errorf("helper's %s cgroup is %q; want /", name, p)
		}
	}

	pid := fmt.Sprint(cmd.Process.Pid)
	mounted := 0
	for _, m := range ms {
		name := strings.TrimPrefix(m.Target, guestCgroupDir+"/")
		if m.Target == guestCgroupDir {
			continue
		}
		if m.Symlink != "" {
			if rep.Links[name] != m.Symlink {
				t.Errorf("symlink %s -> %q; want %q", name, rep.Links[name], m.Symlink)
			}
			continue
		}
		mounted++
		// The mount's root is INNER: the guest's own child is there,
		// OUTER's "ct" and the parent's other groups are not.
		if e := rep.Entries[name]; !slices.Contains(e, "init.scope") || slices.Contains(e, innerName) {
			t.Errorf("%s root lists %v; want INNER's entries", name, e)
		}
		if rep.Procs[name] != pid {
			t.Errorf("%s root cgroup.procs = %q; want the helper's %s", name, rep.Procs[name], pid)
		}
	}
	switch g.layout {
	case V1:
		if mounted != len(g.hier) {
			t.Errorf("%d hierarchies mounted; host has %d", mounted, len(g.hier))
		}
		if !strings.Contains(rep.ROErr, "read-only") {
			t.Errorf("mkdir in the remounted tmpfs: %q; want read-only file system", rep.ROErr)
		}
	case V2:
		if !slices.Contains(rep.Root, "init.scope") || slices.Contains(rep.Root, innerName) || rep.RootProcs != pid {
			t.Errorf("cgroup2 root lists %v with procs %q; want INNER's entries and %s", rep.Root, rep.RootProcs, pid)
		}
	}
	t.Logf("guest mountinfo:\n%s", grepLines(rep.Mountinfo, "cgroup"))
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
