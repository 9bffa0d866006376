// Package nsenter holds the C that runs inside or next to a container
// (the supervisor's idle loop, ct/supervisor/idle.c, is the other C): an
// ELF constructor (nsexec.c) that joins a running container's namespaces
// and cgroups before the Go runtime starts, then runs one command there;
// it also makes a container's locked mount namespace (VerbLock).
// files_linux.go builds the memfds it reads. setns(2) into a mount
// namespace needs a process that shares no fs_struct, which a Go program
// never is before it unshares one on a thread of its own; runc's
// libcontainer/nsenter and incusd's main_nsexec.go solve it the same way.
//
// Linking this package is what makes a binary a valid re-exec target:
// package attach imports it, so vzctl and attach's tests get the
// constructor. The argv/env/fd contract is documented at the top of
// nsexec.c; contract.go names it for Go, and a test keeps the two in step.
package nsenter
