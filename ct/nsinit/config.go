package nsinit

import (
	"path"
	"path/filepath"

	"govz/ct/caps"
	"govz/ct/rootfs"
)

// Config is everything the child needs to build the container. The parent
// sends it after placing the child in the container's cgroup.
type Config struct {
	ID       string   `json:"id"`
	Rootfs   string   `json:"rootfs"`   // host path of the mounted root
	Hostname string   `json:"hostname"` // "" = leave the UTS name empty
	Init     []string `json:"init"`     // argv of the guest's init; Init[0] is a path inside the root
	Env      []string `json:"env"`      // init's whole environment

	Caps    caps.Set `json:"caps"`     // bounding set
	CapLast caps.Cap `json:"cap_last"` // highest capability the kernel has
	Seccomp bool     `json:"seccomp"`  // install caps.Filter

	Console      bool   `json:"console"`       // fds 0-2 are the console pty slave: bind it at /dev/console
	NotifySocket string `json:"notify_socket"` // host path of the supervisor's notify socket; "" = none
	ReadyFifo    string `json:"ready_fifo"`    // host path of the readiness fifo; "" = none
	ReadyHooks   bool   `json:"ready_hooks"`   // plant rootfs.ReadyHookPaths in a non-systemd guest

	// UserNS says the child was cloned into a user namespace of its own
	// (Options.UIDMappings; the identity mapping for a privileged
	// container): its root comes as a detached mount from the parent, its
	// device nodes are bind mounts of the host's, and procfs and sysfs are
	// mounted before the pivot.
	UserNS bool `json:"userns"`
	// IDMap makes the root an idmapped mount (LOCAL_UID); without it a
	// container in a user namespace gets a plain recursive bind (a
	// privileged container, whose user namespace maps every ID to itself).
	IDMap bool `json:"idmap"`
	// LockMounts (with UserNS) moves init, right before its execve, into a
	// copy of the finished mount namespace owned by a nested user
	// namespace, where every mount is locked (protocol.go).
	LockMounts bool `json:"lock_mounts"`
	// Mounts names the detached mounts (open_tree(2) descriptors) the
	// parent attaches to the config message, in SCM_RIGHTS order.
	Mounts []string `json:"mounts,omitempty"`

	FS rootfs.Config `json:"fs"` // the file descriptor fields are the child's own
}

// Guest kinds, from where the guest's init resolves to.
const (
	KindSystemd = "systemd"
	KindBusybox = "busybox"
	KindOther   = "other"
)

// guestKind classifies an init by the file its path resolves to inside
// the root ("/sbin/init" -> "/lib/systemd/systemd").
func guestKind(resolved string) string {
	switch path.Base(filepath.ToSlash(resolved)) {
	case "systemd":
		return KindSystemd
	case "busybox":
		return KindBusybox
	}
	return KindOther
}
