// Package exeseal gives a process a sealed, in-memory copy of its own
// executable, to re-execute whenever the new process ends up inside a
// container's namespaces.
//
// Why: a process that runs the host's vzctl inside a container is visible
// to the guest for a moment (the nsexec child in the container's pid
// namespace, the init before it execs the guest's), and so is its
// executable: /proc/PID/exe, or simply the guest's own /proc/self/exe when
// the guest turns the program we exec (/bin/sh, /sbin/init) into a script
// "#!/proc/self/exe" — the kernel resolves that interpreter while the old
// image, vzctl, is still current, loads vzctl again with the guest's ELF
// interpreter, and the guest's code then holds vzctl's inode. Once no host
// process executes that file any more (ETXTBSY ends), the guest reopens it
// for writing and the host runs its code next time (CVE-2019-5736; the
// identity-mapped root of a container is uid 0 on the host and passes the
// permission check).
//
// The fix is runc's (libcontainer/exeseal): execute a copy in a memfd
// (never linked anywhere, so the guest reaches only the copy), made
// read-only for good with file seals (fcntl(2) F_ADD_SEALS: F_SEAL_WRITE,
// F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_EXEC, then F_SEAL_SEAL so no one can
// change them). The copy lives until the last process executing it is
// gone, and costs its size in shmem meanwhile: callers make one per spawn
// and close it once the spawned process has exec'd past it.
//
// SelfNoCopy avoids the copy where the kernel allows it (runc >= 1.2 does
// the same): it opens the executable through a private read-only overlayfs
// mount that is attached nowhere, which no one can make writable, and
// falls back to the copy otherwise.
//
// Callers hand the copy to the new process as one of its inherited
// descriptors and exec "/proc/self/fd/N" (Path): os/exec has no
// execveat(2), and a descriptor that is not among the ones the child
// inherits may be overwritten by the standard library's descriptor
// shuffling before the execve (golang.org/issue/61751).
package exeseal
