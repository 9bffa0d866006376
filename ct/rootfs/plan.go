// Package rootfs builds what a container sees as its filesystem once its
// root is in place: /proc with the host-sensitive entries masked or
// read-only, a read-only /sys, a small tmpfs /dev with a fixed set of nodes
// and a private devpts, /run with the /run/host files systemd's
// CONTAINER_INTERFACE.md defines, and the cgroup view.
//
// The mount table is data: Plan turns a Config into Steps, and Apply runs
// them against a Kernel. Steps run inside the container after pivot_root,
// so every path resolves inside the container's root and a symlink planted
// by the guest cannot send a mount out of it. Host objects the container
// needs (the console pty, the notify socket) come in as detached mounts
// (open_tree(2) file descriptors) prepared before the pivot and attached
// with move_mount(2).
package rootfs

import (
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Op is what a Step does.
type Op int

// Step operations.
const (
	OpMkdir    Op = iota // mkdir -p Path (Mode); existing directories are fine
	OpMount              // mount Source on Path (FSType, Flags, Data)
	OpMknod              // device node Path
	OpSymlink            // Path -> Target
	OpFile               // write Content to Path (created or truncated)
	OpAttach             // move the detached mount FD onto Path (an existing file)
	OpMask               // hide Path: /dev/null over a file, empty read-only tmpfs over a directory; absent paths are skipped
	OpReadOnly           // bind Path onto itself read-only; absent paths are skipped
	OpWritable           // bind Path onto itself writable (inside a read-only parent); absent paths are skipped
	OpTouch              // create an empty file at Path (Mode) unless something is there
)

// Step is one operation of the plan.
type Step struct {
	Op     Op
	Path   string
	Source string
	FSType string
	Flags  uintptr
	Data   string
	Mode   uint32
	Dev    uint64 // OpMknod: unix.Mkdev(major, minor)
	Char   bool   // OpMknod: character (true) or block device
	Target string // OpSymlink
	// Content is OpFile's data.
	Content []byte
	FD      int // OpAttach
}

// Mount is an extra mount the caller needs (the cgroup view); when Symlink
// is set, Target becomes a symbolic link to it instead.
type Mount struct {
	Source, Target, FSType, Data string
	Flags                        uintptr
	Symlink                      string
}

// Config says what to build.
type Config struct {
	DevNodes    []DevNode // extra nodes, on top of DefaultNodes
	ConsoleFD   int       // detached mount of the console pty slave; -1 = none
	NotifyFD    int       // detached mount of the notify socket; -1 = none
	ReadyFD     int       // detached mount of the readiness fifo; -1 = none
	Cgroup      []Mount   // the container's /sys/fs/cgroup, in order
	OSRelease   []byte    // the host's os-release, for /run/host/os-release; nil = skip
	Manager     string    // /run/host/container-manager content ("govz")
	DevSize     string    // tmpfs size of /dev; "" = DefaultDevSize
	RunSize     string    // tmpfs size of /run; "" = DefaultRunSize
	ShmSize     string    // tmpfs size of /dev/shm; "" = the kernel's default (half of the host's RAM)
	WritableSys bool      // leave /sys writable (only for a user-namespaced container, later)
	// Binds are the host paths bound in (bindmount), each with its
	// detached mount in FD.
	Binds []Bind
	// Detached are mounts made beforehand (NewKernelFS, ClonePrivate) that
	// replace what the plan would mount or create at their key: "/proc",
	// "/sys" or a device node "/dev/NAME". A container in a user namespace
	// needs them: it may not mknod, and may mount procfs and sysfs only
	// while its old root is still there.
	Detached map[string]int
}

// Defaults for the tmpfs sizes. /dev holds only nodes and links; /run gets
// what nspawn gives it (TMPFS_LIMITS_RUN, 20% of RAM), and the container's
// memory cgroup is charged for whatever is written there anyway.
const (
	DefaultDevSize = "4m"
	DefaultRunSize = "20%"
)

// In-container paths of the /run/host files (CONTAINER_INTERFACE.md).
const (
	HostDir          = "/run/host"
	NotifyPath       = "/run/host/notify"
	ReadyPath        = "/run/host/ready"
	ManagerPath      = "/run/host/container-manager"
	OSReleasePath    = "/run/host/os-release"
	procFlags        = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	roProcFlags      = procFlags | unix.MS_RDONLY
	ConsoleTargetDev = "/dev/console"
)

// Masked /proc and /sys entries: runc's default maskedPaths
// (libcontainer/specconv/example.go) plus /proc/kmsg, which LXC's AppArmor
// profile denies: the kernel log, kernel memory, timers and keyrings of the
// host are not the container's business.
var Masked = []string{
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/kmsg",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
	"/proc/sched_debug", "/proc/scsi", "/sys/firmware",
}

// ReadOnly /proc entries: runc's readonlyPaths; /proc/sys as LXC's
// proc:mixed has it.
var ReadOnly = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// Writable entries below the read-only /proc/sys: each belongs to a
// namespace the container owns, so writing it changes only the container.
// /proc/sys/net is per network namespace (LXC proc:mixed keeps it writable);
// hostname and domainname are per UTS namespace; the System V IPC and POSIX
// message queue limits are per IPC namespace (man 7 ipc_namespaces).
var Writable = []string{
	"/proc/sys/net",
	"/proc/sys/kernel/hostname", "/proc/sys/kernel/domainname",
	"/proc/sys/kernel/shmmax", "/proc/sys/kernel/shmall", "/proc/sys/kernel/shmmni",
	"/proc/sys/kernel/shm_rmid_forced", "/proc/sys/kernel/msgmax",
	"/proc/sys/kernel/msgmnb", "/proc/sys/kernel/msgmni", "/proc/sys/kernel/sem",
	"/proc/sys/fs/mqueue",
}

// Plan returns the steps that build the container's filesystem view.
func Plan(c Config) ([]Step, error) {
	for _, d := range c.DevNodes {
		if err := d.Validate(); err != nil {
			return nil, err
		}
	}
	devSize, runSize := c.DevSize, c.RunSize
	if devSize == "" {
		devSize = DefaultDevSize
	}
	if runSize == "" {
		runSize = DefaultRunSize
	}
	var s []Step
	add := func(st ...Step) { s = append(s, st...) }
	mkdir := func(p string, mode uint32) { add(Step{Op: OpMkdir, Path: p, Mode: mode}) }

	mountOrAttach := func(st Step) {
		if fd, ok := c.Detached[st.Path]; ok {
			add(Step{Op: OpAttach, Path: st.Path, FD: fd})
			return
		}
		add(st)
	}
	// Binds first: the kernel file systems, /dev and /run then go over
	// anything a guest's symlink could have pointed a bind target at.
	for _, b := range c.Binds {
		if b.Dir {
			mkdir(b.Target, 0o755)
		} else {
			mkdir(path.Dir(b.Target), 0o755)
			add(Step{Op: OpTouch, Path: b.Target, Mode: 0o644})
		}
		add(Step{Op: OpAttach, Path: b.Target, FD: b.FD})
	}
	mkdir("/proc", 0o555)
	mountOrAttach(Step{Op: OpMount, Source: "proc", Path: "/proc", FSType: "proc", Flags: procFlags})

	// The container has its own network namespace and with it its own sysfs
	// superblock; mounting that read-only (not just the mount) means a second
	// sysfs mount inside is read-only too, and a superblock remount is what
	// the syscall filter refuses.
	mkdir("/sys", 0o555)
	sysFlags := uintptr(procFlags)
	if !c.WritableSys {
		sysFlags |= unix.MS_RDONLY
	}
	mountOrAttach(Step{Op: OpMount, Source: "sysfs", Path: "/sys", FSType: "sysfs", Flags: sysFlags})

	mkdir("/dev", 0o755)
	add(Step{Op: OpMount, Source: "tmpfs", Path: "/dev", FSType: "tmpfs",
		Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755,size=" + devSize})
	for _, d := range append(append([]DevNode(nil), DefaultNodes...), c.DevNodes...) {
		p := "/dev/" + d.Path
		if dir := path.Dir(p); dir != "/dev" {
			mkdir(dir, 0o755)
		}
		if fd, ok := c.Detached[p]; ok {
			// A bind mount of the host's node onto an empty file, as runc
			// and LXC do for unprivileged containers.
			add(Step{Op: OpFile, Path: p, Mode: 0o600}, Step{Op: OpAttach, Path: p, FD: fd})
			continue
		}
		add(Step{Op: OpMknod, Path: p, Mode: d.Mode, Char: d.Type == 'c', Dev: unix.Mkdev(d.Major, d.Minor)})
	}
	for _, l := range [][2]string{
		{"/dev/fd", "/proc/self/fd"}, {"/dev/stdin", "/proc/self/fd/0"},
		{"/dev/stdout", "/proc/self/fd/1"}, {"/dev/stderr", "/proc/self/fd/2"},
		{"/dev/ptmx", "pts/ptmx"},
	} {
		add(Step{Op: OpSymlink, Path: l[0], Target: l[1]})
	}
	// A new devpts instance: the container's ptys are its own and invisible
	// to the host's /dev/pts (Documentation/filesystems/devpts.rst).
	mkdir("/dev/pts", 0o755)
	add(Step{Op: OpMount, Source: "devpts", Path: "/dev/pts", FSType: "devpts",
		Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "newinstance,ptmxmode=0666,mode=620,gid=5"})
	mkdir("/dev/shm", 0o1777)
	add(Step{Op: OpMount, Source: "shm", Path: "/dev/shm", FSType: "tmpfs",
		Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: shmData(c.ShmSize)})
	mkdir("/dev/mqueue", 0o755)
	add(Step{Op: OpMount, Source: "mqueue", Path: "/dev/mqueue", FSType: "mqueue", Flags: procFlags})
	if c.ConsoleFD >= 0 {
		add(Step{Op: OpFile, Path: ConsoleTargetDev, Mode: 0o600},
			Step{Op: OpAttach, Path: ConsoleTargetDev, FD: c.ConsoleFD})
	}

	for _, p := range Masked {
		if strings.HasPrefix(p, "/sys/") && c.WritableSys {
			continue
		}
		add(Step{Op: OpMask, Path: p})
	}
	for _, p := range ReadOnly {
		add(Step{Op: OpReadOnly, Path: p, Flags: roProcFlags})
	}
	for _, p := range Writable {
		add(Step{Op: OpWritable, Path: p, Flags: procFlags})
	}

	for _, m := range c.Cgroup {
		if m.Symlink != "" {
			add(Step{Op: OpSymlink, Path: m.Target, Target: m.Symlink})
			continue
		}
		if !strings.HasPrefix(m.Target, "/sys/fs/cgroup") {
			return nil, fmt.Errorf("cgroup mount target %s is outside /sys/fs/cgroup", m.Target)
		}
		mkdir(m.Target, 0o755)
		add(Step{Op: OpMount, Source: m.Source, Path: m.Target, FSType: m.FSType, Flags: m.Flags, Data: m.Data})
	}

	mkdir("/run", 0o755)
	add(Step{Op: OpMount, Source: "tmpfs", Path: "/run", FSType: "tmpfs",
		Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_STRICTATIME, Data: "mode=755,size=" + runSize})
	mkdir(HostDir, 0o755)
	manager := c.Manager
	if manager == "" {
		manager = "govz"
	}
	add(Step{Op: OpFile, Path: ManagerPath, Mode: 0o444, Content: []byte(manager + "\n")})
	if c.OSRelease != nil {
		add(Step{Op: OpFile, Path: OSReleasePath, Mode: 0o444, Content: c.OSRelease})
	}
	if c.NotifyFD >= 0 {
		add(Step{Op: OpFile, Path: NotifyPath, Mode: 0o600},
			Step{Op: OpAttach, Path: NotifyPath, FD: c.NotifyFD})
	}
	if c.ReadyFD >= 0 {
		add(Step{Op: OpFile, Path: ReadyPath, Mode: 0o600},
			Step{Op: OpAttach, Path: ReadyPath, FD: c.ReadyFD})
	}
	return s, nil
}

// String renders a step as the shell command that would do it, for tests
// and error messages.
func (s Step) String() string {
	switch s.Op {
	case OpMkdir:
		return fmt.Sprintf("mkdir -p -m %o %s", s.Mode, s.Path)
	case OpMount:
		o := flagNames(s.Flags)
		if s.Data != "" {
			o = append(o, s.Data)
		}
		opts := ""
		if len(o) > 0 {
			opts = " -o " + strings.Join(o, ",")
		}
		return fmt.Sprintf("mount -t %s%s %s %s", s.FSType, opts, s.Source, s.Path)
	case OpMknod:
		t := "b"
		if s.Char {
			t = "c"
		}
		return fmt.Sprintf("mknod -m %o %s %s %d %d", s.Mode, s.Path, t, unix.Major(s.Dev), unix.Minor(s.Dev))
	case OpSymlink:
		return fmt.Sprintf("ln -s %s %s", s.Target, s.Path)
	case OpFile:
		return fmt.Sprintf("write %s (%d bytes, mode %o)", s.Path, len(s.Content), s.Mode)
	case OpAttach:
		return fmt.Sprintf("move_mount fd:%d %s", s.FD, s.Path)
	case OpMask:
		return "mask " + s.Path
	case OpReadOnly:
		return "bind -o ro " + s.Path
	case OpWritable:
		return "bind -o rw " + s.Path
	case OpTouch:
		return fmt.Sprintf("touch -m %o %s", s.Mode, s.Path)
	}
	return fmt.Sprintf("op%d %s", s.Op, s.Path)
}

func flagNames(f uintptr) []string {
	var o []string
	for _, n := range []struct {
		bit  uintptr
		name string
	}{
		{unix.MS_RDONLY, "ro"}, {unix.MS_NOSUID, "nosuid"}, {unix.MS_NODEV, "nodev"},
		{unix.MS_NOEXEC, "noexec"}, {unix.MS_STRICTATIME, "strictatime"}, {unix.MS_RELATIME, "relatime"},
		{unix.MS_BIND, "bind"}, {unix.MS_REC, "rec"},
	} {
		if f&n.bit != 0 {
			o = append(o, n.name)
		}
	}
	return o
}
