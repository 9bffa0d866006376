package caps

import (
	"cmp"
	"fmt"
	"slices"
)

// The syscall filter is a deny-list in the spirit of LXC's
// config/templates/common.seccomp and Incus's default policy: everything is
// allowed except calls whose effect reaches past the container even though
// root inside keeps CAP_SYS_ADMIN (needed by systemd guests). The policy,
// one row per call with its action, errno and reason, is syscallPolicy
// (seccomp_policy.go); it covers the review against Docker's and LXC's
// defaults. The calls decided on their arguments:
//
//   - mount(2) with MS_REMOUNT but without MS_BIND: EPERM. That is a
//     superblock reconfiguration; it is how "mount -o remount,rw /sys"
//     would turn the container's read-only sysfs writable. Per-mount
//     (MS_BIND) remounts stay allowed: systemd makes paths read-only that
//     way for its sandboxed services.
//   - umount2(2) with MNT_FORCE: EPERM, LXC's reject_force_umount.
//   - socket(AF_NETLINK, *, NETLINK_AUDIT): EAFNOSUPPORT, as systemd-nspawn
//     does: the audit subsystem is not namespaced, and audit-aware tools
//     handle "no audit" gracefully but stall or fail on a refused socket.
//   - personality(2) outside Docker's list (personalityAllowed): EPERM.
//   - ioctl(2) requests that manage storage the container shares with the
//     host and its neighbours (deniedIoctls): ENOTTY for btrfs subvolumes,
//     quota and metadata, EPERM for the rest. See below.
//   - x32 system calls (x86-64 numbers with bit 30 set): ENOSYS, so that
//     nothing reaches the refused calls under an alias number.
//
// The ioctl rules close holes in the disk limits of the storage layouts
// (ct/storage) and in the isolation of the file system every container's
// private area lives on:
//
//   - btrfs subvolumes and snapshots. Creating one needs no capability
//     at all, and the new subvolume gets a level-0 qgroup of its own that
//     nothing charges to the container's: a container on the btrfs layout
//     would escape its diskspace limit with one `btrfs subvolume create`
//     (Incus documents the same escape for its btrfs driver and leaves it
//     open). Deleting, re-flagging and "received" marking are refused
//     with them, as is the default-subvolume switch, which acts on the
//     whole file system.
//   - btrfs quota and qgroup control: the limits are the host's to set.
//   - btrfs tree searches and inode/extent-to-path lookups with
//     CAP_SYS_ADMIN: they read any subvolume's metadata, i.e. the names and
//     sizes of the neighbours' files. The unprivileged lookups
//     (INO_LOOKUP_USER, GET_SUBVOL_INFO, GET_SUBVOL_ROOTREF) stay allowed.
//
//     These three answer ENOTTY, what a file system without these
//     ioctls answers, not EPERM: programs treat ENOTTY as "not btrfs here"
//     and fall back, but EPERM as a failure. systemd-tmpfiles makes a
//     plain directory for a "v" (subvolume) line on ENOTTY and fails the
//     line on EPERM (systemd 252 in Debian 12, btrfs_subvol_make_fallback;
//     TestStorageSecDebianOnBtrfs), so with EPERM a guest that ships such
//     a line would boot degraded. btrfs-progs then says "Inappropriate
//     ioctl for device", as it does off btrfs.
//   - whole-file-system management with CAP_SYS_ADMIN: resize, device
//     add/remove/replace, balance, scrub, feature and label changes,
//     FIFREEZE/FITHAW (a frozen /vz hangs the host's writers),
//     FS_IOC_SHUTDOWN, ext4's UUID change. The superblock is the host's,
//     whatever the layout; the same reasoning as for MS_REMOUNT.
//   - FS_IOC_FSSETXATTR: in the initial user namespace it changes a file's
//     project id, which on the dir layout moves the file out of the
//     container's project quota, or charges it to a neighbour's. chattr's
//     flags (FS_IOC_SETFLAGS) stay allowed; note that clearing the
//     project-inherit flag with them still lets new files escape the
//     project (see ct/storage's dir layout): only a user namespace, where
//     the kernel refuses every project change, closes that.
//
// Clone, dedupe, defrag, FS_INFO, space info and the flag ioctls stay
// allowed: cp --reflink, journald's chattr +C and btrfs-progs' read-only
// commands work. The whole-file-system and project-id requests answer
// EPERM, as they would to a caller without CAP_SYS_ADMIN (or, for
// FS_IOC_FSSETXATTR, to one that does not own the file).
//
// The rules apply to every container whatever its layout: no container
// has business managing the host's file systems, a filter that depends on
// the layout would have to follow a container through layout changes and
// be rebuilt for every vzctl exec, and a request number that means nothing
// to the file system at hand (a btrfs ioctl on ext4) answers ENOTTY
// without the filter anyway. Docker's default profile does
// not filter ioctl requests, but Docker also drops CAP_SYS_ADMIN, which
// most of these need; subvolume creation needs nothing, so even an
// unprivileged container needs the filter for the btrfs layout's limit to
// hold.
//
// The kernel takes ioctl's request as an unsigned int (fs/ioctl.c), so the
// filter compares only the low 32 bits of the argument: a caller that sets
// the upper 32 bits reaches the same request and must meet the same rule.
//
// What a filter cannot do: seccomp sees pointers, not strings, so it cannot
// tell which path a mount or umount names. The masks on /proc and /sys are
// kept by the kernel instead: every container runs in a user namespace
// (identity-mapped when it has no local_uid) and its init in a mount
// namespace owned by a nested one, so every mount we made is MNT_LOCKED
// (no umount, no remount rw) and a fresh procfs or sysfs is refused as
// "too revealing" (ct/nsinit/lock_linux.go).

// Classic BPF opcodes (include/uapi/linux/filter.h, bpf_common.h).
const (
	bpfLdWAbs = 0x20 // BPF_LD | BPF_W | BPF_ABS
	bpfJA     = 0x05 // BPF_JMP | BPF_JA
	bpfJeqK   = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
	bpfJgeK   = 0x35 // BPF_JMP | BPF_JGE | BPF_K
	bpfJsetK  = 0x45 // BPF_JMP | BPF_JSET | BPF_K
	bpfRetK   = 0x06 // BPF_RET | BPF_K
	bpfAndK   = 0x54 // BPF_ALU | BPF_AND | BPF_K
)

// Seccomp return values and struct seccomp_data offsets
// (include/uapi/linux/seccomp.h).
const (
	retAllow = 0x7fff0000
	retErrno = 0x00050000

	offNr   = 0
	offArch = 4
	offArgs = 16 // args[i] at 16+8*i; the low 32 bits come first (little endian)
)

// ioctlTypeMask selects an ioctl request's type byte (_IOC_TYPEMASK <<
// _IOC_TYPESHIFT, asm-generic/ioctl.h): the filter sorts requests by type
// first, so that the terminal and socket ioctls most programs make pass
// after a few instructions.
const ioctlTypeMask = 0xff00

// Errno values used by the filter (asm-generic/errno*.h, same on every arch
// this file knows).
const (
	errEPERM        = 1
	errENOTTY       = 25
	errENOSYS       = 38
	errEAFNOSUPPORT = 97
)

// Flag values tested in syscall arguments.
const (
	msRemount    = 0x20   // MS_REMOUNT
	msBind       = 0x1000 // MS_BIND
	mntForce     = 0x1    // MNT_FORCE
	afNetlink    = 16     // AF_NETLINK
	netlinkAudit = 9      // NETLINK_AUDIT
	x32Bit       = 0x40000000
)

// SyscallTable holds the syscall numbers the filter needs for one audit
// architecture (seccomp_policy.go has the tables).
type SyscallTable struct {
	Name      string
	AuditArch uint32
	X32       bool              // reject numbers with bit 30 (x86-64 only)
	Nr        map[string]uint32 // syscallPolicy's names; missing: no such call here
}

// deniedIoctl is one ioctl request the filter refuses, and the errno it
// answers.
type deniedIoctl struct {
	name  string
	cmd   uint32
	errno uint32
}

// deniedIoctls are the requests refused (see the comment at the top for
// why), as the kernel numbers them: include/uapi/linux/btrfs.h, fs.h and
// ext4's; SET_RECEIVED_SUBVOL_32 is fs/btrfs/ioctl.c's own, which a 64-bit
// kernel accepts from any caller. Request numbers do not depend on the
// architecture here: x86 and arm share asm-generic's _IOC layout, and the
// argument structs are built of 64-bit fields. The tests pin them to the
// values the C headers give.
var deniedIoctls = []deniedIoctl{
	// btrfs subvolumes and snapshots.
	{"BTRFS_IOC_SNAP_CREATE", 0x50009401, errENOTTY},
	{"BTRFS_IOC_SUBVOL_CREATE", 0x5000940e, errENOTTY},
	{"BTRFS_IOC_SNAP_CREATE_V2", 0x50009417, errENOTTY},
	{"BTRFS_IOC_SUBVOL_CREATE_V2", 0x50009418, errENOTTY},
	{"BTRFS_IOC_SNAP_DESTROY", 0x5000940f, errENOTTY},
	{"BTRFS_IOC_SNAP_DESTROY_V2", 0x5000943f, errENOTTY},
	{"BTRFS_IOC_SUBVOL_SETFLAGS", 0x4008941a, errENOTTY},
	{"BTRFS_IOC_DEFAULT_SUBVOL", 0x40089413, errENOTTY},
	{"BTRFS_IOC_SET_RECEIVED_SUBVOL", 0xc0c89425, errENOTTY},
	{"BTRFS_IOC_SET_RECEIVED_SUBVOL_32", 0xc0c09425, errENOTTY},
	// btrfs quota and qgroups.
	{"BTRFS_IOC_QUOTA_CTL", 0xc0109428, errENOTTY},
	{"BTRFS_IOC_QGROUP_ASSIGN", 0x40189429, errENOTTY},
	{"BTRFS_IOC_QGROUP_CREATE", 0x4010942a, errENOTTY},
	{"BTRFS_IOC_QGROUP_LIMIT", 0x8030942b, errENOTTY},
	{"BTRFS_IOC_QUOTA_RESCAN", 0x4040942c, errENOTTY},
	{"BTRFS_IOC_QUOTA_RESCAN_STATUS", 0x8040942d, errENOTTY},
	{"BTRFS_IOC_QUOTA_RESCAN_WAIT", 0x0000942e, errENOTTY},
	// Whole-file-system management.
	{"BTRFS_IOC_RESIZE", 0x50009403, errEPERM},
	{"BTRFS_IOC_ADD_DEV", 0x5000940a, errEPERM},
	{"BTRFS_IOC_RM_DEV", 0x5000940b, errEPERM},
	{"BTRFS_IOC_RM_DEV_V2", 0x5000943a, errEPERM},
	{"BTRFS_IOC_BALANCE", 0x5000940c, errEPERM},
	{"BTRFS_IOC_BALANCE_V2", 0xc4009420, errEPERM},
	{"BTRFS_IOC_BALANCE_CTL", 0x40049421, errEPERM},
	{"BTRFS_IOC_SCRUB", 0xc400941b, errEPERM},
	{"BTRFS_IOC_SCRUB_CANCEL", 0x0000941c, errEPERM},
	{"BTRFS_IOC_DEV_REPLACE", 0xca289435, errEPERM},
	{"BTRFS_IOC_SET_FEATURES", 0x40309439, errEPERM},
	{"FS_IOC_SETFSLABEL", 0x41009432, errEPERM},
	{"FIFREEZE", 0xc0045877, errEPERM},
	{"FITHAW", 0xc0045878, errEPERM},
	{"FS_IOC_SHUTDOWN", 0x8004587d, errEPERM}, // EXT4_IOC_SHUTDOWN, XFS_IOC_GOINGDOWN
	{"EXT4_IOC_SETFSUUID", 0x4008662c, errEPERM},
	// btrfs metadata of every subvolume.
	{"BTRFS_IOC_TREE_SEARCH", 0xd0009411, errENOTTY},
	{"BTRFS_IOC_TREE_SEARCH_V2", 0xc0709411, errENOTTY},
	{"BTRFS_IOC_INO_LOOKUP", 0xd0009412, errENOTTY},
	{"BTRFS_IOC_INO_PATHS", 0xc0389423, errENOTTY},
	{"BTRFS_IOC_LOGICAL_INO", 0xc0389424, errENOTTY},
	{"BTRFS_IOC_LOGICAL_INO_V2", 0xc038943b, errENOTTY},
	// Project ids (project quota on the dir layout).
	{"FS_IOC_FSSETXATTR", 0x401c5820, errEPERM},
}

// Insn is one classic BPF instruction, laid out as struct sock_filter.
type Insn struct {
	Code   uint16
	Jt, Jf uint8
	K      uint32
}

// asm is a tiny assembler: jumps name labels, resolved by assemble.
type asm struct {
	prog   []pending
	labels map[string]int
}

type pending struct {
	Insn
	jt, jf string // "" = fall through
	ja     string // target of an unconditional jump
}

func (a *asm) label(name string) { a.labels[name] = len(a.prog) }
func (a *asm) ld(off uint32)     { a.prog = append(a.prog, pending{Insn: Insn{Code: bpfLdWAbs, K: off}}) }
func (a *asm) ret(v uint32)      { a.prog = append(a.prog, pending{Insn: Insn{Code: bpfRetK, K: v}}) }
func (a *asm) and(k uint32)      { a.prog = append(a.prog, pending{Insn: Insn{Code: bpfAndK, K: k}}) }
func (a *asm) jmp(code uint16, k uint32, jt, jf string) {
	a.prog = append(a.prog, pending{Insn: Insn{Code: code, K: k}, jt: jt, jf: jf})
}
func (a *asm) ja(target string) {
	a.prog = append(a.prog, pending{Insn: Insn{Code: bpfJA}, ja: target})
}

func (a *asm) assemble() ([]Insn, error) {
	out := make([]Insn, len(a.prog))
	off := func(i int, name string) (int, error) {
		if name == "" {
			return 0, nil
		}
		t, ok := a.labels[name]
		if !ok {
			return 0, fmt.Errorf("seccomp: undefined label %s", name)
		}
		d := t - (i + 1)
		if d < 0 {
			return 0, fmt.Errorf("seccomp: backward jump to %s", name)
		}
		return d, nil
	}
	for i, p := range a.prog {
		in := p.Insn
		if p.ja != "" {
			d, err := off(i, p.ja)
			if err != nil {
				return nil, err
			}
			in.K = uint32(d)
		}
		dt, err := off(i, p.jt)
		if err != nil {
			return nil, err
		}
		df, err := off(i, p.jf)
		if err != nil {
			return nil, err
		}
		if dt > 255 || df > 255 {
			return nil, fmt.Errorf("seccomp: jump too far at %d", i)
		}
		in.Jt, in.Jf = uint8(dt), uint8(df)
		out[i] = in
	}
	return out, nil
}

// Filter builds the container's syscall filter for the given
// architectures. Calls from an architecture not listed get ENOSYS: the
// filter cannot judge numbers it does not know.
func Filter(tables ...SyscallTable) ([]Insn, error) {
	a := &asm{labels: map[string]int{}}
	a.ld(offArch)
	for _, t := range tables {
		a.jmp(bpfJeqK, t.AuditArch, "arch_"+t.Name, "")
	}
	a.ja("enosys")
	for _, t := range tables {
		if err := archRules(a, t); err != nil {
			return nil, err
		}
	}
	personalityRules(a)
	ioctlRules(a)
	a.label("allow")
	a.ret(retAllow)
	a.label("eperm")
	a.ret(retErrno | errEPERM)
	a.label("enosys")
	a.ret(retErrno | errENOSYS)
	a.label("enotty")
	a.ret(retErrno | errENOTTY)
	return a.assemble()
}

// archErrnos are the errnos the per-architecture sections return; each
// section has its own copy of the return instructions (and of "allow"),
// so that its conditional jumps stay short: they reach 255 instructions.
var archErrnos = []struct {
	name  string
	errno uint32
}{{"eperm", errEPERM}, {"enosys", errENOSYS}, {"eafnosupport", errEAFNOSUPPORT}}

// archRules emits one architecture's section, entered at label
// "arch_NAME": a search over the sorted numbers of the calls the policy
// does not simply allow, then the argument checks of mount, umount2 and
// socket, then the section's returns.
func archRules(a *asm, t SyscallTable) error {
	p := t.Name + "_"
	errnoLabel := map[uint32]string{}
	for _, e := range archErrnos {
		errnoLabel[e.errno] = p + e.name
	}
	var ents []dispatchEntry
	for _, r := range syscallPolicy {
		nr, ok := t.Nr[r.name]
		if !ok || r.act == actAllow {
			continue
		}
		var target string
		switch {
		case r.act == actErrno:
			target = errnoLabel[r.errno]
		case r.name == "ioctl" || r.name == "personality":
			target = p + "to_" + r.name // shared by all architectures
		default:
			target = p + r.name
		}
		if target == "" {
			return fmt.Errorf("seccomp: %s: no return for errno %d", r.name, r.errno)
		}
		ents = append(ents, dispatchEntry{nr, target})
	}
	slices.SortFunc(ents, func(x, y dispatchEntry) int { return cmp.Compare(x.nr, y.nr) })

	a.label("arch_" + t.Name)
	a.ld(offNr)
	if t.X32 {
		a.jmp(bpfJgeK, x32Bit, p+"enosys", "")
	}
	a.dispatch(p, ents)

	// mount(source, target, fstype, flags, data): flags is args[3].
	if _, ok := t.Nr["mount"]; ok {
		a.label(p + "mount")
		a.ld(offArgs + 8*3)
		a.jmp(bpfJsetK, msRemount, "", p+"allow")
		a.jmp(bpfJsetK, msBind, p+"allow", p+"eperm")
	}
	// umount2(target, flags)
	if _, ok := t.Nr["umount2"]; ok {
		a.label(p + "umount2")
		a.ld(offArgs + 8*1)
		a.jmp(bpfJsetK, mntForce, p+"eperm", p+"allow")
	}
	// socket(domain, type, protocol)
	if _, ok := t.Nr["socket"]; ok {
		a.label(p + "socket")
		a.ld(offArgs + 8*0)
		a.jmp(bpfJeqK, afNetlink, "", p+"allow")
		a.ld(offArgs + 8*2)
		a.jmp(bpfJeqK, netlinkAudit, p+"eafnosupport", p+"allow")
	}
	// The shared sections lie beyond the other architectures' sections:
	// reach them with unconditional jumps, which have no 255 limit.
	a.label(p + "to_ioctl")
	a.ja("ioctl")
	a.label(p + "to_personality")
	a.ja("personality")
	a.label(p + "allow")
	a.ret(retAllow)
	for _, e := range archErrnos {
		a.label(p + e.name)
		a.ret(retErrno | e.errno)
	}
	return nil
}

// dispatchEntry sends syscall number nr to label target.
type dispatchEntry struct {
	nr     uint32
	target string
}

// dispatch emits a binary search over ents (sorted by number) on the
// syscall number in the accumulator; numbers not in ents go to
// prefix+"allow".
// Every call passes the filter, so the common ones (read, write) should
// meet a handful of comparisons, not one per refused call.
func (a *asm) dispatch(prefix string, ents []dispatchEntry) {
	if len(ents) <= 4 {
		for _, e := range ents {
			a.jmp(bpfJeqK, e.nr, e.target, "")
		}
		a.ja(prefix + "allow")
		return
	}
	mid := len(ents) / 2
	upper := fmt.Sprintf("%sge_%d", prefix, ents[mid].nr)
	a.jmp(bpfJgeK, ents[mid].nr, upper, "")
	a.dispatch(prefix, ents[:mid])
	a.label(upper)
	a.dispatch(prefix, ents[mid:])
}

// personalityRules emits the personality(2) section, entered at label
// "personality" from every architecture: persona is args[0], an unsigned
// int to the kernel (kernel/exec_domain.c), so only its low 32 bits count.
func personalityRules(a *asm) {
	a.label("personality")
	a.ld(offArgs + 8*0)
	for _, v := range personalityAllowed {
		a.jmp(bpfJeqK, v, "allow", "")
	}
	a.ja("eperm")
}

// ioctlRules emits the ioctl section, entered at label "ioctl" from every
// architecture: ioctl(fd, request, arg) has the request in args[1], of
// which only the low 32 bits count (see the top of the file). Requests are
// compared by type byte first, then one by one.
func ioctlRules(a *asm) {
	errnoLabel := map[uint32]string{errEPERM: "eperm", errENOTTY: "enotty"}
	var types []uint32
	byType := map[uint32][]deniedIoctl{}
	for _, d := range deniedIoctls {
		t := d.cmd & ioctlTypeMask
		if _, ok := byType[t]; !ok {
			types = append(types, t)
		}
		byType[t] = append(byType[t], d)
	}
	a.label("ioctl")
	a.ld(offArgs + 8*1)
	a.and(ioctlTypeMask)
	for _, t := range types {
		a.jmp(bpfJeqK, t, fmt.Sprintf("ioctl_%04x", t), "")
	}
	a.ja("allow")
	for _, t := range types {
		a.label(fmt.Sprintf("ioctl_%04x", t))
		a.ld(offArgs + 8*1)
		for _, d := range byType[t] {
			a.jmp(bpfJeqK, d.cmd, errnoLabel[d.errno], "")
		}
		a.ja("allow")
	}
}
