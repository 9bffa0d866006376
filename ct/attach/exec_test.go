package attach

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/cgroup"
	"govz/ct/runstate"
	"govz/ct/vzerror"
	"govz/internal/exitcode"
)

func TestExec(t *testing.T) {
	ct := startCT(t)
	direct := Options{Mode: Direct}

	t.Run("init comm", func(t *testing.T) {
		want, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", ct.state.InitPID))
		if err != nil {
			t.Fatal(err)
		}
		out, status := ct.run(t, direct, "cat", "/proc/1/comm")
		if status != 0 || out != string(want) {
			t.Errorf("/proc/1/comm = %q (status %d), want %q", out, status, want)
		}
	})

	t.Run("hostname", func(t *testing.T) {
		out, status := ct.run(t, Options{}, "hostname")
		if status != 0 || out != ct.hostname+"\n" {
			t.Errorf("hostname = %q (status %d), want %q", out, status, ct.hostname)
		}
	})

	t.Run("own mounts only", func(t *testing.T) {
		out, status := ct.run(t, direct, "cat", "/proc/self/mountinfo")
		if status != 0 {
			t.Fatalf("status %d", status)
		}
		var points []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			points = append(points, strings.Fields(line)[4])
		}
		if strings.Join(points, " ") != "/ /proc /dev/pts" {
			t.Errorf("mount points %q, want [/ /proc /dev/pts]; mountinfo:\n%s", points, out)
		}
	})

	t.Run("pid namespace", func(t *testing.T) {
		host := exec.Command("sleep", "4242.25")
		if err := host.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { host.Process.Kill(); host.Wait() }()
		out, status := ct.run(t, Options{}, `for p in /proc/[0-9]*; do echo "${p#/proc/}" "$(tr '\0' ' ' < $p/cmdline)"; done`)
		if status != 0 {
			t.Fatalf("status %d: %s", status, out)
		}
		if strings.Contains(out, "4242.25") {
			t.Errorf("host process visible in the container:\n%s", out)
		}
		if !strings.Contains(out, "1 sleep 100000") {
			t.Errorf("init is not pid 1:\n%s", out)
		}
		self, _ := ct.run(t, direct, "readlink", "/proc/self")
		if n, err := strconv.Atoi(strings.TrimSpace(self)); err != nil || n <= 1 || n > 1000 {
			t.Errorf("own pid in the container = %q", self)
		}
	})

	t.Run("exit status", func(t *testing.T) {
		_, status := ct.run(t, Options{}, "exit", "3")
		if status != 3 {
			t.Fatalf("status %d, want 3", status)
		}
		if err := CommandError(status); exitcode.Of(err) != 8 || !errors.Is(err, vzerror.ErrCommandFailed) {
			t.Errorf("exec: %v, code %d, want 8", err, exitcode.Of(err))
		}
		if err := StatusError(status); exitcode.Of(err) != 3 {
			t.Errorf("exec2: %v, code %d, want 3", err, exitcode.Of(err))
		}
		if _, status := ct.run(t, Options{}, "kill", "-TERM", "$$"); status != 128+int(unix.SIGTERM) {
			t.Errorf("killed by SIGTERM: status %d, want %d", status, 128+int(unix.SIGTERM))
		}
	})

	t.Run("direct argv keeps spaces", func(t *testing.T) {
		out, status := ct.run(t, direct, "printf", "[%s]", "a b", "  c", "$HOME")
		if status != 0 || out != "[a b][  c][$HOME]" {
			t.Errorf("printf = %q (status %d)", out, status)
		}
	})

	t.Run("shell joins words", func(t *testing.T) {
		out, _ := ct.run(t, Options{}, "echo", "$HOME", "'a  b'", "$container")
		if out != "/root a  b govz\n" {
			t.Errorf("echo = %q", out)
		}
	})

	t.Run("commands from stdin", func(t *testing.T) {
		r, w := mustPipe(t)
		w.WriteString("echo from-stdin\nhostname\nexit 4\necho not reached\n")
		w.Close()
		out, status := ct.run(t, Options{Stdin: r}, "-")
		if status != 4 || out != "from-stdin\n"+ct.hostname+"\n" {
			t.Errorf("stdin script: %q (status %d)", out, status)
		}
	})

	t.Run("environment", func(t *testing.T) {
		t.Setenv("GOVZ_HOST_ONLY", "leak")
		out, _ := ct.run(t, Options{Mode: Direct, Env: []string{"EXTRA=1"}}, "env")
		got := strings.Fields(out)
		want := []string{"PATH=" + defaultPath, "HOME=/root", "container=govz", "EXTRA=1"}
		if len(got) != len(want) || strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("env = %q, want %q", got, want)
		}
	})

	t.Run("loader variables stay in the container", func(t *testing.T) {
		// Were the command's environment that of the host-side re-exec,
		// the host's ld.so would complain about (or load) this object.
		out, status := ct.run(t, Options{Env: []string{"LD_PRELOAD=/nonexistent-govz.so"}}, "echo $LD_PRELOAD")
		if status != 0 || out != "/nonexistent-govz.so\n" {
			t.Errorf("output %q (status %d)", out, status)
		}
	})

	t.Run("cgroups", func(t *testing.T) {
		out, status := ct.run(t, direct, "cat", "/proc/self/cgroup")
		if status != 0 {
			t.Fatalf("status %d", status)
		}
		seen := 0
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.SplitN(line, ":", 3)
			key := f[1]
			if f[0] == "0" && key == "" {
				key = "unified"
			}
			if _, ok := ct.state.CgroupPaths[key]; !ok {
				continue
			}
			seen++
			// Relative to the cgroup namespace root, which is the
			// container's cgroup: "/" means exactly that cgroup; in
			// cgroup2 exec joins the leaf below it (cgroup.JoinLeaf).
			want := "/"
			if key == cgroup.UnifiedName {
				want = "/" + cgroup.JoinLeaf
			}
			if f[2] != want {
				t.Errorf("hierarchy %s: %q, want %s", key, f[2], want)
			}
		}
		if seen != len(ct.state.CgroupPaths) {
			t.Errorf("saw %d of %d hierarchies in\n%s", seen, len(ct.state.CgroupPaths), out)
		}
		// From the host: a running exec'd process is listed in the
		// container's cgroup.
		done := make(chan struct{})
		go func() {
			defer close(done)
			ct.run(t, direct, "sleep", "0.5")
		}()
		defer func() { <-done }()
		pidsDir := ct.state.CgroupPaths["pids"]
		if pidsDir == "" {
			t.Skip("no pids hierarchy")
		}
		deadline := time.Now().Add(3 * time.Second)
		for {
			b, _ := os.ReadFile(filepath.Join(pidsDir, "cgroup.procs"))
			for _, p := range strings.Fields(string(b)) {
				comm, _ := os.ReadFile("/proc/" + p + "/comm")
				if p != strconv.Itoa(ct.state.InitPID) && string(comm) == "sleep\n" {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("exec'd sleep never appeared in %s", pidsDir)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})

	t.Run("capabilities", func(t *testing.T) {
		out, status := ct.run(t, direct, "grep", "^Cap", "/proc/self/status")
		if status != 0 {
			t.Fatalf("status %d", status)
		}
		_, mask := testCaps()
		// The bounding set can only shrink: what this process lacks, the
		// container lacks too.
		mask &= ownCapBnd(t)
		want := fmt.Sprintf("CapInh:\t%016x\nCapPrm:\t%016x\nCapEff:\t%016x\nCapBnd:\t%016x\nCapAmb:\t%016x\n", 0, mask, mask, mask, 0)
		if out != want {
			t.Errorf("capabilities:\n%s\nwant:\n%s", out, want)
		}
	})

	t.Run("host terminal is not handed over", func(t *testing.T) {
		master, slave := openPty(t)
		out := make(chan string, 1)
		go func() { out <- readAllPty(master) }()
		status, err := Exec(ct.runDir, []string{"tty; [ -t 1 ] && echo T1 || echo noT1; echo $TERM"}, Options{Stdin: slave, Stdout: slave, Stderr: slave})
		if err != nil || status == 2 {
			t.Fatalf("Exec: %d, %v", status, err)
		}
		slave.Close()
		got := <-out
		if !strings.Contains(got, "not a tty") || !strings.Contains(got, "noT1") {
			t.Errorf("the command got the host terminal: %q", got)
		}
		if !strings.Contains(got, "noT1\r\n"+envOr("TERM", "linux")+"\r\n") {
			t.Errorf("TERM not passed with a terminal: %q", got)
		}
	})

	t.Run("without pidfd", func(t *testing.T) {
		out, status := ct.run(t, Options{noPidfd: true}, "hostname; cat /proc/1/comm")
		if status != 0 || out != ct.hostname+"\nsleep\n" {
			t.Errorf("fallback join: %q (status %d)", out, status)
		}
	})

	t.Run("command not found", func(t *testing.T) {
		_, err := Exec(ct.runDir, []string{"no-such-cmd", "x"}, Options{Mode: Direct})
		if !errors.Is(err, vzerror.ErrCommandFailed) || !strings.Contains(err.Error(), "no-such-cmd") {
			t.Errorf("Exec of a missing command = %v", err)
		}
		// Through the shell it is the shell's status 127, as vzctl.
		if _, status := ct.run(t, Options{}, "no-such-cmd"); status != 127 {
			t.Errorf("shell status %d, want 127", status)
		}
	})

	t.Run("setup failure is reported", func(t *testing.T) {
		// A v1 cpuset cgroup without cpus/mems refuses tasks (ENOSPC):
		// the constructor's "setup" line must come back as the error.
		const cpuset = "/sys/fs/cgroup/cpuset"
		if !isCgroupMount(cpuset) {
			t.Skip("no v1 cpuset hierarchy")
		}
		dir := filepath.Join(cpuset, fmt.Sprintf("govz-test-empty-%d", os.Getpid()))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rmdirCgroup(t, dir) })
		bad := *ct.state
		bad.CgroupPaths = map[string]string{"cpuset": dir}
		badDir := t.TempDir()
		if err := runstate.Write(badDir, &bad); err != nil {
			t.Fatal(err)
		}
		_, err := Exec(badDir, []string{"true"}, Options{})
		if !errors.Is(err, vzerror.ErrSystem) || !strings.Contains(err.Error(), "joining cgroup "+filepath.Join(dir, "cgroup.procs")+": ") {
			t.Errorf("Exec = %v, want a cgroup join error", err)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, status := ct.run(t, Options{}, fmt.Sprintf("echo %d; exit %d", i, i))
				if status != i || out != fmt.Sprintf("%d\n", i) {
					errs <- fmt.Errorf("exec %d: %q status %d", i, out, status)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("runscript", func(t *testing.T) {
		script := filepath.Join(t.TempDir(), "host-script.sh")
		body := "#!/bin/sh\necho \"args:$1,$2\"\nhostname\nexit 5\necho not reached\n"
		if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		before := listTree(t, ct.tree)
		outR, outW := mustPipe(t)
		status, err := Runscript(ct.runDir, script, []string{"a b", "c"}, Options{Stdout: outW, Stderr: outW})
		outW.Close()
		if err != nil {
			t.Fatal(err)
		}
		out := readAll(t, outR)
		if want := "args:a b,c\n" + ct.hostname + "\n"; status != 5 || out != want {
			t.Errorf("runscript: %q (status %d), want %q (status 5)", out, status, want)
		}
		if after := listTree(t, ct.tree); after != before {
			t.Errorf("runscript wrote into the container root:\nbefore %s\nafter  %s", before, after)
		}
	})
}

func TestNotRunning(t *testing.T) {
	ct := startCT(t)
	// A record whose pid is alive but whose start time is not the init's:
	// the pid was reused.
	stale := *ct.state
	stale.InitPID = os.Getpid()
	stale.InitStartTime = 1
	staleDir := t.TempDir()
	if err := runstate.Write(staleDir, &stale); err != nil {
		t.Fatal(err)
	}
	if _, err := Exec(staleDir, []string{"true"}, Options{}); !errors.Is(err, vzerror.ErrNotRunning) || exitcode.Of(err) != 31 {
		t.Errorf("stale record: %v", err)
	}
	// Works while the init lives, then not.
	if _, status := ct.run(t, Options{Mode: Direct}, "true"); status != 0 {
		t.Fatalf("true: status %d", status)
	}
	ct.kill()
	for _, f := range []func() error{
		func() error { _, err := Exec(ct.runDir, []string{"true"}, Options{}); return err },
		func() error { return Enter(ct.runDir, nil, Options{}) },
		func() error {
			_, err := Runscript(ct.runDir, "/dev/null", nil, Options{})
			return err
		},
	} {
		if err := f(); !errors.Is(err, vzerror.ErrNotRunning) || exitcode.Of(err) != 31 {
			t.Errorf("dead init: %v, code %d, want 31", err, exitcode.Of(err))
		}
	}
}

// TestExecLatency measures /bin/true through exec3 against util-linux
// nsenter -a (baseline.md §5: nsenter 1.6 ms, lxc-attach 4.7 ms).
func TestExecLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("latency measurement")
	}
	ct := startCT(t)
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	pid := strconv.Itoa(ct.state.InitPID)
	viaAttach := func() error {
		status, err := Exec(ct.runDir, []string{"/bin/true"}, Options{Mode: Direct, Stdin: null, Stdout: null, Stderr: null})
		if err == nil && status != 0 {
			err = fmt.Errorf("status %d", status)
		}
		return err
	}
	viaNsenter := func() error { return exec.Command("nsenter", "-t", pid, "-a", "/bin/true").Run() }
	// Interleaved, so that load from elsewhere hits both alike.
	const n = 50
	var a, b []time.Duration
	for i := range n + 3 {
		for _, m := range []struct {
			f  func() error
			ds *[]time.Duration
		}{{viaAttach, &a}, {viaNsenter, &b}} {
			start := time.Now()
			if err := m.f(); err != nil {
				t.Fatal(err)
			}
			if i >= 3 {
				*m.ds = append(*m.ds, time.Since(start))
			}
		}
	}
	t.Logf("exec3 /bin/true median %v; nsenter -t PID -a /bin/true median %v (n=%d)", median(a), median(b), n)
}

func BenchmarkExec3True(b *testing.B) {
	ct := startCT(b)
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	for b.Loop() {
		if _, err := Exec(ct.runDir, []string{"/bin/true"}, Options{Mode: Direct, Stdin: null, Stdout: null, Stderr: null}); err != nil {
			b.Fatal(err)
		}
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// listTree names every file under dir with its size, for before/after
// comparisons.
func listTree(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && (p == filepath.Join(dir, "proc") || p == filepath.Join(dir, "dev/pts")) {
			return filepath.SkipDir
		}
		info, _ := d.Info()
		if info != nil {
			fmt.Fprintf(&b, "%s:%d ", strings.TrimPrefix(p, dir), info.Size())
		}
		return nil
	})
	return b.String()
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func ownCapBnd(t testing.TB) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:\t"); ok {
			m, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatal("no CapBnd in /proc/self/status")
	return 0
}
