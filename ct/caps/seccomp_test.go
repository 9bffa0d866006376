package caps

import (
	"errors"
	"runtime"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"govz/internal/roottest"
)

var allTables = []SyscallTable{TableX8664, TableI386, TableAArch64, TableARM}

// absent are the policy's calls an architecture does not have (the
// kernel's syscall tables): anything else missing from a table is a
// forgotten number.
var absent = map[string][]string{
	"x86_64":  {"clock_adjtime64", "clock_settime64", "stime", "vm86", "vm86old"},
	"i386":    {"kexec_file_load"},
	"aarch64": {"clock_adjtime64", "clock_settime64", "ioperm", "iopl", "stime", "uselib", "vm86", "vm86old"},
	"arm":     {"ioperm", "iopl", "stime", "vm86", "vm86old"},
}

func TestSyscallPolicyRows(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range syscallPolicy {
		if seen[r.name] {
			t.Errorf("%s: two rows", r.name)
		}
		seen[r.name] = true
		if len(r.why) < 10 {
			t.Errorf("%s: no reason given", r.name)
		}
		switch r.act {
		case actAllow:
			if r.errno != 0 {
				t.Errorf("%s: allowed with errno %d", r.name, r.errno)
			}
		case actErrno:
			if r.errno == 0 {
				t.Errorf("%s: refused without an errno", r.name)
			}
		case actArgs:
		default:
			t.Errorf("%s: action %d", r.name, r.act)
		}
	}
	for _, tb := range allTables {
		var missing []string
		for _, r := range syscallPolicy {
			if _, ok := tb.Nr[r.name]; !ok {
				missing = append(missing, r.name)
			}
		}
		slices.Sort(missing)
		if !slices.Equal(missing, absent[tb.Name]) {
			t.Errorf("%s lacks %v, the kernel lacks %v", tb.Name, missing, absent[tb.Name])
		}
		nrs := map[uint32]string{}
		for name, nr := range tb.Nr {
			if !seen[name] {
				t.Errorf("%s: number for %s, which the policy does not name", tb.Name, name)
			}
			if other, ok := nrs[nr]; ok {
				t.Errorf("%s: %s and %s both %d", tb.Name, name, other, nr)
			}
			nrs[nr] = name
		}
	}
}

// Every row of the policy, on every architecture: refused calls answer
// their errno, allowed ones pass, and the calls decided on their arguments
// pass with harmless ones (all zero).
func TestFilterFollowsPolicy(t *testing.T) {
	prog, err := Filter(allTables...)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range allTables {
		for _, r := range syscallPolicy {
			nr, ok := tb.Nr[r.name]
			if !ok {
				continue
			}
			want := uint32(retAllow)
			if r.act == actErrno {
				want = retErrno | r.errno
			}
			if got := run(t, prog, tb.AuditArch, nr, 0, 0, 0, 0, 0, 0); got != want {
				t.Errorf("%s %s (%d): %#x, want %#x", tb.Name, r.name, nr, got, want)
			}
		}
		// Numbers next to the refused ones pass: the search is exact.
		for _, r := range syscallPolicy {
			nr, ok := tb.Nr[r.name]
			if !ok || r.act != actErrno {
				continue
			}
			for _, n := range []uint32{nr - 1, nr + 1} {
				if _, listed := nameOf(tb, n); listed {
					continue
				}
				if got := run(t, prog, tb.AuditArch, n); got != retAllow {
					t.Errorf("%s: syscall %d next to %s: %#x, want allow", tb.Name, n, r.name, got)
				}
			}
		}
	}
}

func nameOf(tb SyscallTable, nr uint32) (string, bool) {
	for name, n := range tb.Nr {
		if n == nr {
			return name, true
		}
	}
	return "", false
}

// The filter on a real thread: the keyring calls answer ENOSYS, the
// attack-surface calls EPERM, whatever the arguments; the same calls
// reach the kernel without it.
func TestInstallFilterSyscallPolicyOnThread(t *testing.T) {
	roottest.Require(t, "capabilities, namespaces")
	const (
		keyctlGetKeyringID    = 0
		keySpecSessionKeyring = ^uintptr(2) // -3
		readImpliesExec       = 0x0400000
		queryPersonality      = 0xffffffff
	)
	sys := func(nr uintptr, a ...uintptr) (uintptr, error) {
		a = append(a, 0, 0, 0, 0, 0, 0)
		r, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
		if e != 0 {
			return r, e
		}
		return r, nil
	}
	typ, desc := []byte("user\x00"), []byte("govz-seccomp-test\x00")
	var ok bool
	var ierr error
	got := map[string]error{}
	var persona uintptr
	onThrowawayThread(func() {
		ok, ierr = InstallFilter()
		if ierr != nil || !ok {
			return
		}
		_, got["keyctl"] = sys(unix.SYS_KEYCTL, keyctlGetKeyringID, keySpecSessionKeyring, 0)
		_, got["add_key"] = sys(unix.SYS_ADD_KEY, uintptr(unsafe.Pointer(&typ[0])), uintptr(unsafe.Pointer(&desc[0])), 0, 0, keySpecSessionKeyring)
		_, got["request_key"] = sys(unix.SYS_REQUEST_KEY, uintptr(unsafe.Pointer(&typ[0])), uintptr(unsafe.Pointer(&desc[0])), 0, 0)
		_, got["io_uring_setup"] = sys(unix.SYS_IO_URING_SETUP, 1, 0)
		_, got["userfaultfd"] = sys(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|1 /* UFFD_USER_MODE_ONLY */)
		_, got["perf_event_open"] = sys(unix.SYS_PERF_EVENT_OPEN, 0, 0, ^uintptr(0), ^uintptr(0), 0)
		_, got["bpf"] = sys(unix.SYS_BPF, 0, 0, 0)
		_, got["personality READ_IMPLIES_EXEC"] = sys(unix.SYS_PERSONALITY, readImpliesExec)
		persona, got["personality query"] = sys(unix.SYS_PERSONALITY, queryPersonality)
	})
	if ierr != nil {
		t.Fatal(ierr)
	}
	if !ok {
		t.Skip("no syscall tables for " + runtime.GOARCH)
	}
	want := map[string]error{
		"keyctl": unix.ENOSYS, "add_key": unix.ENOSYS, "request_key": unix.ENOSYS,
		"io_uring_setup": unix.EPERM, "userfaultfd": unix.EPERM, "perf_event_open": unix.EPERM,
		"bpf": unix.EPERM, "personality READ_IMPLIES_EXEC": unix.EPERM, "personality query": nil,
	}
	for name, w := range want {
		if g := got[name]; !errors.Is(g, w) && !(g == nil && w == nil) {
			t.Errorf("%s under the filter: %v, want %v", name, g, w)
		}
	}
	if persona&readImpliesExec != 0 {
		t.Errorf("personality after the refused call: %#x", persona)
	}
	// Control: without the filter the keyring is there, and io_uring's
	// and bpf's answers are the kernel's own (anything but the filter's).
	if _, err := sys(unix.SYS_KEYCTL, keyctlGetKeyringID, keySpecSessionKeyring, 0); err != nil {
		t.Errorf("keyctl without the filter: %v", err)
	}
	if _, err := sys(unix.SYS_IO_URING_SETUP, 1, 0); errors.Is(err, unix.EPERM) {
		t.Errorf("io_uring_setup(1, NULL) without the filter: %v, want the kernel's EFAULT", err)
	}
}

// pinTable compares a table with the host's numbers from x/sys.
func pinTable(t *testing.T, tb SyscallTable, want map[string]uint32) {
	t.Helper()
	if len(want) != len(tb.Nr) {
		t.Errorf("%s has %d numbers, the check %d", tb.Name, len(tb.Nr), len(want))
	}
	for name, nr := range want {
		if got, ok := tb.Nr[name]; !ok || got != nr {
			t.Errorf("%s %s = %d, the kernel's is %d", tb.Name, name, got, nr)
		}
	}
}
