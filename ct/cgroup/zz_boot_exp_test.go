package cgroup

// THROWAWAY experiment (not to be committed): boot a Debian 12 systemd in a
// group with GuestMounts on this host.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	if os.Getenv(helperEnv) == "boot" {
		os.Exit(bootHelper())
	}
}

func bootHelper() int {
	fail := func(f string, a ...any) int { fmt.Fprintf(os.Stderr, "helper: "+f+"\n", a...); return 1 }
	var ms []Mount
	if err := json.NewDecoder(os.Stdin).Decode(&ms); err != nil {
		return fail("decode: %v", err)
	}
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return fail("unshare: %v", err)
	}
	R := os.Getenv("ROOTFS")
	must := func(what string, err error) {
		if err != nil {
			fmt.Fprintf(os.Stderr, "helper: %s: %v\n", what, err)
			os.Exit(1)
		}
	}
	must("private", unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""))
	must("bind", unix.Mount(R, R, "", unix.MS_BIND|unix.MS_REC, ""))
	must("proc", unix.Mount("proc", R+"/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""))
	must("sys", unix.Mount("sysfs", R+"/sys", "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""))
	must("dev", unix.Mount("tmpfs", R+"/dev", "tmpfs", unix.MS_NOSUID, "mode=755"))
	for _, n := range []struct {
		name       string
		maj, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}} {
		must("mknod "+n.name, unix.Mknod(R+"/dev/"+n.name, unix.S_IFCHR|0o666, int(unix.Mkdev(n.maj, n.minor))))
		_ = os.Chmod(R+"/dev/"+n.name, 0o666)
	}
	must("console", os.WriteFile(R+"/dev/console", nil, 0o600))
	must("console bind", unix.Mount("/dev/null", R+"/dev/console", "", unix.MS_BIND, ""))
	must("pts dir", os.Mkdir(R+"/dev/pts", 0o755))
	must("pts", unix.Mount("devpts", R+"/dev/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620"))
	must("ptmx", os.Symlink("pts/ptmx", R+"/dev/ptmx"))
	must("shm dir", os.Mkdir(R+"/dev/shm", 0o1777))
	must("shm", unix.Mount("tmpfs", R+"/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"))
	must("run", unix.Mount("tmpfs", R+"/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755"))
	for _, m := range ms {
		target := R + m.Target
		if m.Symlink != "" {
			must("symlink", os.Symlink(m.Symlink, target))
			continue
		}
		if m.Flags&unix.MS_REMOUNT == 0 {
			if err := os.Mkdir(target, 0o755); err != nil && !os.IsExist(err) {
				must("mkdir", err)
			}
		}
		must("mount "+m.Target, unix.Mount(m.Source, target, m.FSType, m.Flags, m.Data))
	}
	must("chdir", unix.Chdir(R))
	must("pivot", unix.PivotRoot(".", "."))
	must("umount old", unix.Unmount(".", unix.MNT_DETACH))
	must("chdir /", unix.Chdir("/"))
	must("hostname", unix.Sethostname([]byte("bootexp")))
	err := unix.Exec("/sbin/init", []string{"/sbin/init"}, []string{"container=govz", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"})
	return fail("exec: %v", err)
}

func TestExpBootSystemd(t *testing.T) {
	rootfs := os.Getenv("GOVZ_EXP_ROOTFS")
	if rootfs == "" {
		t.Skip("experiment")
	}
	g := testGroup(t, "sysd")
	data, _ := json.Marshal(g.GuestMounts())
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=boot", "ROOTFS="+rootfs)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWNET}
	logf, _ := os.Create(filepath.Join(os.Getenv("GOVZ_EXP_OUT"), "console.log"))
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	in, _ := cmd.StdinPipe()
	started(t, cmd)
	pid := cmd.Process.Pid
	if err := g.AddProc(pid); err != nil {
		t.Fatal(err)
	}
	in.Write(data)
	in.Close()
	ns := func(args ...string) string {
		a := append([]string{"-t", fmt.Sprint(pid), "-m", "-u", "-i", "-n", "-p", "-C", "--"}, args...)
		out, err := exec.Command("nsenter", a...).CombinedOutput()
		return fmt.Sprintf("$ %s (err=%v)\n%s", strings.Join(args, " "), err, out)
	}
	start := time.Now()
	for i := 0; i < 1800; i++ {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/root/run/systemd/private", pid)); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Log(ns("timeout", "120", "systemctl", "is-system-running", "--wait"))
	t.Logf("boot took %v", time.Since(start))
	t.Log(ns("systemctl", "--failed", "--no-pager"))
	t.Log(ns("systemctl", "list-units", "--no-pager", "--all", "--state=failed,activating,inactive", "--type=service,mount,socket"))
	t.Log(ns("cat", "/proc/1/cgroup"))
	t.Log(ns("sh", "-c", "ls /sys/fs/cgroup /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup/memory | head -80"))
	t.Log(ns("journalctl", "-b", "-p", "warning", "--no-pager"))
	t.Log(ns("journalctl", "-b", "--no-pager", "-o", "short-monotonic"))
	t.Log(ns("systemd-cgls", "--no-pager"))
	out, _ := exec.Command("sh", "-c", "find "+g.InnerPaths()[UnifiedName]+" -maxdepth 2 -type d").CombinedOutput()
	t.Logf("host view:\n%s", out)
	sl := exec.Command("sleep", "30")
	sl.Start()
	for name, p := range g.InnerPaths() {
		err := os.WriteFile(p+"/cgroup.procs", []byte(fmt.Sprint(sl.Process.Pid)), 0)
		t.Logf("exec-style join of %s INNER after boot: %v", name, err)
	}
	b, _ := os.ReadFile(g.InnerPaths()[UnifiedName] + "/cgroup.subtree_control")
	t.Logf("INNER subtree_control after boot: %q", b)
	// poweroff
	unix.Kill(pid, syscall.Signal(34+4))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Logf("guest ended: %v after poweroff", err)
	case <-time.After(60 * time.Second):
		t.Errorf("guest did not power off")
	}
}
