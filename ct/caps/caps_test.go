package caps

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"govz/internal/roottest"
)

func TestLookup(t *testing.T) {
	for _, s := range []string{"sys_admin", "SYS_ADMIN", "cap_sys_admin", "CAP_SYS_ADMIN"} {
		c, ok := Lookup(s)
		if !ok || c != 21 {
			t.Errorf("Lookup(%q) = %d, %v; want 21", s, c, ok)
		}
	}
	if _, ok := Lookup("sys_everything"); ok {
		t.Error("Lookup accepted an unknown name")
	}
	if Cap(40).String() != "checkpoint_restore" || Cap(22).String() != "sys_boot" {
		t.Errorf("names out of kernel order: 40=%s 22=%s", Cap(40), Cap(22))
	}
}

func TestDefaultKeepsSysBootDropsHostGlobal(t *testing.T) {
	d := Default(40)
	for _, n := range []string{"sys_boot", "sys_admin", "net_admin", "mknod", "audit_write", "setfcap", "kill"} {
		c, _ := Lookup(n)
		if !d.Has(c) {
			t.Errorf("default set lacks %s", n)
		}
	}
	for _, n := range []string{"sys_module", "sys_rawio", "sys_time", "mac_admin", "mac_override", "audit_control", "syslog", "wake_alarm", "block_suspend", "sys_pacct", "bpf", "perfmon"} {
		c, _ := Lookup(n)
		if d.Has(c) {
			t.Errorf("default set keeps %s", n)
		}
	}
	if d.Has(41) {
		t.Error("set reaches past cap_last_cap")
	}
	// An older kernel (cap_last_cap 37) has no perfmon/bpf/checkpoint_restore.
	if Default(37) != Default(40)&Full(37) {
		t.Errorf("Default(37) = %x", Default(37))
	}
}

func TestParseChangesAndBounding(t *testing.T) {
	ch, err := ParseChanges([]string{"sys_time:on, net_admin:off", "SETVEID:on CAP_SYS_ADMIN:off", "sys_time:off"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) != 4 {
		t.Fatalf("changes = %v, want 4 (setveid ignored)", ch)
	}
	s, err := Bounding(40, ch)
	if err != nil {
		t.Fatal(err)
	}
	want := Default(40).Del(12).Del(21) // the later sys_time:off wins
	if s != want {
		t.Errorf("Bounding = %v\nwant      %v", s.Names(), want.Names())
	}
	if _, err := Bounding(37, []Change{{Cap: 39, On: true}}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("bpf:on on a 37-cap kernel: %v", err)
	}
	for _, bad := range []string{"sys_time", "sys_time:maybe", "flying:on"} {
		_, err := ParseChanges([]string{bad})
		if !errors.Is(err, ErrBadCapability) {
			t.Errorf("ParseChanges(%q) = %v, want a syntax/value error", bad, err)
		}
	}
}

func TestNamesRoundTrip(t *testing.T) {
	s := Default(40)
	back, err := FromNames(s.Names())
	if err != nil || back != s {
		t.Fatalf("FromNames(Names()) = %x, %v; want %x", back, err, s)
	}
	if got := strings.Join(DefaultDropNames(), " "); !strings.Contains(got, "sys_module") || strings.Contains(got, "sys_boot") {
		t.Errorf("DefaultDropNames = %s", got)
	}
}

// run interprets a classic BPF seccomp program over one syscall, enough of
// the instruction set for what Filter emits.
func run(t *testing.T, prog []Insn, arch, nr uint32, args ...uint64) uint32 {
	t.Helper()
	v, _ := runSteps(t, prog, arch, nr, args...)
	return v
}

// runSteps is run that also counts the instructions executed.
func runSteps(t *testing.T, prog []Insn, arch, nr uint32, args ...uint64) (verdict uint32, steps int) {
	t.Helper()
	var a uint32
	word := func(off uint32) uint32 {
		switch {
		case off == offNr:
			return nr
		case off == offArch:
			return arch
		case off >= offArgs && (off-offArgs)%8 == 0:
			i := (off - offArgs) / 8
			if int(i) < len(args) {
				return uint32(args[i])
			}
			return 0
		case off >= offArgs && (off-offArgs)%8 == 4:
			i := (off - offArgs) / 8
			if int(i) < len(args) {
				return uint32(args[i] >> 32)
			}
			return 0
		}
		t.Fatalf("load from offset %d", off)
		return 0
	}
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		steps++
		switch in.Code {
		case bpfLdWAbs:
			a = word(in.K)
		case bpfRetK:
			return in.K, steps
		case bpfAndK:
			a &= in.K
		case bpfJA:
			pc += int(in.K)
		case bpfJeqK, bpfJgeK, bpfJsetK:
			var c bool
			switch in.Code {
			case bpfJeqK:
				c = a == in.K
			case bpfJgeK:
				c = a >= in.K
			default:
				c = a&in.K != 0
			}
			if c {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		default:
			t.Fatalf("unknown opcode %#x at %d", in.Code, pc)
		}
	}
	t.Fatal("program fell off the end")
	return 0, steps
}

func TestFilterDecisions(t *testing.T) {
	prog, err := Filter(TableX8664, TableI386)
	if err != nil {
		t.Fatal(err)
	}
	// Every syscall runs the filter: the common ones must meet a few
	// comparisons, not one per refused call.
	for _, nr := range []uint32{0 /* read */, 1 /* write */, 232 /* epoll_wait */, 202 /* futex */} {
		if _, steps := runSteps(t, prog, TableX8664.AuditArch, nr); steps > 14 {
			t.Errorf("syscall %d takes %d filter instructions", nr, steps)
		}
	}
	if len(prog) > 512 {
		t.Errorf("filter has %d instructions; it is meant to be small", len(prog))
	}
	x, i := TableX8664, TableI386
	eperm, enosys, allow := uint32(retErrno|errEPERM), uint32(retErrno|errENOSYS), uint32(retAllow)
	enotty := uint32(retErrno | errENOTTY)
	cases := []struct {
		name string
		arch uint32
		nr   uint32
		args []uint64
		want uint32
	}{
		{"init_module", x.AuditArch, x.Nr["init_module"], nil, eperm},
		{"finit_module", x.AuditArch, x.Nr["finit_module"], nil, eperm},
		{"i386 finit_module", i.AuditArch, i.Nr["finit_module"], nil, eperm},
		{"kexec_file_load", x.AuditArch, x.Nr["kexec_file_load"], nil, eperm},
		{"open_by_handle_at", x.AuditArch, x.Nr["open_by_handle_at"], nil, eperm},
		{"keyctl", x.AuditArch, x.Nr["keyctl"], nil, enosys},
		{"add_key", x.AuditArch, x.Nr["add_key"], nil, enosys},
		{"request_key", x.AuditArch, x.Nr["request_key"], nil, enosys},
		{"i386 keyctl", i.AuditArch, i.Nr["keyctl"], nil, enosys},
		{"x32 alias of keyctl", x.AuditArch, x32Bit | x.Nr["keyctl"], nil, enosys},
		{"io_uring_setup", x.AuditArch, x.Nr["io_uring_setup"], nil, eperm},
		{"userfaultfd", x.AuditArch, x.Nr["userfaultfd"], nil, eperm},
		{"perf_event_open", x.AuditArch, x.Nr["perf_event_open"], nil, eperm},
		{"bpf", x.AuditArch, x.Nr["bpf"], nil, eperm},
		{"i386 bpf", i.AuditArch, i.Nr["bpf"], nil, eperm},
		{"i386 vm86", i.AuditArch, i.Nr["vm86"], nil, enosys},
		{"ptrace stays allowed", x.AuditArch, x.Nr["ptrace"], nil, allow},
		{"pivot_root stays allowed", x.AuditArch, x.Nr["pivot_root"], nil, allow},
		{"open_tree stays allowed", x.AuditArch, x.Nr["open_tree"], nil, allow},
		{"adjtimex stays allowed", x.AuditArch, x.Nr["adjtimex"], nil, allow},
		{"clock_settime", x.AuditArch, x.Nr["clock_settime"], nil, eperm},
		{"i386 clock_settime64", i.AuditArch, i.Nr["clock_settime64"], nil, eperm},
		{"syslog", x.AuditArch, x.Nr["syslog"], nil, eperm},
		{"personality PER_LINUX", x.AuditArch, x.Nr["personality"], []uint64{0}, allow},
		{"personality PER_LINUX32", x.AuditArch, x.Nr["personality"], []uint64{0x8}, allow},
		{"personality UNAME26", x.AuditArch, x.Nr["personality"], []uint64{0x20000}, allow},
		{"personality PER_LINUX32|UNAME26", x.AuditArch, x.Nr["personality"], []uint64{0x20008}, allow},
		{"personality query", x.AuditArch, x.Nr["personality"], []uint64{0xffffffff}, allow},
		{"personality READ_IMPLIES_EXEC", x.AuditArch, x.Nr["personality"], []uint64{0x0400000}, eperm},
		{"personality ADDR_NO_RANDOMIZE", x.AuditArch, x.Nr["personality"], []uint64{0x0040000}, eperm},
		{"personality PER_LINUX32|ADDR_NO_RANDOMIZE", x.AuditArch, x.Nr["personality"], []uint64{0x0040008}, eperm},
		{"personality MMAP_PAGE_ZERO", x.AuditArch, x.Nr["personality"], []uint64{0x0100000}, eperm},
		// The kernel takes an unsigned int: the upper half does not count.
		{"personality 0, upper bits set", x.AuditArch, x.Nr["personality"], []uint64{0xdead0000_00000000}, allow},
		{"personality READ_IMPLIES_EXEC, upper bits set", x.AuditArch, x.Nr["personality"], []uint64{0x1_00400000}, eperm},
		{"i386 personality READ_IMPLIES_EXEC", i.AuditArch, i.Nr["personality"], []uint64{0x0400000}, eperm},
		{"i386 personality PER_LINUX32", i.AuditArch, i.Nr["personality"], []uint64{0x8}, allow},
		{"x32 alias of finit_module", x.AuditArch, x32Bit | x.Nr["finit_module"], nil, enosys},
		{"read", x.AuditArch, 0, nil, allow},
		{"reboot stays allowed", x.AuditArch, 169, nil, allow},
		{"plain mount", x.AuditArch, x.Nr["mount"], []uint64{0, 0, 0, 0x6}, allow},
		{"remount superblock", x.AuditArch, x.Nr["mount"], []uint64{0, 0, 0, msRemount}, eperm},
		{"i386 remount superblock", i.AuditArch, i.Nr["mount"], []uint64{0, 0, 0, msRemount | 0x8000}, eperm},
		{"bind remount read-only", x.AuditArch, x.Nr["mount"], []uint64{0, 0, 0, msRemount | msBind | 1}, allow},
		{"fspick", x.AuditArch, x.Nr["fspick"], nil, enosys},
		{"umount2", x.AuditArch, x.Nr["umount2"], []uint64{0, 2}, allow},
		{"umount2 MNT_FORCE", x.AuditArch, x.Nr["umount2"], []uint64{0, 3}, eperm},
		{"netlink audit socket", x.AuditArch, x.Nr["socket"], []uint64{afNetlink, 3, netlinkAudit}, retErrno | errEAFNOSUPPORT},
		{"netlink route socket", x.AuditArch, x.Nr["socket"], []uint64{afNetlink, 3, 0}, allow},
		{"inet socket", x.AuditArch, x.Nr["socket"], []uint64{2, 1, 0}, allow},
		{"i386 uses its own numbers", i.AuditArch, x.Nr["mount"] /* 165 on i386 is getresuid */, []uint64{0, 0, 0, msRemount}, allow},
		{"file_setattr", x.AuditArch, x.Nr["file_setattr"], nil, eperm},
		{"i386 file_setattr", i.AuditArch, i.Nr["file_setattr"], nil, eperm},
		{"ioctl SUBVOL_CREATE", x.AuditArch, x.Nr["ioctl"], []uint64{3, 0x5000940e}, enotty},
		{"ioctl SUBVOL_CREATE_V2", x.AuditArch, x.Nr["ioctl"], []uint64{3, 0x50009418}, enotty},
		{"ioctl SNAP_CREATE_V2", x.AuditArch, x.Nr["ioctl"], []uint64{3, 0x50009417}, enotty},
		{"ioctl SNAP_DESTROY", x.AuditArch, x.Nr["ioctl"], []uint64{3, 0x5000940f}, enotty},
		{"ioctl QGROUP_LIMIT", x.AuditArch, x.Nr["ioctl"], []uint64{3, 0x8030942b}, enotty},
		{"ioctl QUOTA_CTL", x.AuditArch, x.Nr["ioctl"], []uint64{3, 0xc0109428}, enotty},
		{"ioctl TREE_SEARCH", x.AuditArch, x.Nr["ioctl"], []uint64{3, 0xd0009411}, enotty},
		{"ioctl BTRFS_IOC_RESIZE", x.AuditArch, x.Nr["ioctl"], []uint64{3, 0x50009403}, eperm},
		{"ioctl FIFREEZE", x.AuditArch, x.Nr["ioctl"], []uint64{3, 0xc0045877}, eperm},
		{"ioctl FS_IOC_FSSETXATTR", x.AuditArch, x.Nr["ioctl"], []uint64{3, 0x401c5820}, eperm},
		{"ioctl EXT4_IOC_SETFSUUID", x.AuditArch, x.Nr["ioctl"], []uint64{3, 0x4008662c}, eperm},
		// The kernel drops the upper half of the request; so must the filter.
		{"ioctl SUBVOL_CREATE, upper bits set", x.AuditArch, x.Nr["ioctl"], []uint64{3, 0xdead0000_5000940e}, enotty},
		{"ioctl FIFREEZE, upper bits set", x.AuditArch, x.Nr["ioctl"], []uint64{3, 0xffffffff_c0045877}, eperm},
		{"i386 ioctl SNAP_CREATE", i.AuditArch, i.Nr["ioctl"], []uint64{3, 0x50009401}, enotty},
		{"ioctl FIONREAD (= TIOCINQ)", x.AuditArch, x.Nr["ioctl"], []uint64{3, unix.TIOCINQ}, allow},
		{"ioctl TCGETS", x.AuditArch, x.Nr["ioctl"], []uint64{0, unix.TCGETS}, allow},
		{"ioctl FICLONE (cp --reflink)", x.AuditArch, x.Nr["ioctl"], []uint64{3, unix.FICLONE}, allow},
		{"ioctl FIDEDUPERANGE", x.AuditArch, x.Nr["ioctl"], []uint64{3, unix.FIDEDUPERANGE}, allow},
		{"ioctl FS_IOC_SETFLAGS (chattr)", x.AuditArch, x.Nr["ioctl"], []uint64{3, unix.FS_IOC_SETFLAGS}, allow},
		{"ioctl FS_IOC_FSGETXATTR", x.AuditArch, x.Nr["ioctl"], []uint64{3, 0x801c581f}, allow},
		{"ioctl BTRFS_IOC_FS_INFO", x.AuditArch, x.Nr["ioctl"], []uint64{3, 0x8400941f}, allow},
		{"ioctl BTRFS_IOC_INO_LOOKUP_USER", x.AuditArch, x.Nr["ioctl"], []uint64{3, 0xd000943e}, allow},
		{"ioctl FITRIM", x.AuditArch, x.Nr["ioctl"], []uint64{3, 0xc0185879}, allow},
		{"a denied request's number as another call's argument", x.AuditArch, 0 /* read */, []uint64{3, 0x5000940e}, allow},
		{"unknown arch", 0xdead, 0, nil, enosys},
	}
	for _, c := range cases {
		if got := run(t, prog, c.arch, c.nr, c.args...); got != c.want {
			t.Errorf("%s: got %#x, want %#x", c.name, got, c.want)
		}
	}
}

// The denied requests, rebuilt from _IOC(dir, type, nr, size) with the
// sizes of the structs they take (include/uapi/linux/btrfs.h, fs.h,
// fs/ext4/ext4.h, fs/btrfs/ioctl.c), so that a typo in a number shows.
func TestDeniedIoctlNumbers(t *testing.T) {
	const none, w, r, wr = 0, 1, 2, 3
	ioc := func(dir, typ, nr, size uint32) uint32 { return dir<<30 | size<<16 | typ<<8 | nr }
	// Subvolume, quota and metadata requests answer as a file system
	// without them would; the rest as to a caller without the privilege.
	notBtrfs := map[string]bool{}
	for _, n := range []string{"SNAP_CREATE", "SUBVOL_CREATE", "SNAP_CREATE_V2", "SUBVOL_CREATE_V2", "SNAP_DESTROY",
		"SNAP_DESTROY_V2", "SUBVOL_SETFLAGS", "DEFAULT_SUBVOL", "SET_RECEIVED_SUBVOL", "SET_RECEIVED_SUBVOL_32",
		"QUOTA_CTL", "QGROUP_ASSIGN", "QGROUP_CREATE", "QGROUP_LIMIT", "QUOTA_RESCAN", "QUOTA_RESCAN_STATUS",
		"QUOTA_RESCAN_WAIT", "TREE_SEARCH", "TREE_SEARCH_V2", "INO_LOOKUP", "INO_PATHS", "LOGICAL_INO", "LOGICAL_INO_V2"} {
		notBtrfs["BTRFS_IOC_"+n] = true
	}
	const volArgs, volArgsV2 = 4096, 4096
	want := map[string]uint32{
		"BTRFS_IOC_SNAP_CREATE":            ioc(w, 0x94, 1, volArgs),
		"BTRFS_IOC_SUBVOL_CREATE":          ioc(w, 0x94, 14, volArgs),
		"BTRFS_IOC_SNAP_CREATE_V2":         ioc(w, 0x94, 23, volArgsV2),
		"BTRFS_IOC_SUBVOL_CREATE_V2":       ioc(w, 0x94, 24, volArgsV2),
		"BTRFS_IOC_SNAP_DESTROY":           ioc(w, 0x94, 15, volArgs),
		"BTRFS_IOC_SNAP_DESTROY_V2":        ioc(w, 0x94, 63, volArgsV2),
		"BTRFS_IOC_SUBVOL_SETFLAGS":        ioc(w, 0x94, 26, 8),
		"BTRFS_IOC_DEFAULT_SUBVOL":         ioc(w, 0x94, 19, 8),
		"BTRFS_IOC_SET_RECEIVED_SUBVOL":    ioc(wr, 0x94, 37, 200),
		"BTRFS_IOC_SET_RECEIVED_SUBVOL_32": ioc(wr, 0x94, 37, 192),
		"BTRFS_IOC_QUOTA_CTL":              ioc(wr, 0x94, 40, 16),
		"BTRFS_IOC_QGROUP_ASSIGN":          ioc(w, 0x94, 41, 24),
		"BTRFS_IOC_QGROUP_CREATE":          ioc(w, 0x94, 42, 16),
		"BTRFS_IOC_QGROUP_LIMIT":           ioc(r, 0x94, 43, 48),
		"BTRFS_IOC_QUOTA_RESCAN":           ioc(w, 0x94, 44, 64),
		"BTRFS_IOC_QUOTA_RESCAN_STATUS":    ioc(r, 0x94, 45, 64),
		"BTRFS_IOC_QUOTA_RESCAN_WAIT":      ioc(none, 0x94, 46, 0),
		"BTRFS_IOC_RESIZE":                 ioc(w, 0x94, 3, volArgs),
		"BTRFS_IOC_ADD_DEV":                ioc(w, 0x94, 10, volArgs),
		"BTRFS_IOC_RM_DEV":                 ioc(w, 0x94, 11, volArgs),
		"BTRFS_IOC_RM_DEV_V2":              ioc(w, 0x94, 58, volArgsV2),
		"BTRFS_IOC_BALANCE":                ioc(w, 0x94, 12, volArgs),
		"BTRFS_IOC_BALANCE_V2":             ioc(wr, 0x94, 32, 1024),
		"BTRFS_IOC_BALANCE_CTL":            ioc(w, 0x94, 33, 4),
		"BTRFS_IOC_SCRUB":                  ioc(wr, 0x94, 27, 1024),
		"BTRFS_IOC_SCRUB_CANCEL":           ioc(none, 0x94, 28, 0),
		"BTRFS_IOC_DEV_REPLACE":            ioc(wr, 0x94, 53, 2600),
		"BTRFS_IOC_SET_FEATURES":           ioc(w, 0x94, 57, 2*24),
		"FS_IOC_SETFSLABEL":                ioc(w, 0x94, 50, 256),
		"FIFREEZE":                         ioc(wr, 'X', 119, 4),
		"FITHAW":                           ioc(wr, 'X', 120, 4),
		"FS_IOC_SHUTDOWN":                  ioc(r, 'X', 125, 4),
		"EXT4_IOC_SETFSUUID":               ioc(w, 'f', 44, 8),
		"BTRFS_IOC_TREE_SEARCH":            ioc(wr, 0x94, 17, 4096),
		"BTRFS_IOC_TREE_SEARCH_V2":         ioc(wr, 0x94, 17, 112),
		"BTRFS_IOC_INO_LOOKUP":             ioc(wr, 0x94, 18, 4096),
		"BTRFS_IOC_INO_PATHS":              ioc(wr, 0x94, 35, 56),
		"BTRFS_IOC_LOGICAL_INO":            ioc(wr, 0x94, 36, 56),
		"BTRFS_IOC_LOGICAL_INO_V2":         ioc(wr, 0x94, 59, 56),
		"FS_IOC_FSSETXATTR":                ioc(w, 'X', 32, 28),
	}
	seen := map[string]bool{}
	for _, d := range deniedIoctls {
		seen[d.name] = true
		if w, ok := want[d.name]; !ok {
			t.Errorf("%s: no expected value in the test", d.name)
		} else if d.cmd != w {
			t.Errorf("%s = %#x, want %#x", d.name, d.cmd, w)
		}
		if wantErrno := map[bool]uint32{true: errENOTTY, false: errEPERM}[notBtrfs[d.name]]; d.errno != wantErrno {
			t.Errorf("%s answers errno %d, want %d", d.name, d.errno, wantErrno)
		}
	}
	for n := range want {
		if !seen[n] {
			t.Errorf("%s is no longer denied", n)
		}
	}
	// Each is refused on every architecture, and the requests the C
	// library and tools make all day pass.
	prog, err := Filter(TableX8664, TableI386, TableAArch64, TableARM)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range []SyscallTable{TableX8664, TableI386, TableAArch64, TableARM} {
		for _, d := range deniedIoctls {
			if got := run(t, prog, tb.AuditArch, tb.Nr["ioctl"], 3, uint64(d.cmd)); got != retErrno|d.errno {
				t.Errorf("%s %s: %#x, want errno %d", tb.Name, d.name, got, d.errno)
			}
		}
		for _, ok := range []uint64{unix.TCGETS, unix.TIOCGWINSZ, unix.TIOCINQ, unix.FICLONE, unix.FS_IOC_GETFLAGS, 0x8400941f} {
			if got := run(t, prog, tb.AuditArch, tb.Nr["ioctl"], 3, ok); got != retAllow {
				t.Errorf("%s ioctl %#x: %#x, want allow", tb.Name, ok, got)
			}
		}
	}
}

func TestFilterAllTablesAssemble(t *testing.T) {
	prog, err := Filter(TableX8664, TableI386, TableAArch64, TableARM)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, prog, TableAArch64.AuditArch, TableAArch64.Nr["finit_module"]); got != retErrno|errEPERM {
		t.Errorf("aarch64 finit_module: %#x", got)
	}
	if got := run(t, prog, TableARM.AuditArch, TableARM.Nr["mount"], 0, 0, 0, msRemount); got != retErrno|errEPERM {
		t.Errorf("arm remount: %#x", got)
	}
}

// onThrowawayThread runs f on a locked OS thread that exits afterwards, so
// per-thread state (capabilities, seccomp) never leaks into the test binary.
func onThrowawayThread(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		f()
	}()
	<-done
}

func threadStatus(t *testing.T, key string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in status", key)
	return ""
}

func TestApplyOnThread(t *testing.T) {
	roottest.Require(t, "capabilities, namespaces")
	last, err := KernelLast()
	if err != nil {
		t.Fatal(err)
	}
	keep := Default(last)
	// What we can keep is also limited by what this process has: the
	// harness may run the tests with a reduced bounding set already.
	have, err := ParseStatusSet(threadStatus(t, "CapBnd"))
	if err != nil {
		t.Fatal(err)
	}
	var bnd, eff, inh string
	var aerr error
	onThrowawayThread(func() {
		aerr = Apply(keep, last)
		bnd, eff, inh = threadStatus(t, "CapBnd"), threadStatus(t, "CapEff"), threadStatus(t, "CapInh")
	})
	if aerr != nil {
		t.Fatal(aerr)
	}
	for name, v := range map[string]string{"CapBnd": bnd, "CapEff": eff} {
		s, err := ParseStatusSet(v)
		if err != nil {
			t.Fatal(err)
		}
		if s != keep&have {
			t.Errorf("%s = %v, want %v", name, s.Names(), (keep & have).Names())
		}
	}
	if s, _ := ParseStatusSet(inh); s != 0 {
		t.Errorf("CapInh = %v, want empty", s.Names())
	}
	// The test's own threads are untouched.
	if s, _ := ParseStatusSet(threadStatus(t, "CapBnd")); !s.Has(16) {
		t.Error("Apply leaked into another thread")
	}
}

func TestInstallFilterOnThread(t *testing.T) {
	roottest.Require(t, "capabilities, namespaces")
	dir := t.TempDir()
	var ok bool
	var ierr, remount, bindRemount, finit, thaw, thawHigh, setattr error
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const fithawCmd = 0xc0045878 // FITHAW, _IOWR('X', 120, int)
	// FITHAW on a file system that is not frozen: the kernel says EINVAL
	// (fs/super.c thaw_super), the filter EPERM; harmless either way.
	fithaw := func(cmd uint64) error {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, d.Fd(), uintptr(cmd), 0)
		if e != 0 {
			return e
		}
		return nil
	}
	onThrowawayThread(func() {
		ok, ierr = InstallFilter()
		if ierr != nil || !ok {
			return
		}
		thaw = fithaw(fithawCmd)
		thawHigh = fithaw(1<<32 | fithawCmd)
		_, _, e := unix.Syscall6(unix.SYS_FILE_SETATTR, ^uintptr(0), 0, 0, 0, 0, 0)
		setattr = e
		// A superblock remount of a path that is no mount point: without
		// the filter the kernel says EINVAL, with it EPERM.
		remount = unix.Mount("none", dir, "", unix.MS_REMOUNT, "")
		bindRemount = unix.Mount("none", dir, "", unix.MS_REMOUNT|unix.MS_BIND, "")
		_, _, e = unix.Syscall(unix.SYS_FINIT_MODULE, ^uintptr(0), 0, 0)
		finit = e
	})
	if ierr != nil {
		t.Fatal(ierr)
	}
	if !ok {
		t.Skip("no syscall tables for " + runtime.GOARCH)
	}
	if !errors.Is(remount, unix.EPERM) {
		t.Errorf("remount under the filter: %v, want EPERM", remount)
	}
	if !errors.Is(bindRemount, unix.EINVAL) {
		t.Errorf("bind remount under the filter: %v, want the kernel's EINVAL", bindRemount)
	}
	if !errors.Is(finit, unix.EPERM) {
		t.Errorf("finit_module(-1) under the filter: %v, want EPERM (EBADF without it)", finit)
	}
	if !errors.Is(thaw, unix.EPERM) || !errors.Is(thawHigh, unix.EPERM) {
		t.Errorf("FITHAW under the filter: %v, with the upper 32 bits set: %v; want EPERM", thaw, thawHigh)
	}
	if !errors.Is(setattr, unix.EPERM) {
		t.Errorf("file_setattr under the filter: %v, want EPERM", setattr)
	}
	// Control: the same calls on an unfiltered thread reach the kernel,
	// which ignores the upper half of an ioctl request.
	if err := unix.Mount("none", dir, "", unix.MS_REMOUNT, ""); !errors.Is(err, unix.EINVAL) {
		t.Errorf("remount without the filter: %v, want EINVAL", err)
	}
	if err := fithaw(fithawCmd); !errors.Is(err, unix.EINVAL) {
		t.Errorf("FITHAW without the filter: %v, want EINVAL", err)
	}
	if err := fithaw(1<<32 | fithawCmd); !errors.Is(err, unix.EINVAL) {
		t.Errorf("FITHAW with the upper 32 bits set, without the filter: %v, want EINVAL (the same request)", err)
	}
}
