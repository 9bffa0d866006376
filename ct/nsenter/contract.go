package nsenter

import "govz/internal/reexec"

// Every verb runs from a sealed copy of the executable
// (internal/exeseal), never from the file on disk: see nsexec.c.

// Verb is argv[1] of the re-exec: EXE Verb PATH ARGV0 [ARG...].
const Verb = reexec.NSExec

// VerbLock makes a container's locked mount namespace (EXE VerbLock;
// EnvSyncFD, EnvUsernsFD, EnvMntnsFD, EnvOwner): see nsexec.c.
const VerbLock = reexec.NSLock

// LockReady is what the lock helper writes on EnvSyncFD once the locked
// namespace exists.
const LockReady = "ok\n"

// Environment variables the constructor reads; they are its whole
// environment, the command's comes through EnvEnvFD.
const (
	EnvPrefix    = "_GOVZ_NSEXEC_"
	EnvErrFD     = EnvPrefix + "ERRFD"     // pipe write end for "<stage> <message>\n"
	EnvPID       = EnvPrefix + "PID"       // host pid of the container's init
	EnvPidFD     = EnvPrefix + "PIDFD"     // optional pidfd of that init
	EnvRootFD    = EnvPrefix + "ROOTFD"    // O_PATH fd of /proc/PID/root
	EnvNSFlags   = EnvPrefix + "NSFLAGS"   // decimal CLONE_NEW* mask
	EnvCgroupFDs = EnvPrefix + "CGROUPFDS" // comma-separated cgroup.procs fds
	EnvCapKeep   = EnvPrefix + "CAPKEEP"   // hex bounding set to keep
	EnvPtyFD     = EnvPrefix + "PTYFD"     // optional unix socket: enter mode
	EnvEnvFD     = EnvPrefix + "ENVFD"     // memfd of NUL-terminated KEY=VALUE entries
	EnvSeccompFD = EnvPrefix + "SECCOMPFD" // optional memfd: struct sock_filter array to install
	EnvSyncFD    = EnvPrefix + "SYNCFD"    // lock: the socket to the caller
	EnvUsernsFD  = EnvPrefix + "USERNSFD"  // lock: the container's user namespace
	EnvMntnsFD   = EnvPrefix + "MNTNSFD"   // lock: its built mount namespace
	EnvOwner     = EnvPrefix + "OWNER"     // lock: uid inside the container that owns the locking user namespace
)

// Stages of an error line on the ErrFD pipe.
const (
	StageNotRunning = "notrunning" // the init is gone
	StageSetup      = "setup"      // joining the container failed
	StageExec       = "exec"       // execve of the command failed
)

// FailStatus is the constructor's exit status when it wrote an error line.
const FailStatus = 255
