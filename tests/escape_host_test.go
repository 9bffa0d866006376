package tests

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// hostFdView checks, from the host, every fd, the cwd and the root of
// process pid of container id: a path must name, under the container's
// root on the host, the very inode the process holds.
func hostFdView(w *netWorld, id string, pid int) (checked int, leaks []string) {
	base := fmt.Sprintf("/proc/%d", pid)
	// The path as the guest names it, resolved in the guest's mount
	// namespace (its own /dev, devpts and cgroup mounts included).
	root := fmt.Sprintf("/proc/%d/root", w.initPID(id))
	console := consolePty(w, id)
	ents, _ := os.ReadDir(base + "/fd")
	links := []string{"cwd", "root"}
	for _, e := range ents {
		links = append(links, "fd/"+e.Name())
	}
	for _, l := range links {
		target, err := os.Readlink(base + "/" + l)
		if err != nil {
			continue
		}
		checked++
		if strings.HasPrefix(target, "pipe:") || strings.HasPrefix(target, "socket:") || strings.HasPrefix(target, "anon_inode:") || strings.HasPrefix(target, "/memfd:") {
			continue
		}
		var held, named unix.Stat_t
		if unix.Stat(base+"/"+l, &held) != nil {
			continue
		}
		// The guest's /dev is its own tmpfs with the host's nodes bound
		// in, and its devpts is its own: the same inode under the
		// container's root is what counts.
		if console != "" && target == console {
			continue
		}
		if err := unix.Stat(filepath.Join(root, target), &named); err != nil || named.Dev != held.Dev || named.Ino != held.Ino {
			leaks = append(leaks, fmt.Sprintf("pid %d %s -> %s (%d:%d)", pid, l, target, held.Dev, held.Ino))
		}
	}
	return checked, leaks
}

// consolePty is the guest's console as its init names it (/dev/pts/N of
// the host's devpts, README "How a container runs"): the pty whose master
// the container's supervisor holds (fdinfo tty-index), which is the one
// host pty a guest is meant to have. "" if none is found.
func consolePty(w *netWorld, id string) string {
	sup := w.supervisorPID(id)
	infos, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fdinfo/*", sup))
	for _, f := range infos {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "tty-index:"); ok {
				return "/dev/pts/" + strings.TrimSpace(v)
			}
		}
	}
	return ""
}

// tryLeakedFds: the fds, cwd and root of the guest's init and of an
// exec'd command (started from a host cwd outside the container), checked
// from the host, and from inside by the probe; and the exec'd process's
// mount namespace is the init's.
func tryLeakedFds(t *testing.T, e *escEnv) outcome {
	w := e.r
	c := w.cmd("vzctl", "exec3", "101", "/escprobe", "cgmove")
	c.Dir = e.dir
	b := startBackground(t, c)
	if !b.waitLine("HOLD", 10*time.Second) {
		return escaped("probe did not start: %v", b.stop())
	}
	init := w.initPID("101")
	var leaks []string
	checked := 0
	var execPID int
	for _, pid := range pidnsMembers(init) {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if pid != init && !strings.Contains(string(cmd), "cgmove") {
			continue
		}
		if pid != init {
			execPID = pid
			if nsInode(strconv.Itoa(pid), "mnt") != nsInode(strconv.Itoa(init), "mnt") {
				leaks = append(leaks, fmt.Sprintf("exec'd pid %d is in another mount namespace than init", pid))
			}
		}
		n, l := hostFdView(w, "101", pid)
		checked += n
		leaks = append(leaks, l...)
	}
	b.stop()
	inside, r := e.attack(w, "101", "fds", "1")
	for _, l := range inside["leak"] {
		// The console pty, seen from inside, is not the guest devpts'
		// node of that name: accounted for above, from the host.
		if c := consolePty(w, "101"); c == "" || !strings.HasPrefix(l, "1/fd/") || !strings.Contains(l, "->"+c+"(") {
			leaks = append(leaks, "inside: "+l)
		}
	}
	if execPID == 0 {
		return escaped("the exec'd probe was not found among the container's processes")
	}
	if len(leaks) > 0 {
		return escaped("%s", strings.Join(leaks, "; "))
	}
	if inside.get("self_checked") == "" {
		return escaped("no answer from inside: %s", r)
	}
	return blocked("host checked %d links of init and exec'd pid %d (cwd given: %s; init's console %s allowed); inside: %s", checked, execPID, e.dir, consolePty(w, "101"), inside)
}

// inHostTTY runs script under script(1), i.e. on a fresh host terminal,
// with input; after the script, the host shell reads one line (1 s) from
// that terminal and prints it: whatever a container pushed into the host
// terminal's input comes out as HOSTREAD=[...].
// script(1)'s own input is a pipe held open until it ends: at EOF on its
// input script would end the terminal's input too.
func inHostTTY(t *testing.T, w *netWorld, script string) string {
	inner := script + "; read -t 1 L; echo HOSTREAD=[$L]"
	c := exec.Command("script", "-qfec", "bash -c '"+inner+"'", "/dev/null")
	if w != nil {
		c.Env = append(os.Environ(), "VZ_ROOT="+w.root, "VZ="+filepath.Join(binDir, "vzctl"), "NS=/run/netns/"+w.netns)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	c.Stdin = pr
	timer := time.AfterFunc(20*time.Second, func() { c.Process.Kill() })
	defer timer.Stop()
	out, _ := c.CombinedOutput()
	pr.Close()
	return string(out)
}

// tryTIOCSTI: the guest pushes a command into the input of every terminal
// it can reach (TIOCSTI), through vzctl exec on a host terminal, vzctl
// enter, and vzctl console; the host terminal must not receive it.
func tryTIOCSTI(t *testing.T, e *escEnv) outcome {
	w := e.r
	run := `nsenter --net=$NS -- $VZ `
	var evs []string
	esc := false
	for _, c := range []struct{ name, script string }{
		{"exec", run + "exec3 101 /escprobe tiocsti INJ-exec-" + e.tag + " own,console </dev/null"},
		{"enter", run + "enter 101 --exec \"/escprobe tiocsti INJ-enter-" + e.tag + " own,console; exit\""},
	} {
		out := inHostTTY(t, w, c.script)
		hr := hostRead(out)
		if strings.Contains(hr, "INJ-") {
			esc = true
		}
		evs = append(evs, fmt.Sprintf("%s: host read [%s], guest %s", c.name, hr, probeLines(out)))
	}
	// The console: attached on a host terminal while the guest pushes
	// into /dev/console, then detached with Esc-.
	cons := exec.Command("script", "-qfec", "bash -c 'nsenter --net=$NS -- $VZ console 101; read -t 1 L; echo HOSTREAD=[$L]'", "/dev/null")
	cons.Env = append(os.Environ(), "VZ_ROOT="+w.root, "VZ="+filepath.Join(binDir, "vzctl"), "NS=/run/netns/"+w.netns)
	in, _ := cons.StdinPipe()
	var out syncBuffer
	cons.Stdout, cons.Stderr = &out, &out
	if err := cons.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	// Only /dev/console: this exec runs on the test's own stdio, which
	// may be a developer's terminal.
	g, _ := e.attack(w, "101", "tiocsti", "INJ-console-"+e.tag, "console")
	time.Sleep(200 * time.Millisecond)
	in.Write([]byte("\x1b."))
	done := make(chan struct{})
	go func() { cons.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cons.Process.Kill()
		<-done
	}
	hr := hostRead(out.String())
	if strings.Contains(hr, "INJ-") {
		esc = true
	}
	evs = append(evs, fmt.Sprintf("console: host read [%s], guest %s", hr, g))
	if esc {
		return escaped("%s", strings.Join(evs, "; "))
	}
	return blocked("%s", strings.Join(evs, "; "))
}

func hostRead(out string) string {
	_, after, ok := strings.Cut(out, "HOSTREAD=[")
	if !ok {
		return "(no read: " + strings.Join(strings.Fields(out), " ") + ")"
	}
	v, _, _ := strings.Cut(after, "]")
	return v
}

func probeLines(out string) string {
	var l []string
	for _, x := range strings.Split(out, "\n") {
		x = strings.TrimSpace(x)
		if strings.HasPrefix(x, "fd") || strings.HasPrefix(x, "/dev/") {
			l = append(l, x)
		}
	}
	return strings.Join(l, " ")
}

// abstractListener listens on a fresh abstract socket in the test's own
// (the host's) network namespace and counts connections.
func abstractListener(t *testing.T, name string) func() int {
	l, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	conns := make(chan struct{}, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
			conns <- struct{}{}
		}
	}()
	return func() int {
		time.Sleep(300 * time.Millisecond)
		return len(conns)
	}
}

func tryAbstract(t *testing.T, e *escEnv) outcome {
	name := "govz-esc-" + e.tag
	count := abstractListener(t, name)
	got, r := e.attack(e.r, "101", "abstract", name)
	if n := count(); n > 0 || got.get("connect") == "ok" {
		return escaped("the guest connected to the host's @%s (%d connections): %s", name, n, got)
	}
	if got.get("connect") == "" {
		return escaped("no answer: %s", r)
	}
	return blocked("@%s: %s, no connection accepted", name, got)
}

// hostBinfmt lists the host's binfmt_misc entries (the initial user
// namespace's instance, mounted in a private mount namespace).
func hostBinfmt(t *testing.T) string {
	out, err := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		"mount -t binfmt_misc binfmt_misc /mnt && ls /mnt").CombinedOutput()
	if err != nil {
		t.Fatalf("listing the host's binfmt_misc: %v %s", err, out)
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

// tryBinfmt: mount binfmt_misc inside and register a handler; the host's
// instance must not have it (a per-user-namespace instance is harmless).
func tryBinfmt(t *testing.T, e *escEnv) outcome {
	name := "govzesc" + strings.ReplaceAll(e.tag, "-", "")
	if len(name) > 30 {
		name = name[:30]
	}
	r := e.sh(e.r, "101", fmt.Sprintf("mkdir -p /tmp/esc-bm; mount -t binfmt_misc binfmt_misc /tmp/esc-bm; echo mount=$?; echo ':%s:E::escx::/escprobe:' > /tmp/esc-bm/register; echo register=$?; ls /tmp/esc-bm | tr '\\n' ' '; echo -1 > /tmp/esc-bm/%s; umount /tmp/esc-bm", name, name))
	host := hostBinfmt(t)
	if strings.Contains(host, name) {
		return escaped("the guest registered %s in the host's binfmt_misc: %s", name, host)
	}
	return blocked("host entries [%s]; guest: %s", host, strings.Join(strings.Fields(r.out+" "+r.err), " "))
}

func trySwapon(t *testing.T, e *escEnv) outcome {
	before, _ := os.ReadFile("/proc/swaps")
	got, r := e.attack(e.r, "101", "swapon", "/root/esc-swap")
	after, _ := os.ReadFile("/proc/swaps")
	if string(before) != string(after) || got.get("swapon") == "ok" {
		exec.Command("swapoff", e.r.path("root/101/root/esc-swap")).Run()
		return escaped("swapon %s; host /proc/swaps %q", got, after)
	}
	return judgeAll(got, r, []string{"swapon"}, func(v string) bool { return v == "ok" })
}

func tryClock(t *testing.T, e *escEnv) outcome {
	got, r := e.attack(e.r, "101", "clock")
	return judgeAll(got, r, []string{"clock_settime", "settimeofday", "adjtimex_offset"}, func(v string) bool { return v == "ok" })
}

// tryHardlinks: links to files of the host the guest can name (bound
// device nodes, the host secret by absolute and climbing paths); the
// host checks its files' link counts.
func tryHardlinks(t *testing.T, e *escEnv) outcome {
	var nullBefore, secBefore unix.Stat_t
	unix.Stat("/dev/null", &nullBefore)
	unix.Stat(e.secretPath(), &secBefore)
	var evs []string
	for _, src := range []string{"/dev/null", e.secretPath(), "../../../../../../../../.." + e.secretPath(), "/proc/1/root/../../../.." + e.secretPath()} {
		got, _ := e.attack(e.r, "101", "link", src, "/root/esc-link")
		for k, v := range got {
			if v[0] == "ok" {
				return escaped("%s of %s succeeded: %s", k, src, got)
			}
		}
		evs = append(evs, src+": "+got.String())
	}
	var nullAfter, secAfter unix.Stat_t
	unix.Stat("/dev/null", &nullAfter)
	unix.Stat(e.secretPath(), &secAfter)
	if nullAfter.Nlink != nullBefore.Nlink || secAfter.Nlink != secBefore.Nlink {
		return escaped("host link counts changed: /dev/null %d->%d, secret %d->%d", nullBefore.Nlink, nullAfter.Nlink, secBefore.Nlink, secAfter.Nlink)
	}
	return blocked("link counts kept; %s", strings.Join(evs, "; "))
}

// tryPropagation: a mount made inside (after making / shared) must not
// appear in the host's mount table. The other way, a mount the host makes
// under the running container's root afterwards, is recorded.
func tryPropagation(t *testing.T, e *escEnv) outcome {
	w := e.r
	r := e.sh(w, "101", "mount --make-rshared / ; echo shared=$?; mkdir -p /mnt/esc-prop && mount -t tmpfs govzesc-"+e.tag+" /mnt/esc-prop; echo mount=$?")
	defer e.sh(w, "101", "umount /mnt/esc-prop")
	host, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(host), "govzesc-"+e.tag) {
		return escaped("the guest's mount appeared on the host; guest: %s", strings.Join(strings.Fields(r.out), " "))
	}
	late := w.path("root/101/mnt")
	note := "host->guest: "
	if err := syscall.Mount("govzesc-late-"+e.tag, late, "tmpfs", 0, ""); err != nil {
		note += "host mount failed: " + err.Error()
	} else {
		in := e.sh(w, "101", "grep -c govzesc-late /proc/self/mountinfo")
		syscall.Unmount(late, syscall.MNT_DETACH)
		note += "a mount the host makes under the running root afterwards is seen inside " + strings.TrimSpace(in.out) + " time(s) (expected 0: the guest's mount namespace is a private copy)"
	}
	if parseKV(r.out).get("mount") != "0" {
		return escaped("the guest could not even mount a tmpfs (the check would see nothing): %s", r)
	}
	return blocked("guest tmpfs not on the host; guest: %s; %s", strings.Join(strings.Fields(r.out), " "), note)
}

// hostKmsgHas reads the whole kernel log on the host and looks for s.
func hostKmsgHas(s string) bool {
	f, err := os.OpenFile("/dev/kmsg", os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 8192)
	for {
		n, err := syscall.Read(int(f.Fd()), buf)
		if err == syscall.EPIPE {
			continue
		}
		if err != nil || n <= 0 {
			return false
		}
		if strings.Contains(string(buf[:n]), s) {
			return true
		}
	}
}

func tryKmsg(t *testing.T, e *escEnv) outcome {
	mark := "govz-esc-kmsg-" + e.tag
	got, r := e.attack(e.r, "101", "kmsg", mark)
	if hostKmsgHas(mark) {
		return escaped("the guest wrote to the host's kernel log: %s", got)
	}
	if strings.HasPrefix(got.get("read"), "ok") || (got.get("open_r") == "ok" && !strings.HasPrefix(got.get("read"), "-1")) {
		return escaped("the guest read the host's kernel log: %s", got)
	}
	if !strings.HasPrefix(got.get("syslog_read_all"), "-1") && got.get("syslog_read_all") != "" {
		return escaped("syslog(READ_ALL) answered: %s", got)
	}
	if len(got) == 0 {
		return escaped("no answer: %s", r)
	}
	return blocked("%s", got)
}

func tryKcore(t *testing.T, e *escEnv) outcome {
	got, r := e.attack(e.r, "101", "open", "r", "/proc/kcore", "/proc/kmsg", "/proc/keys")
	return judgeAll(got, r, []string{"/proc/kcore", "/proc/kmsg"}, func(v string) bool { return strings.HasPrefix(v, "ok") && !strings.HasPrefix(v, "ok,read=0") })
}

func trySysKernel(t *testing.T, e *escEnv) outcome {
	files := existing("/sys", []string{"kernel/mm/transparent_hugepage/enabled", "kernel/uevent_helper", "kernel/profiling", "power/state", "kernel/kexec_crash_size"})
	var paths []string
	for _, f := range files {
		paths = append(paths, "/sys/"+f)
	}
	got, r := e.attack(e.r, "101", append([]string{"open", "w"}, paths...)...)
	return judgeAll(got, r, paths, func(v string) bool { return v == "ok" })
}

// tryNsenterHost: every namespace the guest can reach through /proc (and
// setns into PID 1's) must be the container's: none of the host's.
func tryNsenterHost(t *testing.T, e *escEnv) outcome {
	host := map[string]bool{}
	for _, n := range []string{"mnt", "pid", "net", "user", "uts", "ipc", "cgroup"} {
		host[fmt.Sprintf("%s:%d", n, nsInode("1", n))] = true
		host[fmt.Sprintf("%s:%d", n, nsInode("self", n))] = true
	}
	got, r := e.attack(e.r, "101", "ns")
	var bad []string
	for _, ns := range strings.Split(got.get("reachable"), ",") {
		if host[ns] {
			bad = append(bad, ns)
		}
	}
	for k, v := range got {
		if strings.HasPrefix(k, "setns_") {
			typ := strings.TrimPrefix(k, "setns_")
			if _, ino, _ := strings.Cut(v[0], ":"); host[typ+":"+ino] {
				bad = append(bad, k+"="+v[0])
			}
		}
	}
	if len(bad) > 0 {
		return escaped("host namespaces reachable: %s", strings.Join(bad, " "))
	}
	if got.get("reachable") == "" {
		return escaped("no answer: %s", r)
	}
	return blocked("only the container's namespaces: %s", got)
}

// tryChroot: the classic breakout, then the host secret by its path.
func tryChroot(t *testing.T, e *escEnv) outcome {
	got, r := e.attack(e.r, "101", "chroot", "/tmp/esc-jail", e.secretPath())
	e.sh(e.r, "101", "rmdir /tmp/esc-jail")
	if strings.Contains(r.out, e.secret) {
		return escaped("read the host secret after breaking out: %s", got)
	}
	if got.get("read") == "" {
		return escaped("no answer: %s", r)
	}
	return blocked("%s", got)
}

// tryKernelAPIs: userfaultfd, io_uring, bpf and perf_event_open. The forms
// that reach past the container (kernel-mode userfaultfd, tracing BPF, a
// CPU-wide perf event) must be refused; the others are recorded.
func tryKernelAPIs(t *testing.T, e *escEnv) outcome {
	got, r := e.attack(e.r, "101", "privapis")
	return judgeAll(got, r, []string{"userfaultfd_kernel", "bpf_kprobe", "perf_cpu_wide"}, func(v string) bool { return v == "ok" })
}

// tryNeighbourFiles: a token in the neighbour's root; the guest searches
// its whole tree and every process root it can reach for it. The same
// search inside the neighbour finds it (the control).
func tryNeighbourFiles(t *testing.T, e *escEnv) outcome {
	token := "govz-neighbour-secret-" + e.tag
	os.WriteFile(e.r.path("root/102/root/neighbour-secret"), []byte(token+"\n"), 0o600)
	ctl, _ := e.attack(e.r, "102", "find", token)
	if len(ctl["found"]) == 0 {
		return escaped("control: the neighbour's own search did not find its token: %s", ctl)
	}
	got, r := e.attack(e.r, "101", "find", token)
	if len(got["found"]) > 0 {
		return escaped("found the neighbour's file: %s", got)
	}
	if got.get("files") == "" {
		return escaped("no answer: %s", r)
	}
	return blocked("not found among %s files in %s roots (the neighbour finds it at %s)", got.get("files"), got.get("roots"), ctl.get("found"))
}

// tryNeighbourSignals: a process in the neighbour, its host PID and the
// neighbour init's given to the guest, which kills whatever it can find.
func tryNeighbourSignals(t *testing.T, e *escEnv) outcome {
	w := e.r
	marker := "7" + strconv.Itoa(int(time.Now().UnixNano()%1e6))
	b := startBackground(t, w.cmd("vzctl", "exec3", "102", "/bin/sleep", marker))
	init102 := w.initPID("102")
	var victim int
	for end := time.Now().Add(5 * time.Second); victim == 0 && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		for _, p := range pidnsMembers(init102) {
			if c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p)); string(c) == "/bin/sleep\x00"+marker+"\x00" || string(c) == "sleep\x00"+marker+"\x00" {
				victim = p
			}
		}
	}
	if victim == 0 {
		b.stop()
		return escaped("the neighbour's sleep never showed up")
	}
	got, _ := e.attack(w, "101", "kill", marker, strconv.Itoa(victim), strconv.Itoa(init102))
	time.Sleep(100 * time.Millisecond)
	alive := func(p int) bool { return syscall.Kill(p, 0) == nil }
	ok := alive(victim) && alive(init102) && w.initPID("102") == init102
	syscall.Kill(victim, syscall.SIGKILL) // started by this test, through vzctl exec
	b.stop()
	if !ok {
		return escaped("the neighbour's process %d or init %d died: %s", victim, init102, got)
	}
	return blocked("neighbour pid %d and init %d alive; %s", victim, init102, got)
}

// tryNeighbourNet: the guest lists its interfaces and the network
// namespaces it can reach; none may be the neighbour's, the node's or the
// host's, nor carry the neighbour's address.
func tryNeighbourNet(t *testing.T, e *escEnv) outcome {
	w := e.r
	foreign := map[string]string{
		fmt.Sprint(nsInode(strconv.Itoa(w.initPID("102")), "net")): "neighbour",
		fmt.Sprint(nsInode("self", "net")):                         "host",
	}
	var st unix.Stat_t
	if unix.Stat("/run/netns/"+w.nodeNS, &st) == nil {
		foreign[fmt.Sprint(st.Ino)] = "node"
	}
	got, r := e.attack(w, "101", "netns")
	var bad []string
	for k, v := range got {
		if strings.HasPrefix(k, "if_") && (strings.Contains(v[0], "10.77.0.20") || strings.Contains(v[0], "fd00:77::20")) {
			bad = append(bad, k+"="+v[0])
		}
	}
	for _, v := range got["netns"] {
		ino, _, _ := strings.Cut(v, ":")
		if who, ok := foreign[ino]; ok {
			bad = append(bad, who+" netns "+v)
		}
	}
	if len(bad) > 0 {
		return escaped("%s", strings.Join(bad, "; "))
	}
	if len(got["netns"]) == 0 {
		return escaped("no answer: %s", r)
	}
	return blocked("%s", got)
}

// tryReboot: kexec and reboot(2) variants; RESTART2 last, which may only
// restart the guest: the neighbour's init is still the same process.
func tryReboot(t *testing.T, e *escEnv) outcome {
	w := e.r
	got, r := e.attack(w, "101", "reboot", "kexec")
	o := judgeAll(got, r, []string{"kexec_load", "kexec_file_load", "reboot_kexec", "reboot_cad_on"}, func(v string) bool { return v == "ok" })
	if !o.blocked {
		return o
	}
	init102 := w.initPID("102")
	boot, _ := w.runState("101")
	got2, _ := e.attack(w, "101", "reboot", "restart2")
	restarted := false
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if b, _ := w.runState("101"); b != "" && b != boot {
			restarted = true
			break
		}
	}
	if syscall.Kill(init102, 0) != nil || w.initPID("102") != init102 {
		return escaped("the neighbour's init %d is gone after the guest's reboot(RESTART2): %s", init102, got2)
	}
	return blocked("%s; RESTART2 %s: guest restarted=%v, neighbour init %d unchanged, host up", o.evidence, got2, restarted, init102)
}
