// Package ubc maps vzctl's resource keys (the OpenVZ user beancounters,
// CPU and I/O options: vzctl.md §1.3) onto a stock kernel's knobs, and reads
// the kernel's counters back as beancounter rows (held, maxheld, barrier,
// limit, failcnt: /proc/user_beancounters' shape).
//
// The policy is pure: Plan turns a container's effective configuration and
// a description of the host (Env) into the exact cgroup files and values to
// write, for cgroup v1 (one hierarchy per controller) and cgroup v2 (one
// unified hierarchy) alike, plus the per-process knobs (rlimits of the
// container's processes, its IPC namespace's shmall, its devpts instance's
// max). Apply and ReadCounters do the file I/O through small interfaces
// over ct/cgroup's OUTER group paths, so both layouts are unit-tested
// without root; the kernel-facing implementations are thin.
//
// Every key vzctl accepts is accepted and stored; keys the kernel has no
// per-container knob for are reported as not enforced (Describe) instead
// of rejected, so existing scripts keep working.
package ubc
