// Package supervisor runs containers: `vzctl start` and `vzctl stop`.
//
// Every running container has one supervisor process, a re-exec of the
// govz executable with the hidden argument Verb, detached in its own
// session with its output in RUNDIR/supervisor.log. It outlives vzctl and
// is the parent of the container's init:
//
//	vzctl start ──Start──> supervisor (Verb ID RUNDIR) ──nsinit.Start──> nsinit ──execve──> /sbin/init (PID 1)
//	                         │  parent of init; reaps it
//	                         │  holds the console pty master, serves RUNDIR/control
//	                         └─ after each boot: execve itself with --monitor (handoff.go),
//	                            and with --idle whenever nothing needs Go (idle.c)
//
// The executable's main must dispatch both hidden verbs (internal/reexec)
// before anything else: cmd/vzctl's reexecHandlers, where the supervisor
// verb runs MainWith with ct's executors of the hook steps.
//
// The supervisor's inputs are data. Start writes the Spec, with its hook
// plan (named steps and their data: Spec.Prestart, Spec.Poststop), to
// RUNDIR/spec.json; the supervisor boots that file and runs each step
// through the Executor registered under its name (plan.go), so nothing but
// data crosses the re-exec: after one, the steps are bound again from the
// file. Only a reboot from inside calls the loader, which builds the Spec
// from the current configuration; the new Spec replaces spec.json.
//
// What stays resident per running container is, most of the time, the C
// idle loop of idle.c (about 130 KiB PSS: libc and a stack), not a Go
// process (about 2 MiB); it needs cgo, without which the waiting stays in
// Go.
//
// # Run directory
//
//	RUNDIR/spec.json        the current boot's Spec and hook plan (WriteSpec), 0600
//	RUNDIR/state.json       runstate record, written when init runs, removed when the container stops
//	RUNDIR/control          control socket (stop, status, console), see control.go
//	RUNDIR/notify           sd_notify datagram socket, bind-mounted at /run/host/notify
//	RUNDIR/ready            readiness fifo, bind-mounted at /run/host/ready
//	RUNDIR/supervisor.lock  flock held by the supervisor for its whole life
//	RUNDIR/booting          present while a boot is under way (Booting)
//	RUNDIR/stop-signal      a signal stopped the container (SignalStopName)
//	RUNDIR/supervisor.log   the supervisor's log (kept after stop)
//
// # Readiness ("vzctl start --wait")
//
// A systemd guest gets NOTIFY_SOCKET=/run/host/notify in PID 1's
// environment and sends READY=1 when boot is complete
// (CONTAINER_INTERFACE.md). Other guests have no such protocol, so the
// container's nsinit plants a hook (rootfs.ReadyHookPaths) that writes
// "READY=1" to the fifo /run/host/ready: /etc/init.d/ready, which the
// busybox template's rcS runs last, and /etc/local.d/govz-ready.start,
// which OpenRC's local service runs at the end of boot. A file there that
// is not ours is left alone. A guest with neither (sysvinit: add
// `echo READY=1 >/run/host/ready` to rc.local yourself) counts as ready
// once its init runs.
//
// # Stop, reboot, crash
//
// Stop asks init to halt (chooseHalt: SIGRTMIN+3 for systemd, a runlevel-0
// request on /run/initctl for sysvinit, SIGPWR for busybox and the rest),
// waits StopTimeout, then kills the container's cgroup; fast kills at once.
// Inside a PID namespace reboot(2) does not reboot: the kernel kills the
// namespace's init with SIGHUP (restart) or SIGINT (halt, power-off). On
// SIGHUP the supervisor tears the boot down and boots again with fresh
// namespaces and the Spec the loader returns now; on anything else it tears
// down and exits. Teardown kills and removes the cgroups and the runstate
// record and runs the poststop steps; the supervisor's exit closes the pty and
// removes the sockets. The container's root mount is the caller's.
package supervisor
