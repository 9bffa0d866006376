package attach

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"govz/ct/vzerror"
)

// capNumbers maps capability names, lower-case without CAP_ as the run
// record stores them (capabilities(7)), to their numbers.
func capNumbers() map[string]int {
	return map[string]int{
		"chown":              unix.CAP_CHOWN,
		"dac_override":       unix.CAP_DAC_OVERRIDE,
		"dac_read_search":    unix.CAP_DAC_READ_SEARCH,
		"fowner":             unix.CAP_FOWNER,
		"fsetid":             unix.CAP_FSETID,
		"kill":               unix.CAP_KILL,
		"setgid":             unix.CAP_SETGID,
		"setuid":             unix.CAP_SETUID,
		"setpcap":            unix.CAP_SETPCAP,
		"linux_immutable":    unix.CAP_LINUX_IMMUTABLE,
		"net_bind_service":   unix.CAP_NET_BIND_SERVICE,
		"net_broadcast":      unix.CAP_NET_BROADCAST,
		"net_admin":          unix.CAP_NET_ADMIN,
		"net_raw":            unix.CAP_NET_RAW,
		"ipc_lock":           unix.CAP_IPC_LOCK,
		"ipc_owner":          unix.CAP_IPC_OWNER,
		"sys_module":         unix.CAP_SYS_MODULE,
		"sys_rawio":          unix.CAP_SYS_RAWIO,
		"sys_chroot":         unix.CAP_SYS_CHROOT,
		"sys_ptrace":         unix.CAP_SYS_PTRACE,
		"sys_pacct":          unix.CAP_SYS_PACCT,
		"sys_admin":          unix.CAP_SYS_ADMIN,
		"sys_boot":           unix.CAP_SYS_BOOT,
		"sys_nice":           unix.CAP_SYS_NICE,
		"sys_resource":       unix.CAP_SYS_RESOURCE,
		"sys_time":           unix.CAP_SYS_TIME,
		"sys_tty_config":     unix.CAP_SYS_TTY_CONFIG,
		"mknod":              unix.CAP_MKNOD,
		"lease":              unix.CAP_LEASE,
		"audit_write":        unix.CAP_AUDIT_WRITE,
		"audit_control":      unix.CAP_AUDIT_CONTROL,
		"setfcap":            unix.CAP_SETFCAP,
		"mac_override":       unix.CAP_MAC_OVERRIDE,
		"mac_admin":          unix.CAP_MAC_ADMIN,
		"syslog":             unix.CAP_SYSLOG,
		"wake_alarm":         unix.CAP_WAKE_ALARM,
		"block_suspend":      unix.CAP_BLOCK_SUSPEND,
		"audit_read":         unix.CAP_AUDIT_READ,
		"perfmon":            unix.CAP_PERFMON,
		"bpf":                unix.CAP_BPF,
		"checkpoint_restore": unix.CAP_CHECKPOINT_RESTORE,
	}
}

// capMask turns the record's kept capabilities into the bounding-set mask
// the constructor keeps. An empty list is refused rather than read as
// "all" or "none": the supervisor always records the set it applied.
func capMask(names []string) (uint64, error) {
	if len(names) == 0 {
		return 0, fmt.Errorf("no capability bounding set recorded: %w", vzerror.ErrSystem)
	}
	nums := capNumbers()
	var mask uint64
	for _, n := range names {
		key := strings.TrimPrefix(strings.ToLower(n), "cap_")
		c, ok := nums[key]
		if !ok {
			return 0, fmt.Errorf("unknown capability %q: %w", n, vzerror.ErrSystem)
		}
		mask |= 1 << c
	}
	return mask, nil
}
