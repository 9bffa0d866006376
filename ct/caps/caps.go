// Package caps decides what root inside a container may still do: the
// capability bounding set its init starts with, and the small syscall
// filter (seccomp) that backs the bounding set up where capabilities alone
// cannot say no.
//
// Every container runs in a user namespace of its own: identity-mapped
// without local_uid (root inside is host UID 0 for file ownership, its
// capabilities act on its own namespaces only), mapped to an unprivileged
// range with it. The bounding set listed here applies inside either. The policy is pure data and
// functions, tested without root; Apply and InstallFilter are the thin
// kernel layer that nsinit calls on the thread that execs the guest init.
package caps

import (
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"strings"
)

// Errors of this package, wrapped with the capability at fault.
var (
	// ErrBadCapability: a capability name or on/off value that does not
	// parse (vzctl --capability, a run state record).
	ErrBadCapability = errors.New("invalid capability")
	// ErrUnsupported: a capability above the running kernel's last one
	// (/proc/sys/kernel/cap_last_cap).
	ErrUnsupported = errors.New("not supported by this kernel")
)

// Cap is a capability number as the kernel numbers them
// (include/uapi/linux/capability.h).
type Cap int

// Set is a set of capabilities, bit n = capability n.
type Set uint64

// names maps kernel numbers to lower-case names without "cap_", the form
// vzctl's --capability uses. The index is the number.
var names = [...]string{
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill",
	"setgid", "setuid", "setpcap", "linux_immutable", "net_bind_service",
	"net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
	"sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
	"sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time",
	"sys_tty_config", "mknod", "lease", "audit_write", "audit_control",
	"setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
	"block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
}

// Last is the highest capability this package knows by name.
const Last = Cap(len(names) - 1)

// obsolete are capability names vzctl accepted for OpenVZ kernels that mean
// nothing on a stock kernel; configs imported from OpenVZ carry them, so
// they are accepted and ignored rather than rejected.
var obsolete = map[string]bool{"setveid": true, "ve_admin": true}

// String returns the capability's name ("sys_admin").
func (c Cap) String() string {
	if c >= 0 && c <= Last {
		return names[c]
	}
	return fmt.Sprintf("cap_%d", int(c))
}

// Lookup returns the capability named s: "sys_admin", "SYS_ADMIN" and
// "CAP_SYS_ADMIN" all name the same one.
func Lookup(s string) (Cap, bool) {
	s = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "cap_")
	for i, n := range names {
		if n == s {
			return Cap(i), true
		}
	}
	return 0, false
}

// Has reports whether c is in s.
func (s Set) Has(c Cap) bool { return c >= 0 && c < 64 && s&(1<<uint(c)) != 0 }

// Add returns s with c.
func (s Set) Add(c Cap) Set { return s | 1<<uint(c) }

// Del returns s without c.
func (s Set) Del(c Cap) Set { return s &^ (1 << uint(c)) }

// Len is the number of capabilities in s.
func (s Set) Len() int { return bits.OnesCount64(uint64(s)) }

// Names lists s's members by name, in kernel order.
func (s Set) Names() []string {
	var out []string
	for c := Cap(0); c < 64; c++ {
		if s.Has(c) {
			out = append(out, c.String())
		}
	}
	return out
}

// Full is every capability up to and including last (the running kernel's
// /proc/sys/kernel/cap_last_cap).
func Full(last Cap) Set {
	if last >= 63 {
		return ^Set(0)
	}
	return Set(1)<<uint(last+1) - 1
}

// Drop is one capability the default policy removes, with the reason.
type Drop struct {
	Cap Cap
	Why string
}

// DefaultDrops is what a container's root loses by default. The list is the
// union of what LXC drops for privileged containers (mac_admin mac_override
// sys_time sys_module sys_rawio, lxc/lxc config/templates/common.conf) and
// what systemd-nspawn leaves out of its keep-list (src/nspawn/nspawn.c
// arg_caps_retain) where the capability acts on host-global state that no
// namespace isolates. sys_boot is kept on purpose: reboot(2) in a PID
// namespace does not reboot the host, it kills the namespace's init with
// SIGHUP (restart) or SIGINT (halt/power-off), which is how the supervisor
// learns that the guest wants to reboot or stop (man 2 reboot).
var DefaultDrops = []Drop{
	{16, "load and unload kernel modules: one kernel for all containers"},
	{17, "iopl/ioperm, /dev/mem and raw block ioctls reach host hardware"},
	{25, "the system clock is not namespaced: setting it sets the host's"},
	{32, "override the host's LSM (AppArmor/SELinux/Smack) policy"},
	{33, "change the host's LSM policy"},
	{30, "audit rules and the audit daemon are host-global"},
	{37, "read the host-global audit log over netlink multicast"},
	{20, "acct(2) switches process accounting for the whole host"},
	{34, "read and clear the host's kernel ring buffer (dmesg -c)"},
	{35, "set timers that wake the host from suspend"},
	{36, "keep the host from suspending"},
	{38, "perf events see every process and the kernel"},
	{39, "load BPF programs into the shared kernel"},
	{40, "checkpoint/restore controls meant for the host's CRIU"},
}

// Default is the bounding set before per-container changes.
func Default(last Cap) Set {
	s := Full(last)
	for _, d := range DefaultDrops {
		s = s.Del(d.Cap)
	}
	return s
}

// Change is one vzctl --capability item: name:on or name:off.
type Change struct {
	Cap Cap
	On  bool
}

// ParseChanges parses vzctl's capability list ("net_admin:off sys_time:on",
// also comma separated). OpenVZ-only names (setveid, ve_admin) are ignored.
func ParseChanges(items []string) ([]Change, error) {
	var out []Change
	for _, item := range items {
		for _, f := range strings.FieldsFunc(item, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			name, val, ok := strings.Cut(f, ":")
			if !ok {
				return nil, fmt.Errorf("capability %q: want name:on or name:off: %w", f, ErrBadCapability)
			}
			var on bool
			switch strings.ToLower(val) {
			case "on":
				on = true
			case "off":
			default:
				return nil, fmt.Errorf("capability %q: value %q is not on or off: %w", f, val, ErrBadCapability)
			}
			if obsolete[strings.TrimPrefix(strings.ToLower(name), "cap_")] {
				continue
			}
			c, ok := Lookup(name)
			if !ok {
				return nil, fmt.Errorf("unknown capability %q: %w", name, ErrBadCapability)
			}
			out = append(out, Change{Cap: c, On: on})
		}
	}
	return out, nil
}

// Bounding returns the bounding set for a container: Default(last) with
// changes applied in order (a later change to the same capability wins).
// Capabilities above last (unknown to the running kernel) are refused.
func Bounding(last Cap, changes []Change) (Set, error) {
	s := Default(last)
	for _, ch := range changes {
		if ch.Cap > last {
			return 0, fmt.Errorf("capability %s: %w", ch.Cap, ErrUnsupported)
		}
		if ch.On {
			s = s.Add(ch.Cap)
		} else {
			s = s.Del(ch.Cap)
		}
	}
	return s, nil
}

// FromNames builds a set from names, for readers of a runstate record.
func FromNames(ns []string) (Set, error) {
	var s Set
	for _, n := range ns {
		c, ok := Lookup(n)
		if !ok {
			return 0, fmt.Errorf("unknown capability %q: %w", n, ErrBadCapability)
		}
		s = s.Add(c)
	}
	return s, nil
}

// DefaultDropNames lists the default drops by name, sorted, for docs and
// messages.
func DefaultDropNames() []string {
	out := make([]string, 0, len(DefaultDrops))
	for _, d := range DefaultDrops {
		out = append(out, d.Cap.String())
	}
	sort.Strings(out)
	return out
}
