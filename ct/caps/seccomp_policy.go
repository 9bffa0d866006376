package caps

// The syscall policy: every call the review of Docker's default profile
// (moby profiles/seccomp/default.json, an allow-list answering EPERM) and
// LXC's and Incus's defaults (deny-lists: LXC's config/templates/
// common.seccomp answers EPERM for modules and kexec, ENOSYS for keyctl;
// Incus ENOSYS for all) looked at, with what the container's filter does with it and why. Calls
// not listed are allowed: the container keeps CAP_SYS_ADMIN over its own
// namespaces (systemd guests need it), so this is a deny-list, like LXC's.
//
// Which errno: a refused call answers what the guest's software already
// copes with on some ordinary kernel.
//
//   - EPERM where an ordinary kernel refuses the caller: the call exists
//     but needs a privilege the container does not have (modules, kexec,
//     clock setting, swap, accounting, bpf with
//     kernel.unprivileged_bpf_disabled, io_uring with
//     kernel.io_uring_disabled=2, userfaultfd with
//     vm.unprivileged_userfaultfd=0). Docker answers EPERM to everything it
//     refuses. Most of these the kernel refuses already, because the
//     container's capabilities are those of its user namespace and these
//     calls check the initial one (capable(), not ns_capable()); the filter
//     is a second lock that holds even if that changes, and then the guest
//     sees the same errno either way.
//   - ENOSYS where a kernel built without the feature answers ENOSYS and
//     software treats that as "not here" and carries on: the keyring calls
//     (CONFIG_KEYS=n), and the calls that no longer exist. For keyrings
//     this is LXC's choice too ("keyctl errno 38"). systemd copes with
//     both (setup_keyring, src/core/execute.c in Debian 12's systemd 252,
//     logs "Kernel keyring not supported, ignoring." at debug level for
//     ENOSYS and goes on, and does the same for EPERM;
//     TestDebianSystemdGuest boots with no failed unit), but other keyring
//     users (keyutils' keyctl, krb5's KEYRING cache, ecryptfs-utils) say
//     "not supported" for ENOSYS and report a permission failure for EPERM:
//     ENOSYS tells the truth, that the container has no keyrings.
//
// The same filter runs in both user-namespace modes (identity-mapped and
// local_uid): nothing below needs to differ. With local_uid the guest's
// root is an unprivileged host user, so the kernel's own checks already
// keep it from host root's keys; the keyring calls stay refused anyway,
// as Docker refuses them with user namespaces too: keyrings are not
// namespaced, a container's user keyring is shared with whatever else runs
// as that host UID, and the per-UID key quota is a host resource. One
// filter also keeps exec and enter from needing to know the mode.
//
// ptrace(2) stays allowed (Docker allows it from kernel 4.8 on, where a
// tracer can no longer change a syscall after seccomp has judged it): the
// guest's strace and gdb work, and the container's PID namespace leaves
// it nothing outside to name. The one host process that enters that
// namespace is vzctl exec/enter's (ct/attach, ct/nsenter/nsexec.c): its
// waiting parent stays in the host's PID namespace, invisible inside, and
// the child that runs the host binary in the container's namespaces sets
// PR_SET_DUMPABLE to 0 before the fork, so until its execve ptrace and
// /proc/PID/{mem,exe,fd} on it need CAP_SYS_PTRACE in the host's user
// namespace (the mm's, kernel/ptrace.c __ptrace_may_access), which no
// container process has. The execve that starts the guest's command makes
// it dumpable again, but then it runs the guest's binary, under this
// filter, with the container's credentials.

// action is what the filter does with a call.
type action uint8

const (
	actAllow action = iota // passed to the kernel and its own checks
	actErrno               // refused with the rule's errno
	actArgs                // decided on its arguments, see Filter
)

// syscallRule is one row of the policy.
type syscallRule struct {
	name  string // as in the kernel's syscall tables; the key of SyscallTable.Nr
	act   action
	errno uint32 // actErrno: the errno; actArgs: the errno a refused form answers
	why   string
}

// syscallPolicy is the container's syscall policy (see above for the
// choice of errno).
var syscallPolicy = []syscallRule{
	// Keyrings are not namespaced: the guest's root is kernel UID 0 in the
	// identity-mapped mode, and reads host root's keys (and other
	// containers') by serial number, or links host root's user keyring
	// into its session.
	{"keyctl", actErrno, errENOSYS, "keyrings are not namespaced: host root's and other containers' keys"},
	{"add_key", actErrno, errENOSYS, "keyrings are not namespaced; adds to UID 0's (host root's) user keyring"},
	{"request_key", actErrno, errENOSYS, "keyrings are not namespaced; searches and upcalls to the host's /sbin/request-key"},

	// Kernel code and the running kernel.
	{"init_module", actErrno, errEPERM, "loads kernel code; CAP_SYS_MODULE is dropped as well (LXC, Incus, Docker)"},
	{"finit_module", actErrno, errEPERM, "loads kernel code"},
	{"delete_module", actErrno, errEPERM, "unloads the host's modules"},
	{"kexec_load", actErrno, errEPERM, "replaces the host's kernel"},
	{"kexec_file_load", actErrno, errEPERM, "replaces the host's kernel"},

	// Reaching past the container's root.
	{"open_by_handle_at", actErrno, errEPERM, "opens any inode of a host file system by handle, outside the container's root (the 2014 shocker escape)"},
	{"name_to_handle_at", actAllow, 0, "only makes a handle, useless without open_by_handle_at; systemd compares mount ids with it"},

	// Attack surface with no use in a system container.
	{"io_uring_setup", actErrno, errEPERM, "ring operations (IORING_OP_SOCKET, OPENAT, URING_CMD) never pass this filter; the largest source of kernel exploits in 2021-23, off in ChromeOS, Android and Docker"},
	{"io_uring_enter", actErrno, errEPERM, "io_uring, see io_uring_setup"},
	{"io_uring_register", actErrno, errEPERM, "io_uring, see io_uring_setup"},
	{"userfaultfd", actErrno, errEPERM, "page faults handled in user space: the mode that stalls the kernel's own accesses (turning kernel races into reliable exploits) needs CAP_SYS_PTRACE in the initial namespace, but the user-mode-only one is open to anyone and no guest service needs it (Docker refuses the call); /dev/userfaultfd is neither in the container's /dev nor in its device allow-list unless --devnodes adds it"},
	{"perf_event_open", actErrno, errEPERM, "host-wide counters and tracepoints, a side channel and a frequent source of kernel bugs (Docker refuses it); kernel.perf_event_paranoid decides only per host"},
	{"bpf", actErrno, errEPERM, "program loading and map access are host-global; the kernel wants CAP_BPF/CAP_SYS_ADMIN in the initial user namespace anyway, so systemd already sees EPERM and does without"},
	{"personality", actArgs, errEPERM, "only the domains Docker allows: 0, PER_LINUX32, UNAME26, both, and the 0xffffffff query; the other flags (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO, ...) switch off exploit mitigations"},
	{"iopl", actErrno, errEPERM, "raw I/O port access to the host's hardware; CAP_SYS_RAWIO is dropped"},
	{"ioperm", actErrno, errEPERM, "raw I/O port access to the host's hardware; CAP_SYS_RAWIO is dropped"},
	{"vm86", actErrno, errENOSYS, "i386 virtual-8086 mode; a 64-bit kernel has no such call for compat tasks"},
	{"vm86old", actErrno, errENOSYS, "i386 virtual-8086 mode; a 64-bit kernel has no such call for compat tasks"},
	{"uselib", actErrno, errENOSYS, "a.out shared libraries; the kernel answers ENOSYS without CONFIG_USELIB"},
	{"nfsservctl", actErrno, errENOSYS, "removed in Linux 3.1, the kernel answers ENOSYS itself"},
	{"lookup_dcookie", actErrno, errENOSYS, "oprofile's, gone from recent kernels (ENOSYS); before that host-global and CAP_SYS_ADMIN in the initial namespace"},

	// Host-global state.
	{"swapon", actErrno, errEPERM, "swap is the host's; the kernel checks CAP_SYS_ADMIN in the initial user namespace"},
	{"swapoff", actErrno, errEPERM, "swap is the host's"},
	{"settimeofday", actErrno, errEPERM, "the clock is the host's; CAP_SYS_TIME is dropped"},
	{"stime", actErrno, errEPERM, "the clock is the host's"},
	{"clock_settime", actErrno, errEPERM, "the clock is the host's; time namespaces offset CLOCK_MONOTONIC/BOOTTIME only through /proc"},
	{"clock_settime64", actErrno, errEPERM, "the clock is the host's"},
	{"adjtimex", actAllow, 0, "modes 0 is a query (chrony, timedatectl); any change needs CAP_SYS_TIME in the initial user namespace (timekeeping_validate_timex)"},
	{"clock_adjtime", actAllow, 0, "as adjtimex"},
	{"clock_adjtime64", actAllow, 0, "as adjtimex"},
	{"acct", actErrno, errEPERM, "process accounting is host-wide; CAP_SYS_PACCT in the initial user namespace"},
	{"syslog", actErrno, errEPERM, "the kernel log is the host's: reading it leaks the host's and the neighbours' messages when kernel.dmesg_restrict is 0; dmesg then says what it says under dmesg_restrict=1"},
	{"quotactl", actAllow, 0, "every change and every other user's quota needs CAP_SYS_ADMIN in the superblock's user namespace, the host's; a user reading its own quota is harmless"},
	{"quotactl_fd", actAllow, 0, "as quotactl"},
	{"reboot", actAllow, 0, "how a guest halts: in a PID namespace other than the initial one, RESTART and POWER_OFF/HALT only kill the namespace's init with SIGHUP/SIGINT (reboot_pid_ns), which ct/supervisor reads as reboot or halt; other commands answer EINVAL"},

	// Mounts. The filter cannot see paths, so what protects the masks over
	// /proc and /sys and the container's root is the kernel's mount
	// locking (ct/nsinit/lock_linux.go): init runs in a mount namespace
	// owned by a nested user namespace, which makes every mount we set up
	// MNT_LOCKED, the read-only ones MNT_LOCK_READONLY.
	{"mount", actArgs, errEPERM, "a superblock remount (MS_REMOUNT without MS_BIND) would make the shared sysfs or the host's file system writable; everything else is the container's own namespace"},
	{"umount2", actArgs, errEPERM, "MNT_FORCE acts on the superblock, i.e. for every user of the file system (LXC's reject_force_umount)"},
	{"fspick", actErrno, errENOSYS, "the new mount API's superblock reconfiguration, see mount; libmount falls back to mount(2) on ENOSYS"},
	{"fsopen", actAllow, 0, "a new superblock, the same as mount(2) of a new file system: only types with FS_USERNS_MOUNT, and fsmount refuses a too revealing procfs or sysfs (mount_too_revealing)"},
	{"fsconfig", actAllow, 0, "configures a context from fsopen; a reconfiguration needs one from fspick, which is refused"},
	{"fsmount", actAllow, 0, "see fsopen"},
	{"open_tree", actAllow, 0, "a detached copy keeps the locks of what it copies; a non-recursive copy of a mount with locked children is refused (EINVAL), as for MS_BIND"},
	{"open_tree_attr", actAllow, 0, "open_tree plus mount_setattr, with the checks of both"},
	{"move_mount", actAllow, 0, "a locked mount cannot be moved (EINVAL); the rest is the container's own tree"},
	{"mount_setattr", actAllow, 0, "clearing read-only on a MNT_LOCK_READONLY mount is refused (EPERM); idmapping a mount needs CAP_SYS_ADMIN over the file system's user namespace, the host's"},
	{"pivot_root", actAllow, 0, "changes the root of the caller's own mount namespace only (systemd's RootDirectory= services, nested containers); a locked mount cannot be moved by it"},

	// Arguments inspected for other reasons (see Filter).
	{"socket", actArgs, errEAFNOSUPPORT, "NETLINK_AUDIT: the audit subsystem is not namespaced; audit-aware tools handle EAFNOSUPPORT (systemd-nspawn does the same)"},
	{"ioctl", actArgs, 0, "storage the container shares with the host and its neighbours: deniedIoctls"},
	{"file_setattr", actErrno, errEPERM, "FS_IOC_FSSETXATTR as a syscall: project ids, see deniedIoctls"},
	{"ptrace", actAllow, 0, "the PID namespace leaves only the container's own processes to trace; see the top of this file for vzctl exec's"},
}

// personalityAllowed are the personality(2) arguments the filter lets
// through, Docker's list: PER_LINUX, PER_LINUX32 (linux32, setarch i686),
// UNAME26 (for software that parses a 2.6 version), PER_LINUX32|UNAME26,
// and 0xffffffff, which only reads the current value. The kernel takes the
// argument as an unsigned int, so only the low 32 bits count.
var personalityAllowed = []uint32{0x0, 0x8, 0x20000, 0x20008, 0xffffffff}

// Syscall numbers per architecture, from the kernel's tables
// (arch/x86/entry/syscalls/syscall_{64,32}.tbl, include/uapi/asm-generic/
// unistd.h, arch/arm/tools/syscall.tbl; golang.org/x/sys/unix has the
// same). A name missing from a table is a call the architecture does not
// have; the tests list those, so that a forgotten number shows.
var (
	TableX8664 = SyscallTable{Name: "x86_64", AuditArch: 0xc000003e, X32: true, Nr: map[string]uint32{
		"ioctl": 16, "socket": 41, "ptrace": 101, "syslog": 103, "uselib": 134, "personality": 135,
		"pivot_root": 155, "adjtimex": 159, "acct": 163, "settimeofday": 164, "mount": 165,
		"umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "iopl": 172, "ioperm": 173,
		"init_module": 175, "delete_module": 176, "quotactl": 179, "nfsservctl": 180,
		"lookup_dcookie": 212, "clock_settime": 227, "kexec_load": 246, "add_key": 248,
		"request_key": 249, "keyctl": 250, "perf_event_open": 298, "name_to_handle_at": 303,
		"open_by_handle_at": 304, "clock_adjtime": 305, "finit_module": 313, "kexec_file_load": 320,
		"bpf": 321, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
		"io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
		"fsmount": 432, "fspick": 433, "mount_setattr": 442, "quotactl_fd": 443, "open_tree_attr": 467,
		"file_setattr": 469,
	}}
	TableI386 = SyscallTable{Name: "i386", AuditArch: 0x40000003, Nr: map[string]uint32{
		"mount": 21, "stime": 25, "ptrace": 26, "acct": 51, "umount2": 52, "ioctl": 54,
		"settimeofday": 79, "uselib": 86, "swapon": 87, "reboot": 88, "ioperm": 101, "syslog": 103,
		"iopl": 110, "vm86old": 113, "swapoff": 115, "adjtimex": 124, "init_module": 128,
		"delete_module": 129, "quotactl": 131, "personality": 136, "vm86": 166, "nfsservctl": 169,
		"pivot_root": 217, "lookup_dcookie": 253, "clock_settime": 264, "kexec_load": 283,
		"add_key": 286, "request_key": 287, "keyctl": 288, "perf_event_open": 336,
		"name_to_handle_at": 341, "open_by_handle_at": 342, "clock_adjtime": 343, "finit_module": 350,
		"bpf": 357, "socket": 359, "userfaultfd": 374, "clock_settime64": 404, "clock_adjtime64": 405,
		"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
		"move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
		"mount_setattr": 442, "quotactl_fd": 443, "open_tree_attr": 467, "file_setattr": 469,
	}}
	TableAArch64 = SyscallTable{Name: "aarch64", AuditArch: 0xc00000b7, Nr: map[string]uint32{
		"lookup_dcookie": 18, "ioctl": 29, "umount2": 39, "mount": 40, "pivot_root": 41,
		"nfsservctl": 42, "quotactl": 60, "acct": 89, "personality": 92, "kexec_load": 104,
		"init_module": 105, "delete_module": 106, "clock_settime": 112, "syslog": 116, "ptrace": 117,
		"reboot": 142, "settimeofday": 170, "adjtimex": 171, "socket": 198, "add_key": 217,
		"request_key": 218, "keyctl": 219, "swapon": 224, "swapoff": 225, "perf_event_open": 241,
		"name_to_handle_at": 264, "open_by_handle_at": 265, "clock_adjtime": 266, "finit_module": 273,
		"bpf": 280, "userfaultfd": 282, "kexec_file_load": 294, "io_uring_setup": 425,
		"io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
		"fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
		"quotactl_fd": 443, "open_tree_attr": 467, "file_setattr": 469,
	}}
	TableARM = SyscallTable{Name: "arm", AuditArch: 0x40000028, Nr: map[string]uint32{
		"mount": 21, "ptrace": 26, "acct": 51, "umount2": 52, "ioctl": 54, "settimeofday": 79,
		"uselib": 86, "swapon": 87, "reboot": 88, "syslog": 103, "swapoff": 115, "adjtimex": 124,
		"init_module": 128, "delete_module": 129, "quotactl": 131, "personality": 136,
		"nfsservctl": 169, "pivot_root": 218, "lookup_dcookie": 249, "clock_settime": 262,
		"socket": 281, "add_key": 309, "request_key": 310, "keyctl": 311, "kexec_load": 347,
		"perf_event_open": 364, "name_to_handle_at": 370, "open_by_handle_at": 371,
		"clock_adjtime": 372, "finit_module": 379, "bpf": 386, "userfaultfd": 388,
		"kexec_file_load": 401, "clock_settime64": 404, "clock_adjtime64": 405, "io_uring_setup": 425,
		"io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
		"fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
		"quotactl_fd": 443, "open_tree_attr": 467, "file_setattr": 469,
	}}
)
