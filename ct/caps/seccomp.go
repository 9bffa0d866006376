package caps

import "fmt"

// The syscall filter is a deny-list in the spirit of LXC's
// config/templates/common.seccomp and Incus's default policy: everything is
// allowed except a few calls whose effect reaches past the container even
// though root inside keeps CAP_SYS_ADMIN (needed by systemd guests):
//
//   - init_module, finit_module, delete_module, kexec_load,
//     kexec_file_load: EPERM. CAP_SYS_MODULE is gone already; this is the
//     second lock, as LXC and Incus have it.
//   - open_by_handle_at: EPERM. With CAP_DAC_READ_SEARCH it opens any inode
//     of a host filesystem by handle, bypassing the container's root (the
//     2014 "shocker" escape).
//   - mount(2) with MS_REMOUNT but without MS_BIND: EPERM. That is a
//     superblock reconfiguration; it is how "mount -o remount,rw /sys"
//     would turn the container's read-only sysfs writable. Per-mount
//     (MS_BIND) remounts stay allowed: systemd makes paths read-only that
//     way for its sandboxed services.
//   - fspick(2): ENOSYS, the new mount API's way to the same superblock
//     reconfiguration; callers (libmount) fall back to mount(2).
//   - umount2(2) with MNT_FORCE: EPERM, LXC's reject_force_umount.
//   - socket(AF_NETLINK, *, NETLINK_AUDIT): EAFNOSUPPORT, as systemd-nspawn
//     does: the audit subsystem is not namespaced, and audit-aware tools
//     handle "no audit" gracefully but stall or fail on a refused socket.
//   - x32 system calls (x86-64 numbers with bit 30 set): ENOSYS, so that
//     nothing reaches the calls above under an alias number.
//
// What a filter cannot do: seccomp sees pointers, not strings, so it cannot
// tell which path a mount or umount names. Root with CAP_SYS_ADMIN can
// still unmount the read-only over-mounts on /proc or mount a fresh procfs;
// only a user namespace (Spec.UIDMappings, planned) closes that, as it does
// for Incus's unprivileged containers.

// Classic BPF opcodes (include/uapi/linux/filter.h, bpf_common.h).
const (
	bpfLdWAbs = 0x20 // BPF_LD | BPF_W | BPF_ABS
	bpfJA     = 0x05 // BPF_JMP | BPF_JA
	bpfJeqK   = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
	bpfJgeK   = 0x35 // BPF_JMP | BPF_JGE | BPF_K
	bpfJsetK  = 0x45 // BPF_JMP | BPF_JSET | BPF_K
	bpfRetK   = 0x06 // BPF_RET | BPF_K
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

// Errno values used by the filter (asm-generic/errno*.h, same on every arch
// this file knows).
const (
	errEPERM        = 1
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

// SyscallTable holds the numbers the filter needs for one audit
// architecture; 0 means the architecture has no such call.
type SyscallTable struct {
	Name                                   string
	AuditArch                              uint32
	X32                                    bool // reject numbers with bit 30 (x86-64 only)
	InitModule, FinitModule, DeleteModule  uint32
	KexecLoad, KexecFileLoad, OpenByHandle uint32
	Mount, Umount2, Fspick, Socket         uint32
}

// Tables for the architectures a container on an x86-64 or arm64 host can
// run (native and 32-bit compat). Numbers from the kernel's syscall tables
// (arch/x86/entry/syscalls/syscall_{64,32}.tbl,
// include/uapi/asm-generic/unistd.h, arch/arm/tools/syscall.tbl).
var (
	TableX8664 = SyscallTable{Name: "x86_64", AuditArch: 0xc000003e, X32: true,
		InitModule: 175, FinitModule: 313, DeleteModule: 176, KexecLoad: 246, KexecFileLoad: 320,
		OpenByHandle: 304, Mount: 165, Umount2: 166, Fspick: 433, Socket: 41}
	TableI386 = SyscallTable{Name: "i386", AuditArch: 0x40000003,
		InitModule: 128, FinitModule: 350, DeleteModule: 129, KexecLoad: 283,
		OpenByHandle: 342, Mount: 21, Umount2: 52, Fspick: 433, Socket: 359}
	TableAArch64 = SyscallTable{Name: "aarch64", AuditArch: 0xc00000b7,
		InitModule: 105, FinitModule: 273, DeleteModule: 106, KexecLoad: 104, KexecFileLoad: 294,
		OpenByHandle: 265, Mount: 40, Umount2: 39, Fspick: 433, Socket: 198}
	TableARM = SyscallTable{Name: "arm", AuditArch: 0x40000028,
		InitModule: 128, FinitModule: 379, DeleteModule: 129, KexecLoad: 347, KexecFileLoad: 401,
		OpenByHandle: 371, Mount: 21, Umount2: 52, Fspick: 433, Socket: 281}
)

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
		p := t.Name + "_"
		a.label("arch_" + t.Name)
		a.ld(offNr)
		if t.X32 {
			a.jmp(bpfJgeK, x32Bit, "enosys", "")
		}
		for _, nr := range []uint32{t.InitModule, t.FinitModule, t.DeleteModule, t.KexecLoad, t.KexecFileLoad, t.OpenByHandle} {
			if nr != 0 {
				a.jmp(bpfJeqK, nr, "eperm", "")
			}
		}
		if t.Fspick != 0 {
			a.jmp(bpfJeqK, t.Fspick, "enosys", "")
		}
		a.jmp(bpfJeqK, t.Mount, p+"mount", "")
		a.jmp(bpfJeqK, t.Umount2, p+"umount", "")
		if t.Socket != 0 {
			a.jmp(bpfJeqK, t.Socket, p+"socket", "")
		}
		a.ja("allow")

		// mount(source, target, fstype, flags, data): flags is args[3].
		a.label(p + "mount")
		a.ld(offArgs + 8*3)
		a.jmp(bpfJsetK, msRemount, "", "allow")
		a.jmp(bpfJsetK, msBind, "allow", "eperm")

		// umount2(target, flags)
		a.label(p + "umount")
		a.ld(offArgs + 8*1)
		a.jmp(bpfJsetK, mntForce, "eperm", "allow")

		// socket(domain, type, protocol)
		if t.Socket != 0 {
			a.label(p + "socket")
			a.ld(offArgs + 8*0)
			a.jmp(bpfJeqK, afNetlink, "", "allow")
			a.ld(offArgs + 8*2)
			a.jmp(bpfJeqK, netlinkAudit, "eafnosupport", "allow")
		}
	}
	a.label("allow")
	a.ret(retAllow)
	a.label("eperm")
	a.ret(retErrno | errEPERM)
	a.label("enosys")
	a.ret(retErrno | errENOSYS)
	a.label("eafnosupport")
	a.ret(retErrno | errEAFNOSUPPORT)
	return a.assemble()
}
