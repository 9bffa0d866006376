package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/cgroup"
	"govz/ct/nsinit"
	"govz/ct/runstate"
	"govz/internal/roottest"
)

// The test binary is also the supervisor and the container's nsinit
// (runc's libcontainer/integration/init_test.go pattern): Start re-execs
// /proc/self/exe, which is this binary, with the hidden verbs.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == Verb && os.Args[2] == modeMonitor && os.Getenv(idleEchoEnv) != "" {
		idleEcho() // TestIdleHandoff: the way back from idle.c
	}
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case nsinit.Verb:
			nsinit.Main()
		case Verb:
			os.Exit(MainWith(os.Args[2:], testLoader, testExecutors()))
		}
	}
	dir, err := os.MkdirTemp("", "govz-supervisor-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv(specDirEnv, dir)
	code := m.Run()
	os.RemoveAll(dir)
	cgroup.RemoveParentIfEmpty(testCgroupParent())
	os.Exit(code)
}

// specDirEnv names the directory where tests leave each container's Spec
// (ID.json) for the supervisor process to load: the loader a real vzctl
// registers reads the container's config instead.
const specDirEnv = "GOVZ_SUPERVISOR_TEST_SPECS"

func testCgroupParent() string { return "govz-test-supervisor-" + strconv.Itoa(os.Getpid()) }

// testLoader is this binary's SpecLoader factory. Its hook plan is one
// "test" step, which testExecutors run.
func testLoader(id string) SpecLoader {
	return func() (*Spec, error) {
		b, err := os.ReadFile(filepath.Join(os.Getenv(specDirEnv), id+".json"))
		if err != nil {
			return nil, err
		}
		var s Spec
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, err
		}
		data, _ := json.Marshal(s.RunDir)
		s.Prestart = []Step{{Name: "test", Data: data}}
		s.Poststop = []Step{{Name: "test", Data: data}}
		return &s, nil
	}
}

// testExecutors run the "test" step: it logs to RUNDIR/hooks.log so tests
// can see when it ran; a file RUNDIR/fail-prestart makes Prestart fail.
func testExecutors() Executors {
	hlog := func(data json.RawMessage, line string) string {
		var runDir string
		json.Unmarshal(data, &runDir)
		f, err := os.OpenFile(filepath.Join(runDir, "hooks.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
		return runDir
	}
	return Executors{"test": {
		Prestart: func(data json.RawMessage, pid int) error {
			var runDir string
			json.Unmarshal(data, &runDir)
			if _, err := os.Stat(filepath.Join(runDir, "fail-prestart")); err == nil {
				hlog(data, "prestart-fail")
				return errors.New("prestart refused by test")
			}
			// The init-to-be must already be in its own network namespace.
			self, _ := os.Readlink("/proc/self/ns/net")
			its, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
			hlog(data, fmt.Sprintf("prestart own-netns=%v", its != "" && its != self))
			return nil
		},
		Poststop: func(data json.RawMessage, reboot bool) { hlog(data, fmt.Sprintf("poststop reboot=%v", reboot)) },
	}}
}

// ct is one test container.
type ct struct {
	t    *testing.T
	spec *Spec
	root string
}

// defaultInittab keeps busybox init alive after boot with nothing to
// respawn; rcS runs /test.sh if present, then the readiness hook.
const defaultInittab = `::sysinit:/etc/init.d/rcS
::shutdown:/bin/true
`

const rcS = `#!/bin/sh
PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PATH
mkdir -p /results
echo boot >>/results/boots
[ -x /test.sh ] && /test.sh >/results/test.out 2>&1
echo rcS-done
[ -x /etc/init.d/ready ] && /etc/init.d/ready
exit 0
`

// newCT builds a busybox tree in a temp dir: the host's static busybox,
// its applet links, busybox init as /sbin/init, an inittab and an rcS.
// Cleanup kills whatever the test leaves running (by PID) and removes the
// container's cgroup.
func newCT(t *testing.T, id string) *ct {
	t.Helper()
	roottest.Require(t, "namespaces, cgroups, mounts")
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc/init.d", "proc", "sys", "dev", "run", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("busybox-static not installed: ", err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/bin/busybox", "--list-full").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range strings.Fields(string(out)) {
		if a == "bin/busybox" || !strings.Contains(a, "/") {
			continue
		}
		p := filepath.Join(root, a)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.Symlink("/bin/busybox", p)
	}
	c := &ct{t: t, root: root, spec: &Spec{
		ID:           id,
		Rootfs:       root,
		RunDir:       filepath.Join(dir, "run"),
		Hostname:     "ct-" + id,
		CgroupParent: testCgroupParent(),
		StopTimeout:  10 * time.Second,
		ConsoleLog:   filepath.Join(dir, "console.log"),
	}}
	c.write("etc/inittab", defaultInittab, 0o644)
	c.write("etc/init.d/rcS", rcS, 0o755)
	c.write("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644)
	c.write("etc/group", "root:x:0:\ntty:x:5:\n", 0o644)
	t.Cleanup(c.cleanup)
	return c
}

func (c *ct) write(rel, content string, mode os.FileMode) {
	c.t.Helper()
	p := filepath.Join(c.root, rel)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		c.t.Fatal(err)
	}
	os.Chmod(p, mode)
}

func (c *ct) read(rel string) string {
	b, _ := os.ReadFile(filepath.Join(c.root, rel))
	return string(b)
}

// saveSpec leaves the spec where the supervisor's loader finds it.
func (c *ct) saveSpec() {
	c.t.Helper()
	b, err := json.Marshal(c.spec)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(os.Getenv(specDirEnv), c.spec.ID+".json"), b, 0o600); err != nil {
		c.t.Fatal(err)
	}
}

func (c *ct) loader() (*Spec, error) { return testLoader(c.spec.ID)() }

func (c *ct) start(wait bool) error {
	c.saveSpec()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return Start(ctx, c.loader, StartOptions{Wait: wait})
}

func (c *ct) mustStart(wait bool) *runstate.State {
	c.t.Helper()
	if err := c.start(wait); err != nil {
		c.t.Fatalf("start: %v\n%s", err, c.logs())
	}
	running, st, err := Status(c.spec.RunDir)
	if err != nil || !running {
		c.t.Fatalf("after start: running=%v err=%v\n%s", running, err, c.logs())
	}
	return st
}

func (c *ct) logs() string {
	sl, _ := os.ReadFile(filepath.Join(c.spec.RunDir, logName))
	cl, _ := os.ReadFile(c.spec.ConsoleLog)
	return "--- supervisor.log\n" + string(sl) + "--- console\n" + string(cl)
}

// cleanup kills, by PID, what a failed test left: the supervisor and init
// recorded in runstate, then anything in the container's cgroup.
func (c *ct) cleanup() {
	if st, err := runstate.Read(c.spec.RunDir); err == nil {
		if st.SupervisorPID > 0 {
			unix.Kill(st.SupervisorPID, unix.SIGKILL)
		}
		if st.Alive() {
			unix.Kill(st.InitPID, unix.SIGKILL)
		}
	}
	if g, err := cgroup.Open(c.spec.CgroupParent, c.spec.ID); err == nil && g.Exists() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		g.Kill(ctx)
		cancel()
		g.Destroy()
	}
	os.Remove(filepath.Join(os.Getenv(specDirEnv), c.spec.ID+".json"))
}

// waitFile waits until rel exists in the container's root (and is not
// empty).
func (c *ct) waitFile(rel string, d time.Duration) string {
	c.t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if s := c.read(rel); s != "" {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("%s did not appear within %v\n%s--- test.out\n%s", rel, d, c.logs(), c.read("results/test.out"))
	return ""
}

// waitDown waits until the supervisor has cleaned up (no runstate, no
// control socket) and its process is gone.
func (c *ct) waitDown(supervisorPID int, d time.Duration) {
	c.t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		_, err := os.Stat(filepath.Join(c.spec.RunDir, controlName))
		if errors.Is(err, os.ErrNotExist) && !fileExists(runstate.Path(c.spec.RunDir)) && waitGone(supervisorPID, 0) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("container did not go down within %v\n%s", d, c.logs())
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// hostSnapshot is what must be the same before a container starts and
// after it stopped.
type hostSnapshot struct {
	mounts  []string // host mounts that involve the test's directory
	cgroups []string
	procs   []int
}

func snapshot(t *testing.T, c *ct) hostSnapshot {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	// Other tests on this machine mount and unmount things meanwhile; only
	// mounts that involve this container's directory are ours.
	var s hostSnapshot
	dir := filepath.Dir(c.root)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, dir) {
			s.mounts = append(s.mounts, l)
		}
	}
	// Every group below the test's cgroup parent, in every hierarchy.
	mi := string(b)
	sc := bufio.NewScanner(strings.NewReader(mi))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		fstype := f[len(f)-3]
		if fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		base := filepath.Join(f[4], c.spec.CgroupParent)
		filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && p != base {
				s.cgroups = append(s.cgroups, p)
			}
			return nil
		})
	}
	s.procs = descendants(os.Getpid())
	return s
}

// descendants lists the live (non-zombie) processes below pid.
func descendants(pid int) []int {
	es, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range es {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		parent[p] = pp
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 0; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
			if _, ok := parent[q]; !ok {
				break
			}
		}
	}
	return out
}

// checkNoLeaks compares the host with the snapshot taken before start.
func checkNoLeaks(t *testing.T, c *ct, before hostSnapshot) {
	t.Helper()
	// Processes may need a moment to be reaped by their (test) parent.
	var after hostSnapshot
	for i := 0; i < 100; i++ {
		after = snapshot(t, c)
		if len(after.procs) <= len(before.procs) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Join(after.mounts, "\n") != strings.Join(before.mounts, "\n") {
		t.Errorf("host mounts involving %s:\nbefore %q\nafter  %q", filepath.Dir(c.root), before.mounts, after.mounts)
	}
	if strings.Join(after.cgroups, " ") != strings.Join(before.cgroups, " ") {
		t.Errorf("cgroups below %s:\nbefore %v\nafter  %v", c.spec.CgroupParent, before.cgroups, after.cgroups)
	}
	if len(after.procs) > len(before.procs) {
		t.Errorf("processes below the test: %v before, %v after", before.procs, after.procs)
	}
	for _, n := range []string{controlName, notifyName, readyName, lockName, runstate.FileName} {
		if fileExists(filepath.Join(c.spec.RunDir, n)) {
			t.Errorf("%s left in the run directory", n)
		}
	}
	if g, err := cgroup.Open(c.spec.CgroupParent, c.spec.ID); err == nil && g.Exists() {
		t.Errorf("container cgroup still exists")
	}
	// Under -race the supervisor reports races in its log.
	if l := c.logs(); strings.Contains(l, "DATA RACE") {
		t.Errorf("data race in the supervisor:\n%s", l)
	}
}

// initStatus returns /proc/PID/status fields of the container's init.
func procStatus(t *testing.T, pid int, key string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

var _ = io.Discard
