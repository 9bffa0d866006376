// Command sysprobe makes the raw system calls a container's seccomp filter
// decides on (ct/caps/seccomp_policy.go) and prints one line per call:
// "NAME=ok", "NAME=ok:DATA" or "NAME=ERRNO" (ENOSYS, EPERM, ...). The
// end-to-end tests build it statically, copy it into a container and run
// it there, and run it on the host as the control.
//
//	sysprobe [SERIAL]
//
// SERIAL is a key the host made: the probe describes and reads it (the
// keyring calls), as root in a container must not.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	keyctlGetKeyringID = 0
	keyctlDescribe     = 6
	keyctlRead         = 11
	keySpecSession     = -3
	keySpecProcess     = -2
	uffdUserModeOnly   = 1
	readImpliesExec    = 0x0400000
	perLinux32         = 0x8
	queryPersonality   = 0xffffffff
)

func sys(nr uintptr, a ...uintptr) (uintptr, unix.Errno) {
	a = append(a, 0, 0, 0, 0, 0, 0)
	r, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	return r, e
}

// cstrIn is s NUL-terminated (the probe's strings have no NUL inside), kept
// reachable in keep until main's end: a uintptr does not keep it alive.
func cstrIn(keep *[][]byte, s string) uintptr {
	b := append([]byte(s), 0)
	*keep = append(*keep, b)
	return uintptr(unsafe.Pointer(&b[0]))
}

// neg is a negative int as the unsigned register the kernel reads.
func neg(v int) uintptr { return uintptr(v) }

func say(name string, r uintptr, e unix.Errno, data string) {
	switch {
	case e != 0:
		fmt.Printf("%s=%s\n", name, unix.ErrnoName(e))
	case data != "":
		fmt.Printf("%s=ok:%s\n", name, data)
	default:
		fmt.Printf("%s=ok\n", name)
	}
}

func main() {
	var keep [][]byte
	defer runtime.KeepAlive(keep)
	cstr := func(s string) uintptr { return cstrIn(&keep, s) }
	r, e := sys(unix.SYS_KEYCTL, keyctlGetKeyringID, neg(keySpecSession), 1)
	say("keyctl", r, e, "")
	r, e = sys(unix.SYS_ADD_KEY, cstr("user"), cstr("govz-sysprobe"), cstr("x"), 1, neg(keySpecProcess))
	say("add_key", r, e, "")
	r, e = sys(unix.SYS_REQUEST_KEY, cstr("user"), cstr("govz-sysprobe-none"), 0, 0)
	say("request_key", r, e, "")
	if len(os.Args) > 1 {
		serial, err := strconv.ParseInt(os.Args[1], 10, 32)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sysprobe: bad serial", os.Args[1])
			os.Exit(2)
		}
		buf := make([]byte, 256)
		defer runtime.KeepAlive(buf)
		r, e = sys(unix.SYS_KEYCTL, keyctlDescribe, uintptr(serial), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
		say("key_describe", r, e, cut(buf, r, e))
		r, e = sys(unix.SYS_KEYCTL, keyctlRead, uintptr(serial), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
		say("key_read", r, e, cut(buf, r, e))
	}

	// Without the filter the kernel answers these with EFAULT (a NULL
	// argument), a file descriptor (userfaultfd, user-mode faults only) or
	// its own EPERM (no privilege in the initial user namespace).
	r, e = sys(unix.SYS_IO_URING_SETUP, 1, 0)
	say("io_uring_setup", r, e, "")
	r, e = sys(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|uffdUserModeOnly)
	say("userfaultfd", r, e, "")
	r, e = sys(unix.SYS_PERF_EVENT_OPEN, 0, 0, neg(-1), neg(-1), 0)
	say("perf_event_open", r, e, "")
	r, e = sys(unix.SYS_BPF, 5 /* BPF_PROG_LOAD */, 0, 0)
	say("bpf", r, e, "")
	r, e = sys(unix.SYS_OPEN_BY_HANDLE_AT, neg(unix.AT_FDCWD), 0, 0)
	say("open_by_handle_at", r, e, "")
	r, e = sys(unix.SYS_KEXEC_LOAD, 0, 0, 0, 0)
	say("kexec_load", r, e, "")
	r, e = sys(unix.SYS_INIT_MODULE, 0, 0, cstr(""))
	say("init_module", r, e, "")

	// READ_IMPLIES_EXEC would make every readable mapping executable (the
	// query shows whether it stuck); PER_LINUX32 (linux32) is allowed.
	r, e = sys(unix.SYS_PERSONALITY, readImpliesExec)
	say("personality_read_implies_exec", r, e, "")
	r, e = sys(unix.SYS_PERSONALITY, queryPersonality)
	say("personality_query", r, e, fmt.Sprintf("%#x", uint32(r)))
	r, e = sys(unix.SYS_PERSONALITY, perLinux32)
	say("personality_linux32", r, e, "")
}

// cut is the string a keyctl read or describe returned in buf.
func cut(buf []byte, r uintptr, e unix.Errno) string {
	if e != 0 {
		return ""
	}
	n := int(r)
	if n > len(buf) {
		n = len(buf)
	}
	for n > 0 && buf[n-1] == 0 {
		n--
	}
	return string(buf[:n])
}
