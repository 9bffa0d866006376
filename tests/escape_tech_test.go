package tests

import (
	"bytes"
	"crypto/sha256"
	"fmt"
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

// escapeTechniques is the suite, in the order it runs: the container is
// shared, so techniques that change the guest restore it, and the one that
// reboots it comes last.
func escapeTechniques() []technique {
	return []technique{
		{"exe-reexec", 1, tryExeReexec},
		{"exec-stdio-host-file", 2, tryStdioHostFile},
		{"keyring-host-keys", 3, tryKeyring},
		{"setuid-for-host-users", 4, trySetuidPlant},
		{"fifo-resolv-conf", 5, tryFIFOResolv},
		{"bridged-ip-spoof", 6, tryBridgedIPSpoof},
		{"bridged-arp-spoof", 6, tryBridgedARP},
		{"bridged-ndp-spoof", 6, tryBridgedNDP},
		{"bridged-router-advert", 6, tryBridgedRA},
		{"routed-ip-spoof", 6, tryRoutedIPSpoof},
		{"routed-l2-spoof", 6, tryRoutedL2},
		{"proc-sys-write", 0, tryProcSys},
		{"sysrq-trigger", 0, trySysrq},
		{"core-pattern", 0, tryCorePattern},
		{"module-loading", 0, tryModules},
		{"raw-block-device", 0, tryRawBlock},
		{"mount-host-disk", 0, tryMountHostDisk},
		{"mknod-dev-mem", 0, tryDevMem},
		{"loop-devices", 0, tryLoop},
		{"cgroup-release-agent", 0, tryReleaseAgent},
		{"cgroup-move-out", 0, tryCgroupMove},
		{"fresh-procfs-sysfs", 0, tryFreshProcSys},
		{"unmount-proc-masks", 0, tryUnmountMasks},
		{"open-by-handle-at", 0, tryOpenByHandle},
		{"ptrace-joining-exec", 0, tryPtraceJoin},
		{"leaked-fds-cwd", 0, tryLeakedFds},
		{"tiocsti", 0, tryTIOCSTI},
		{"abstract-unix-socket", 0, tryAbstract},
		{"binfmt-misc", 0, tryBinfmt},
		{"swapon", 0, trySwapon},
		{"clock-set", 0, tryClock},
		{"hardlink-host-files", 0, tryHardlinks},
		{"mount-propagation", 0, tryPropagation},
		{"dev-kmsg", 0, tryKmsg},
		{"proc-kcore", 0, tryKcore},
		{"sys-kernel-write", 0, trySysKernel},
		{"nsenter-host-pid1", 0, tryNsenterHost},
		{"chroot-breakout", 0, tryChroot},
		{"kernel-apis", 0, tryKernelAPIs},
		{"neighbour-files", 0, tryNeighbourFiles},
		{"neighbour-signals", 0, tryNeighbourSignals},
		{"neighbour-network", 0, tryNeighbourNet},
		{"reboot-kexec", 0, tryReboot},
	}
}

func fileSum(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "unreadable:" + err.Error()
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))[:16]
}

// tryExeReexec: the guest makes its /bin/sh "#!/proc/self/exe" and puts
// the probe where the host vzctl's ELF interpreter is looked up (in the
// guest's root, where the kernel resolves it); `vzctl exec` then makes
// the host binary run inside, the probe keeps an fd on it and a daemon
// appends to it once nothing executes it. The vzctl run is a copy, so the
// hash says whether the host's binary was written.
func tryExeReexec(t *testing.T, e *escEnv) outcome {
	w := e.r
	vz := filepath.Join(e.dir, "vzctl-copy")
	copyFile(t, filepath.Join(binDir, "vzctl"), vz)
	os.Chmod(vz, 0o755)
	before := fileSum(vz)
	interp := interpreter(t, vz)
	if interp == "" {
		return escaped("the host vzctl has no ELF interpreter: this technique needs updating (use a shared library instead)")
	}
	shTarget, _ := os.Readlink(w.path("root/101/bin/sh"))
	if r := e.sh(w, "101", fmt.Sprintf("mkdir -p %s && cp /escprobe %s && rm -f /bin/sh /tmp/esc-exe.log && printf '#!/proc/self/exe\\n' > /bin/sh && chmod 755 /bin/sh",
		filepath.Dir(interp), interp)); r.code != 0 {
		t.Fatalf("planting the interpreter:\n%s", r)
	}
	defer func() {
		e.sh(w, "101", fmt.Sprintf("rm -f /bin/sh %s && ln -s %s /bin/sh", interp, shTarget))
	}()
	c := exec.Command(vz, "exec", "101", "true")
	c.Env = append(os.Environ(), "VZ_ROOT="+w.root)
	if w.netns != "" {
		c = exec.Command("nsenter", "--net=/run/netns/"+w.netns, "--", vz, "exec", "101", "true")
		c.Env = append(os.Environ(), "VZ_ROOT="+w.root)
	}
	out, _ := c.CombinedOutput()
	after := before
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && after == before; time.Sleep(50 * time.Millisecond) {
		after = fileSum(vz)
	}
	log, _ := os.ReadFile(w.path("root/101/tmp/esc-exe.log"))
	ev := fmt.Sprintf("exec said %q; guest log %q", strings.TrimSpace(string(out)), strings.TrimSpace(string(log)))
	if after != before {
		return escaped("the host binary was modified from inside (sha256 %s -> %s); %s", before, after, ev)
	}
	return blocked("host binary unchanged (sha256 %s); %s", before, ev)
}

// tryStdioHostFile: host files as stdin and stdout of exec2; the guest
// re-opens them through /proc/self/fd for writing and chmods them setuid.
func tryStdioHostFile(t *testing.T, e *escEnv) outcome {
	in, outp := filepath.Join(e.dir, "stdin-file"), filepath.Join(e.dir, "stdout-file")
	os.WriteFile(in, []byte("host original\n"), 0o644)
	os.WriteFile(outp, nil, 0o644)
	fi, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer fi.Close()
	fo, err := os.OpenFile(outp, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fo.Close()
	c := e.r.cmd("vzctl", "exec2", "101", "echo pwned >> /proc/self/fd/0; chmod 4755 /proc/self/fd/0 /proc/self/fd/1; ls -lL /proc/self/fd/0 /proc/self/fd/1 >&2")
	c.Stdin, c.Stdout = fi, fo
	var errb bytes.Buffer
	c.Stderr = &errb
	c.Run()
	var bad []string
	for _, p := range []string{in, outp} {
		st, _ := os.Stat(p)
		if st.Mode() != 0o644 {
			bad = append(bad, fmt.Sprintf("%s mode %v", filepath.Base(p), st.Mode()))
		}
	}
	if b, _ := os.ReadFile(in); string(b) != "host original\n" {
		bad = append(bad, fmt.Sprintf("stdin file now %q", b))
	}
	ev := fmt.Sprintf("guest said %q", strings.TrimSpace(errb.String()))
	if len(bad) > 0 {
		return escaped("%s; %s", strings.Join(bad, ", "), ev)
	}
	return blocked("both host files unchanged (0644, content kept); %s", ev)
}

// tryKeyring: a keyring shaped like host root's user keyring, with a key,
// and a key in the session keyring of the process that runs vzctl exec
// (the test's own session, made by the probe); the guest reads keys by
// serial, reads what its inherited session holds, and links the keyring
// into a session of its own to read it as possessor. Then the same
// against a keyring the neighbour container made.
func tryKeyring(t *testing.T, e *escEnv) outcome {
	w := e.r
	payload := "govz-key-" + e.tag
	c := exec.Command(e.probe, "keyhost", payload, "--", "nsenter", "--net=/run/netns/"+w.netns, "--",
		filepath.Join(binDir, "vzctl"), "exec3", "101", "/escprobe", "keyread", "{key}", "{keyring}", "{skey}")
	c.Env = append(os.Environ(), "VZ_ROOT="+w.root)
	out, _ := c.CombinedOutput()
	got := parseKV(string(out))
	if got.get("read_by_serial") == "" {
		return escaped("the probe did not run: %s", out)
	}
	var bad []string
	if strings.Contains(string(out), payload) {
		bad = append(bad, fmt.Sprintf("read the host's keys (session %s, key %s, keyring %s)", got.get("session"), got.get("key"), got.get("keyring")))
	}
	if got.get("link_keyring") == "ok" {
		bad = append(bad, "linked the host keyring "+got.get("keyring")+" into its session")
	}
	// The neighbour's keys.
	npay := "govz-neighbour-key-" + e.tag
	nb := startBackground(t, w.cmd("vzctl", "exec3", "102", "/escprobe", "keyhost", npay))
	if !nb.waitLine("skey=", 10*time.Second) {
		// Refused inside (a filter on keyctl): no neighbour keys to
		// reach, which is fine; anything else is a broken set-up.
		lines := strings.Join(nb.stop(), " ")
		if !strings.Contains(lines, "join=E") {
			return escaped("the neighbour could not make its keys: %s", lines)
		}
		if len(bad) > 0 {
			return escaped("the guest %s; host: %s", strings.Join(bad, ", "), got)
		}
		return blocked("host: %s; the neighbour cannot make keys: %s", got, lines)
	}
	nb.mu.Lock()
	nk := parseKV(strings.Join(nb.all, "\n"))
	nb.mu.Unlock()
	ngot, r := e.attack(w, "101", "keyread", nk.get("key"), nk.get("keyring"), nk.get("skey"))
	nb.stop()
	if strings.Contains(r.out, npay) || ngot.get("link_keyring") == "ok" {
		bad = append(bad, "reached the neighbour's keys (key "+nk.get("key")+")")
	}
	if len(bad) > 0 {
		return escaped("the guest %s; host: %s; neighbour's: %s", strings.Join(bad, ", "), got, ngot)
	}
	return blocked("host: %s; neighbour's: %s", got, ngot)
}

// trySetuidPlant: the guest makes a setuid-root copy of the probe; an
// unprivileged host user (nobody) runs it through the node's paths. The
// node's root was made traversable as an installed /vz is (routedWorld),
// so that only what govz does to its own directories can stop it.
func trySetuidPlant(t *testing.T, e *escEnv) outcome {
	w := e.r
	if r := e.sh(w, "101", "cp /escprobe /esc-suid && chmod 4755 /esc-suid"); r.code != 0 {
		t.Fatalf("planting:\n%s", r)
	}
	defer e.sh(w, "101", "rm -f /esc-suid")
	var evs []string
	esc := false
	for _, p := range []string{w.path("root/101/esc-suid"), w.path("private/101/esc-suid")} {
		c := exec.Command(p, "whoami")
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
		out, err := c.CombinedOutput()
		ans := parseKV(string(out))
		if ans.get("euid") == "0" {
			esc = true
		}
		rel, _ := filepath.Rel(w.root, p)
		evs = append(evs, fmt.Sprintf("nobody ran $VZ_ROOT/%s: %v %s", rel, err, strings.Join(strings.Fields(string(out)), " ")))
	}
	if esc {
		return escaped("%s", strings.Join(evs, "; "))
	}
	return blocked("%s", strings.Join(evs, "; "))
}

// tryFIFOResolv: /etc/resolv.conf a FIFO; vzctl set --nameserver must
// come back (5 s bound) rather than block holding the container's lock.
func tryFIFOResolv(t *testing.T, e *escEnv) outcome {
	w := e.r
	if r := e.sh(w, "101", "rm -f /etc/resolv.conf && mkfifo /etc/resolv.conf"); r.code != 0 {
		t.Fatalf("mkfifo:\n%s", r)
	}
	defer e.sh(w, "101", "rm -f /etc/resolv.conf && touch /etc/resolv.conf")
	c := w.cmd("vzctl", "set", "101", "--nameserver", "10.77.0.53")
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	start := time.Now()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		return blocked("vzctl set returned after %v (%v): %q", time.Since(start).Round(time.Millisecond), err, strings.TrimSpace(out.String()))
	case <-time.After(5 * time.Second):
		c.Process.Kill()
		<-done
		return escaped("vzctl set --nameserver still blocked after 5 s on the guest's FIFO (killed)")
	}
}

// tryProcSys: host-wide sysctls (kernel.*, vm.*, fs.*), each written back
// with the value it has: a write the kernel accepts changes nothing but
// shows the container could set it.
func tryProcSys(t *testing.T, e *escEnv) outcome {
	files := existing("/proc/sys", []string{"kernel/modprobe", "kernel/sysrq", "kernel/panic", "kernel/randomize_va_space",
		"vm/overcommit_memory", "vm/max_map_count", "vm/swappiness", "fs/file-max", "fs/protected_symlinks"})
	var paths []string
	for _, f := range files {
		paths = append(paths, "/proc/sys/"+f)
	}
	got, r := e.attack(e.r, "101", append([]string{"writeback"}, paths...)...)
	return judgeAll(got, r, paths, func(v string) bool { return strings.HasPrefix(v, "write:ok") })
}

// judgeAll: every path must have answered, none with an escape.
func judgeAll(got kv, r result, keys []string, escapedIf func(string) bool) outcome {
	var bad []string
	for _, k := range keys {
		v := got.get(k)
		if v == "" {
			return escaped("no answer for %s: %s", k, r)
		}
		if escapedIf(v) {
			bad = append(bad, k+"="+v)
		}
	}
	if len(bad) > 0 {
		return escaped("%s", strings.Join(bad, " "))
	}
	return blocked("%s", got)
}

func trySysrq(t *testing.T, e *escEnv) outcome {
	got, r := e.attack(e.r, "101", "open", "w", "/proc/sysrq-trigger")
	return judgeAll(got, r, []string{"/proc/sysrq-trigger"}, func(v string) bool { return v == "ok" })
}

// tryCorePattern: core_pattern written back, and the host's value
// compared before and after.
func tryCorePattern(t *testing.T, e *escEnv) outcome {
	before, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
	got, r := e.attack(e.r, "101", "writeback", "/proc/sys/kernel/core_pattern")
	after, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
	if !bytes.Equal(before, after) {
		return escaped("host core_pattern changed %q -> %q", before, after)
	}
	return judgeAll(got, r, []string{"/proc/sys/kernel/core_pattern"}, func(v string) bool { return strings.HasPrefix(v, "write:ok") })
}

// tryModules: init_module and finit_module with a non-module: anything but
// EPERM means the kernel started parsing it, i.e. would load a real one
// (the host control answers ENOEXEC). Also the guest's modprobe.
func tryModules(t *testing.T, e *escEnv) outcome {
	got, r := e.attack(e.r, "101", "initmod")
	mp := e.sh(e.r, "101", "modprobe dummy 2>&1; echo rc=$?")
	o := judgeAll(got, r, []string{"init_module", "finit_module"}, func(v string) bool { return v != "EPERM" })
	o.evidence += "; modprobe: " + strings.Join(strings.Fields(mp.out), " ")
	return o
}

func hostRootDev(t *testing.T) (uint32, uint32) {
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	return unix.Major(st.Dev), unix.Minor(st.Dev)
}

// tryRawBlock: a node for the host's root disk, and the usual disk names.
func tryRawBlock(t *testing.T, e *escEnv) outcome {
	maj, min := hostRootDev(t)
	got, r := e.attack(e.r, "101", "mknod", "/tmp/esc-disk", "b", fmt.Sprint(maj), fmt.Sprint(min))
	dev, r2 := e.attack(e.r, "101", "open", "r", "/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/"+rootDisk())
	if got.get("open") == "ok" {
		return escaped("opened the host disk %d:%d: %s", maj, min, got)
	}
	for k, v := range dev {
		if strings.HasPrefix(v[0], "ok") {
			return escaped("opened %s: %s", k, v[0])
		}
	}
	if got.get("mknod") == "" || len(dev) == 0 {
		return escaped("no answer: %s %s", r, r2)
	}
	return blocked("disk %d:%d %s; %s", maj, min, got, dev)
}

// tryMountHostDisk: with CAP_SYS_ADMIN in its namespaces, mount the host's
// root file system; checked in the guest init's mount table, from the host.
func tryMountHostDisk(t *testing.T, e *escEnv) outcome {
	maj, min := hostRootDev(t)
	r := e.sh(e.r, "101", fmt.Sprintf("mknod /tmp/esc-hd b %d %d; mkdir -p /mnt/esc-hd; mount -o ro /tmp/esc-hd /mnt/esc-hd; echo mount=$?; ls /mnt/esc-hd | head -3; umount /mnt/esc-hd; rm -f /tmp/esc-hd", maj, min))
	ans := parseKV(r.out)
	if ans.get("mount") == "0" {
		return escaped("mounted the host disk %d:%d: %q", maj, min, r.out)
	}
	if ans.get("mount") == "" {
		return escaped("no answer: %s", r)
	}
	return blocked("mount exit %s: %s", ans.get("mount"), strings.Join(strings.Fields(r.err), " "))
}

// tryDevMem: physical memory, kernel memory and I/O ports by mknod.
func tryDevMem(t *testing.T, e *escEnv) outcome {
	var evs []string
	for _, d := range [][2]string{{"1", "1"}, {"1", "2"}, {"1", "4"}} {
		got, r := e.attack(e.r, "101", "mknod", "/tmp/esc-mem", "c", d[0], d[1])
		if got.get("open") == "ok" {
			return escaped("opened char device %s:%s: %s", d[0], d[1], got)
		}
		if got.get("mknod") == "" {
			return escaped("no answer: %s", r)
		}
		evs = append(evs, d[0]+":"+d[1]+" "+got.String())
	}
	return blocked("%s", strings.Join(evs, "; "))
}

func tryLoop(t *testing.T, e *escEnv) outcome {
	got, r := e.attack(e.r, "101", "loopctl")
	for k, v := range got {
		if strings.Contains(v[0], "get_free:ok") {
			return escaped("%s answered a free loop device: %s", k, got)
		}
	}
	if len(got) == 0 {
		return escaped("no answer: %s", r)
	}
	return blocked("%s", got)
}

// tryReleaseAgent: a cgroup v1 hierarchy mounted inside, its
// release_agent pointed at a script in the guest's root by its host path;
// the kernel would run it as host root when the group empties: it would
// create a marker file in the test's directory.
func tryReleaseAgent(t *testing.T, e *escEnv) outcome {
	w := e.r
	marker := filepath.Join(e.dir, "release-agent-ran")
	e.sh(w, "101", fmt.Sprintf("printf '#!/bin/sh\\necho ran > %s\\n' > /esc-agent && chmod 755 /esc-agent", marker))
	got, r := e.attack(w, "101", "cgv1", w.path("root/101/esc-agent"))
	time.Sleep(500 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		return escaped("the kernel ran the guest's release agent on the host: %s", got)
	}
	if got.get("release_agent") == "ok" {
		return escaped("release_agent written (agent not run, yet): %s", got)
	}
	if len(got) == 0 {
		return escaped("no answer: %s", r)
	}
	return blocked("marker not created; %s", got)
}

// tryCgroupMove: the probe writes itself into every parent cgroup.procs it
// can name, then waits; the host checks where every process of the
// container's PID namespace is.
func tryCgroupMove(t *testing.T, e *escEnv) outcome {
	w := e.r
	b := startBackground(t, w.cmd("vzctl", "exec3", "101", "/escprobe", "cgmove"))
	if !b.waitLine("HOLD", 10*time.Second) {
		return escaped("probe did not get to HOLD: %v", b.stop())
	}
	prefix := "/" + w.cgroupParent() + "/101"
	var bad []string
	members := pidnsMembers(w.initPID("101"))
	for _, pid := range members {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			f := strings.SplitN(l, ":", 3)
			if len(f) == 3 && f[2] != prefix && !strings.HasPrefix(f[2], prefix+"/") {
				bad = append(bad, fmt.Sprintf("pid %d %s", pid, l))
			}
		}
	}
	lines := b.stop()
	ev := strings.Join(lines, " ")
	if len(bad) > 0 {
		return escaped("processes of the container outside %s: %s; probe: %s", prefix, strings.Join(bad, "; "), ev)
	}
	if len(members) < 2 {
		return escaped("found %d processes in the container's PID namespace", len(members))
	}
	return blocked("all %d processes under %s; probe: %s", len(members), prefix, ev)
}

// initMounts is the guest init's mount table, read from the host.
func initMounts(t *testing.T, w *netWorld, id string) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", w.initPID(id)))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// countFS counts mounts of a file system type in a mount table.
func countFS(mounts []string, fstype string) int {
	n := 0
	for _, l := range mounts {
		if _, after, ok := strings.Cut(l, " - "); ok && strings.Fields(after)[0] == fstype {
			n++
		}
	}
	return n
}

func tryFreshProcSys(t *testing.T, e *escEnv) outcome {
	before := initMounts(t, e.r, "101")
	p, _ := e.attack(e.r, "101", "mount", "proc", "proc", "/tmp/esc-proc")
	s, _ := e.attack(e.r, "101", "mount", "sysfs", "sysfs", "/tmp/esc-sys")
	after := initMounts(t, e.r, "101")
	ev := fmt.Sprintf("proc %s, sysfs %s; procfs mounts %d->%d, sysfs %d->%d", p.get("mount"), s.get("mount"),
		countFS(before, "proc"), countFS(after, "proc"), countFS(before, "sysfs"), countFS(after, "sysfs"))
	e.sh(e.r, "101", "umount /tmp/esc-proc /tmp/esc-sys 2>/dev/null")
	if p.get("mount") != "" && p.get("mount") != "ok" && s.get("mount") != "" && s.get("mount") != "ok" &&
		countFS(after, "proc") == countFS(before, "proc") && countFS(after, "sysfs") == countFS(before, "sysfs") {
		return blocked("%s", ev)
	}
	return escaped("%s", ev)
}

// tryUnmountMasks: every mount over /proc/* and /sys/* in the guest's
// table (the masks), unmounted from inside; the table re-read from the
// host must still have them all.
func tryUnmountMasks(t *testing.T, e *escEnv) outcome {
	mountPoint := func(l string) string { f := strings.Fields(l); return f[4] }
	var masks []string
	before := initMounts(t, e.r, "101")
	for _, l := range before {
		if mp := mountPoint(l); strings.HasPrefix(mp, "/proc/") || strings.HasPrefix(mp, "/sys/") && !strings.HasPrefix(mp, "/sys/fs/cgroup") {
			masks = append(masks, mp)
		}
	}
	if len(masks) == 0 {
		return escaped("no masks over /proc or /sys in the guest's mount table")
	}
	got, _ := e.attack(e.r, "101", append([]string{"umount"}, masks...)...)
	have := map[string]bool{}
	for _, l := range initMounts(t, e.r, "101") {
		have[mountPoint(l)] = true
	}
	var gone []string
	for _, m := range masks {
		if !have[m] || got.get(m) == "ok" {
			gone = append(gone, m+"("+got.get(m)+")")
		}
	}
	if len(gone) > 0 {
		return escaped("masks removed: %s", strings.Join(gone, " "))
	}
	return blocked("%d masks kept: %s", len(masks), got)
}

// tryOpenByHandle: the host computes the file handle of its secret (on
// the file system that also holds the guest's root, the dir layout); the
// guest opens it by handle against its own root (shocker).
func tryOpenByHandle(t *testing.T, e *escEnv) outcome {
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, e.secretPath(), 0)
	if err != nil {
		t.Fatalf("name_to_handle_at on the host: %v", err)
	}
	got, r := e.attack(e.r, "101", "handle", "/", strconv.Itoa(int(h.Type())), fmt.Sprintf("%x", h.Bytes()))
	if strings.Contains(r.out, e.secret) || got.get("open_by_handle_at") == "ok" {
		return escaped("opened a host file by handle: %s", got)
	}
	if got.get("open_by_handle_at") == "" {
		return escaped("no answer: %s", r)
	}
	return blocked("%s", got)
}

// tryPtraceJoin: the probe watches for the constructor of `vzctl exec`
// entering the container and, stopping it with SIGSTOP (it is in the
// guest's PID namespace, as the guest's root), tries to ptrace it, open
// its executable (the host's vzctl) and read its fds, while the host
// runs exec after exec.
func tryPtraceJoin(t *testing.T, e *escEnv) outcome {
	w := e.r
	b := startBackground(t, w.cmd("vzctl", "exec3", "101", "/escprobe", "ptracejoin", "8"))
	if !b.waitLine("READY", 10*time.Second) {
		return escaped("probe not ready: %v", b.stop())
	}
	var st unix.Stat_t
	unix.Stat(filepath.Join(binDir, "vzctl"), &st)
	hostExe := fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	for i := 0; i < 40; i++ {
		w.run("vzctl", "exec3", "101", "/bin/true")
		b.mu.Lock()
		n := 0
		for _, l := range b.all {
			if strings.HasPrefix(l, "caught=") {
				n++
			}
		}
		b.mu.Unlock()
		if n >= 3 {
			break
		}
	}
	b.in.Close()
	lines := b.stop()
	var caught, bad []string
	for _, l := range lines {
		v, ok := strings.CutPrefix(l, "caught=")
		if !ok {
			continue
		}
		caught = append(caught, v)
		// The fd numbers may show (same UID); their targets must not.
		readable := false
		for _, f := range strings.Split(v, ",") {
			if k, tgt, _ := strings.Cut(f, "="); strings.HasPrefix(k, "fd") && k != "fd_list" && tgt != "" {
				readable = true
			}
		}
		if strings.Contains(v, "ptrace=ok") || strings.Contains(v, "exe_open=ok") || strings.Contains(v, "exe_ino="+hostExe) || readable {
			bad = append(bad, v)
		}
	}
	if len(bad) > 0 {
		return escaped("the joining process was reachable (host vzctl %s): %s", hostExe, strings.Join(bad, " | "))
	}
	if len(caught) == 0 {
		return escaped("inconclusive: the probe never caught a joining process in 40 execs: %v", lines)
	}
	return blocked("%d joining processes caught, none traced or opened: %s", len(caught), strings.Join(caught, " | "))
}
