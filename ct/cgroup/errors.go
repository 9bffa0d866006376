package cgroup

import "errors"

// Errors of this package, wrapped with the group, file or controller at
// fault. Callers test them with errors.Is; the command layer maps them to
// vzctl's exit codes.
var (
	// ErrUnsupported: the host has no cgroup hierarchy, or not the
	// controller a limit needs.
	ErrUnsupported = errors.New("not supported by this kernel")
	// ErrBadPath: a group name or parent that is not a plain relative path.
	ErrBadPath = errors.New("invalid cgroup path")
	// ErrNoResource: the parent group has no cpus or memory nodes to give
	// (cgroup v1 cpuset.cpus / cpuset.mems empty).
	ErrNoResource = errors.New("not enough resources")
	// ErrPopulated: Destroy found processes still in the subtree.
	ErrPopulated = errors.New("processes remain")
	// ErrKillTimeout: Kill's context ended with processes left.
	ErrKillTimeout = errors.New("processes remain after the deadline")
)
