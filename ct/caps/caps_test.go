package caps

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"govz/ct/vzerror"
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
	if _, err := Bounding(37, []Change{{Cap: 39, On: true}}); !errors.Is(err, vzerror.ErrBadKernel) {
		t.Errorf("bpf:on on a 37-cap kernel: %v", err)
	}
	for _, bad := range []string{"sys_time", "sys_time:maybe", "flying:on"} {
		_, err := ParseChanges([]string{bad})
		if !errors.Is(err, vzerror.ErrSyntax) && !errors.Is(err, vzerror.ErrInvalidValue) {
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
		switch in.Code {
		case bpfLdWAbs:
			a = word(in.K)
		case bpfRetK:
			return in.K
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
	return 0
}

func TestFilterDecisions(t *testing.T) {
	prog, err := Filter(TableX8664, TableI386)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) > 100 {
		t.Errorf("filter has %d instructions; it is meant to be small", len(prog))
	}
	x, i := TableX8664, TableI386
	eperm, enosys, allow := uint32(retErrno|errEPERM), uint32(retErrno|errENOSYS), uint32(retAllow)
	cases := []struct {
		name string
		arch uint32
		nr   uint32
		args []uint64
		want uint32
	}{
		{"init_module", x.AuditArch, x.InitModule, nil, eperm},
		{"finit_module", x.AuditArch, x.FinitModule, nil, eperm},
		{"i386 finit_module", i.AuditArch, i.FinitModule, nil, eperm},
		{"kexec_file_load", x.AuditArch, x.KexecFileLoad, nil, eperm},
		{"open_by_handle_at", x.AuditArch, x.OpenByHandle, nil, eperm},
		{"x32 alias of finit_module", x.AuditArch, x32Bit | x.FinitModule, nil, enosys},
		{"read", x.AuditArch, 0, nil, allow},
		{"reboot stays allowed", x.AuditArch, 169, nil, allow},
		{"plain mount", x.AuditArch, x.Mount, []uint64{0, 0, 0, 0x6}, allow},
		{"remount superblock", x.AuditArch, x.Mount, []uint64{0, 0, 0, msRemount}, eperm},
		{"i386 remount superblock", i.AuditArch, i.Mount, []uint64{0, 0, 0, msRemount | 0x8000}, eperm},
		{"bind remount read-only", x.AuditArch, x.Mount, []uint64{0, 0, 0, msRemount | msBind | 1}, allow},
		{"fspick", x.AuditArch, x.Fspick, nil, enosys},
		{"umount2", x.AuditArch, x.Umount2, []uint64{0, 2}, allow},
		{"umount2 MNT_FORCE", x.AuditArch, x.Umount2, []uint64{0, 3}, eperm},
		{"netlink audit socket", x.AuditArch, x.Socket, []uint64{afNetlink, 3, netlinkAudit}, retErrno | errEAFNOSUPPORT},
		{"netlink route socket", x.AuditArch, x.Socket, []uint64{afNetlink, 3, 0}, allow},
		{"inet socket", x.AuditArch, x.Socket, []uint64{2, 1, 0}, allow},
		{"i386 uses its own numbers", i.AuditArch, x.Mount /* 165 on i386 is getresuid */, []uint64{0, 0, 0, msRemount}, allow},
		{"unknown arch", 0xdead, 0, nil, enosys},
	}
	for _, c := range cases {
		if got := run(t, prog, c.arch, c.nr, c.args...); got != c.want {
			t.Errorf("%s: got %#x, want %#x", c.name, got, c.want)
		}
	}
}

func TestFilterAllTablesAssemble(t *testing.T) {
	prog, err := Filter(TableX8664, TableI386, TableAArch64, TableARM)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, prog, TableAArch64.AuditArch, TableAArch64.FinitModule); got != retErrno|errEPERM {
		t.Errorf("aarch64 finit_module: %#x", got)
	}
	if got := run(t, prog, TableARM.AuditArch, TableARM.Mount, 0, 0, 0, msRemount); got != retErrno|errEPERM {
		t.Errorf("arm remount: %#x", got)
	}
}

func skipUnlessRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root")
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
	skipUnlessRoot(t)
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
	skipUnlessRoot(t)
	dir := t.TempDir()
	var ok bool
	var ierr, remount, bindRemount, finit error
	onThrowawayThread(func() {
		ok, ierr = InstallFilter()
		if ierr != nil || !ok {
			return
		}
		// A superblock remount of a path that is no mount point: without
		// the filter the kernel says EINVAL, with it EPERM.
		remount = unix.Mount("none", dir, "", unix.MS_REMOUNT, "")
		bindRemount = unix.Mount("none", dir, "", unix.MS_REMOUNT|unix.MS_BIND, "")
		_, _, e := unix.Syscall(unix.SYS_FINIT_MODULE, ^uintptr(0), 0, 0)
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
	// Control: the same remount on an unfiltered thread reaches the kernel.
	if err := unix.Mount("none", dir, "", unix.MS_REMOUNT, ""); !errors.Is(err, unix.EINVAL) {
		t.Errorf("remount without the filter: %v, want EINVAL", err)
	}
}
