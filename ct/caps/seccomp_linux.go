package caps

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// InstallFilter loads the container's syscall filter (see Filter) on the
// calling thread; an execve from that thread passes it on to the guest's
// init and from there to every process in the container. It needs
// CAP_SYS_ADMIN (no_new_privs is deliberately not set: setuid programs
// must keep working inside), so call it before Apply drops capabilities.
// On an architecture without syscall tables it installs nothing and says
// so with ok=false.
func InstallFilter() (ok bool, err error) {
	f, err := HostFilter()
	if err != nil || f == nil {
		return false, err
	}
	fp := unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
	err = unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fp)), 0, 0)
	if err != nil {
		return false, fmt.Errorf("installing seccomp filter: %w", err)
	}
	return true, nil
}

// HostFilter is the container's syscall filter for this architecture as
// the kernel's struct sock_filter array; nil when the architecture has no
// syscall tables. Processes that join a running container (vzctl exec,
// enter) must run under the same filter as its init.
func HostFilter() ([]unix.SockFilter, error) {
	tables := hostTables()
	if len(tables) == 0 {
		return nil, nil
	}
	prog, err := Filter(tables...)
	if err != nil {
		return nil, err
	}
	f := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		f[i] = unix.SockFilter{Code: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	return f, nil
}
