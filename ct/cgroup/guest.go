package cgroup

import (
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one step of building the container's /sys/fs/cgroup: a
// mount(2) (Source, Target, FSType, Flags, Data, as the syscall takes them)
// or, when Symlink is set, a symlink Target -> Symlink. Targets are paths
// inside the container.
type Mount struct {
	Source, Target, FSType, Data string
	Flags                        uintptr
	Symlink                      string // when it's a symlink, not a mount
}

// guestCgroupDir is where systemd (and everything else) looks.
const guestCgroupDir = "/sys/fs/cgroup"

const cgroupMountFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RELATIME

// guestName is h's directory name under the guest's /sys/fs/cgroup.
// systemd requires "systemd" and "unified" (src/basic/cgroup-util.c); the
// controller hierarchies keep the host's names so the host's co-mount
// symlinks stay valid.
func (h *hierarchy) guestName() string {
	switch {
	case h.v2:
		return "unified"
	case h.name == "name=systemd":
		return "systemd"
	}
	return filepath.Base(h.mountPoint)
}

// GuestMounts describes the container's /sys/fs/cgroup, in order. Perform
// the steps from a process inside the container's cgroup namespace (whose
// root is INNER: a cgroup mount shows the mounting process's cgroupns root
// as its root), creating each mount's Target directory (mode 0755) first.
//
// On V2: one cgroup2 mount (the host's nsdelegate applies at the namespace
// root; mount options given inside a non-init cgroupns are ignored).
//
// On V1: a tmpfs, each v1 hierarchy with the host's options under the
// host's name (name=systemd at systemd), cgroup2 at unified when the host
// has it (systemd's "hybrid" mode), the host's co-mount symlinks, and last a
// read-only remount of the tmpfs, the layout systemd itself mounts
// (src/shared/mount-setup.c) and nspawn builds for its guests.
func (g *Group) GuestMounts() []Mount {
	if g.layout == V2 {
		return []Mount{{Source: "cgroup2", Target: guestCgroupDir, FSType: "cgroup2", Flags: cgroupMountFlags}}
	}
	tmpfsFlags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	ms := []Mount{{Source: "tmpfs", Target: guestCgroupDir, FSType: "tmpfs", Flags: tmpfsFlags, Data: "mode=755"}}
	for i := range g.hier {
		h := &g.hier[i]
		m := Mount{Target: guestCgroupDir + "/" + h.guestName(), Flags: cgroupMountFlags}
		if h.v2 {
			m.Source, m.FSType = "cgroup2", "cgroup2"
		} else {
			// release_agent and the like were dropped when parsing:
			// the host's options a guest cannot (and must not) set.
			m.Source, m.FSType, m.Data = "cgroup", "cgroup", strings.Join(h.options, ",")
		}
		ms = append(ms, m)
	}
	ms = append(ms, g.symlinks...)
	return append(ms, Mount{
		Source: "tmpfs", Target: guestCgroupDir, FSType: "tmpfs",
		Flags: unix.MS_REMOUNT | unix.MS_RDONLY | tmpfsFlags, Data: "mode=755",
	})
}
