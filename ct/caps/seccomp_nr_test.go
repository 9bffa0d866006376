//go:build linux && (amd64 || arm64)

package caps

import "golang.org/x/sys/unix"

// hostNumbers are the policy's calls as golang.org/x/sys numbers them for
// the architecture the test is built for; x/sys is generated from the
// kernel's headers, so TestTable*Numbers pin the hand-written tables
// against it (the i386 table is checked the same way only when building
// for 386; TestSyscallPolicyRows keeps the tables complete). extra adds
// the calls only this architecture has.
func hostNumbers(extra map[string]uint32) map[string]uint32 {
	m := map[string]uint32{
		"keyctl": unix.SYS_KEYCTL, "add_key": unix.SYS_ADD_KEY, "request_key": unix.SYS_REQUEST_KEY,
		"init_module": unix.SYS_INIT_MODULE, "finit_module": unix.SYS_FINIT_MODULE,
		"delete_module": unix.SYS_DELETE_MODULE, "kexec_load": unix.SYS_KEXEC_LOAD,
		"kexec_file_load": unix.SYS_KEXEC_FILE_LOAD, "open_by_handle_at": unix.SYS_OPEN_BY_HANDLE_AT,
		"name_to_handle_at": unix.SYS_NAME_TO_HANDLE_AT, "io_uring_setup": unix.SYS_IO_URING_SETUP,
		"io_uring_enter": unix.SYS_IO_URING_ENTER, "io_uring_register": unix.SYS_IO_URING_REGISTER,
		"userfaultfd": unix.SYS_USERFAULTFD, "perf_event_open": unix.SYS_PERF_EVENT_OPEN,
		"bpf": unix.SYS_BPF, "personality": unix.SYS_PERSONALITY, "nfsservctl": unix.SYS_NFSSERVCTL,
		"lookup_dcookie": unix.SYS_LOOKUP_DCOOKIE, "swapon": unix.SYS_SWAPON, "swapoff": unix.SYS_SWAPOFF,
		"settimeofday": unix.SYS_SETTIMEOFDAY, "clock_settime": unix.SYS_CLOCK_SETTIME,
		"adjtimex": unix.SYS_ADJTIMEX, "clock_adjtime": unix.SYS_CLOCK_ADJTIME, "acct": unix.SYS_ACCT,
		"syslog": unix.SYS_SYSLOG, "quotactl": unix.SYS_QUOTACTL, "quotactl_fd": unix.SYS_QUOTACTL_FD,
		"reboot": unix.SYS_REBOOT, "mount": unix.SYS_MOUNT, "umount2": unix.SYS_UMOUNT2,
		"fspick": unix.SYS_FSPICK, "fsopen": unix.SYS_FSOPEN, "fsconfig": unix.SYS_FSCONFIG,
		"fsmount": unix.SYS_FSMOUNT, "open_tree": unix.SYS_OPEN_TREE, "open_tree_attr": unix.SYS_OPEN_TREE_ATTR,
		"move_mount": unix.SYS_MOVE_MOUNT, "mount_setattr": unix.SYS_MOUNT_SETATTR,
		"pivot_root": unix.SYS_PIVOT_ROOT, "socket": unix.SYS_SOCKET, "ioctl": unix.SYS_IOCTL,
		"file_setattr": unix.SYS_FILE_SETATTR, "ptrace": unix.SYS_PTRACE,
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}
