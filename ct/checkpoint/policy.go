package checkpoint

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"

	"github.com/checkpoint-restore/go-criu/v7/rpc"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"govz/ct/vzerror"
)

// Target is a running container as the policy sees it: everything the
// CRIU options depend on, gathered by the caller (Inspect reads it from
// /proc).
type Target struct {
	ID      string
	InitPID int    // host PID of the container's init
	Rootfs  string // host path of the container's mounted root
	// Console is the pty the supervisor holds the master of: init's
	// /dev/console and fds 0-2. The supervisor stays across a dump, so
	// CRIU leaves it out (external tty) and a restore is given the new
	// one (inherit-fd).
	Console Device
	// Freezer is the cgroup CRIU freezes the tree with (cgroup v1: the
	// freezer hierarchy's directory; v2: the unified one): one write
	// stops every task at once, where ptrace-seizing them one by one
	// races with forks.
	Freezer string
	// CgroupRoot is the container's own cgroup (its cgroup namespace's
	// root) as /proc/PID/cgroup shows it on the host, the same in every
	// hierarchy. CRIU saves the cgroups below it, empty ones included:
	// by default it saves only those holding tasks, and systemd watches
	// the cgroup.events of its empty slices too (inotify), whose restore
	// then fails for want of the directory. On restore it is the cgroup
	// the restored tasks go to (their cgroup namespace's root): a dump
	// records the dumping node's path, which another node (vzmigrate
	// --online) or another cgroup_parent does not have.
	CgroupRoot string
	// Procs are the container's processes (its cgroup's).
	Procs []Proc
	// Veths are the container's veth interfaces whose peer is on the
	// host (venet, NETIF): the peer is not the container's, so the dump
	// names it external, and the restore leaves the pairs to the caller
	// (see RestoreOptions).
	Veths []Veth
	// NetNamespaces is, on restore, the number of network namespaces the
	// dump saved (EmptyNetNS).
	NetNamespaces int
	// Ifaces are the network interfaces in the container's namespace
	// (Inspect reads them): besides lo, each must be the inside end of one
	// of Veths, the only devices whose host side a restore rebuilds.
	Ifaces []string
	// Masks are the container's masked directories (empty read-only
	// tmpfs mounts, rootfs.Masked), as its root sees them.
	Masks []string
	// CgroupFS, when set, is the content of the container's read-only
	// /sys/fs/cgroup tmpfs (cgroup v1), which the dump leaves out.
	CgroupFS []CgroupEntry
	// DevOwner is the owner (uid, gid) of the container's /dev tmpfs root,
	// its root user as the host sees it.
	DevOwner [2]int
	// UIDMap and GIDMap, when set, are the mapping the container's root
	// mount is idmapped with (LOCAL_UID containers); restore needs them.
	UIDMap, GIDMap []IDMap
	// LeaveRunning makes a dump leave the tasks as it found them instead
	// of killing them (vzctl chkpnt --dump): CRIU 4 freezes Freezer
	// again after the dump when it was frozen before (criu/seize.c,
	// origin_freezer_state), so a suspended container stays suspended.
	LeaveRunning bool
}

// Device is a character device as stat(2) gives it.
type Device struct {
	Rdev uint64 // the device (major:minor)
	Dev  uint64 // the file system holding the node (devpts instance)
}

// Proc is one process of the container.
type Proc struct {
	PID    int
	Comm   string
	PidNS  uint64 // inode of /proc/PID/ns/pid
	UserNS uint64 // inode of /proc/PID/ns/user
	UTSNS  uint64 // inode of /proc/PID/ns/uts
	IPCNS  uint64 // inode of /proc/PID/ns/ipc
	// Cgroup is its path in the systemd hierarchy (v2's, or v1's
	// name=systemd) as the host sees it: below CgroupRoot, systemd names
	// the cgroups after its units.
	Cgroup string
	NetNS  uint64 // inode of /proc/PID/ns/net
}

// Veth is one veth pair: Inside in the container, Outside on the host.
type Veth struct{ Inside, Outside string }

// Keys CRIU matches the mounts by that the dump leaves out.
//
// /dev is a tmpfs holding empty files the host's device nodes and the
// console are bound onto. CRIU saves a tmpfs by reading it through a
// clean copy of the mount; in the container's locked mount namespace the
// kernel refuses that copy (open_tree without AT_RECURSIVE over locked
// children), CRIU falls back to reading it through the binds, saves
// device nodes, and the restore, inside the user namespace, cannot mknod
// them. So /dev is external: the restore is given a fresh tmpfs made like
// the boot's (PrepareDev). The console is bound from the supervisor's pty,
// which is a new one on restore.
const (
	devKey     = "govz-dev"
	consoleKey = "govz-console"
	// maskKey is every masked /proc and /sys directory (rootfs.Masked): an
	// empty read-only tmpfs, which CRIU would save as a tar each, one
	// fork and exec of tar and gzip per mask, the better part of a busybox
	// guest's dump. The restore binds one empty read-only tmpfs on them
	// all (prepareMask).
	maskKey = "govz-mask"
)

// ttyKey is CRIU's name for an external tty: rdev and dev in hex
// (criu/tty.c, "tty[%x:%x]").
func ttyKey(d Device) string { return fmt.Sprintf("tty[%x:%x]", d.Rdev, d.Dev) }

// Preflight refuses, before anything is frozen, a container CRIU cannot
// save, naming the first reason; the container keeps running.
func Preflight(t *Target) error {
	if t.InitPID <= 0 {
		return fmt.Errorf("container %s is not running: %w", t.ID, vzerror.ErrNotRunning)
	}
	var initProc *Proc
	for i := range t.Procs {
		if t.Procs[i].PID == t.InitPID {
			initProc = &t.Procs[i]
		}
	}
	if initProc == nil {
		return fmt.Errorf("container %s: init %d is not among its processes: %w", t.ID, t.InitPID, vzerror.ErrChkpnt)
	}
	procs := append([]Proc(nil), t.Procs...)
	sort.Slice(procs, func(i, j int) bool { return procs[i].PID < procs[j].PID })
	for _, p := range procs {
		// CRIU restores one PID namespace (the container's) and one user
		// namespace below the host's; a process in a namespace of its own
		// below those (a nested container, a sandboxed service) has no
		// image format. Nested mount and network namespaces CRIU saves;
		// nested UTS and IPC namespaces it refuses ("Can't dump nested uts
		// namespace"). systemd's sandboxing settings make them
		// (sdunits.go); the reason names the unit and the setting.
		for _, ns := range []struct {
			name      string
			own, init uint64
			setting   string
		}{
			{"PID", p.PidNS, initProc.PidNS, "PrivatePIDs=no"},
			{"user", p.UserNS, initProc.UserNS, "PrivateUsers=no"},
			{"UTS", p.UTSNS, initProc.UTSNS, "ProtectHostname=no"},
			{"IPC", p.IPCNS, initProc.IPCNS, "PrivateIPC=no"},
		} {
			if ns.own == ns.init {
				continue
			}
			if unit := unitOf(p.Cgroup, t.CgroupRoot); unit != "" {
				return fmt.Errorf("container %s: process %d (%s) of %s runs in a nested %s namespace, which CRIU cannot checkpoint (a drop-in with %s for %s lifts it, see docs/GUESTS.md): %w",
					t.ID, p.PID, p.Comm, unit, ns.name, ns.setting, unit, vzerror.ErrChkpnt)
			}
			return fmt.Errorf("container %s: process %d (%s) runs in a nested %s namespace, which CRIU cannot checkpoint: %w", t.ID, p.PID, p.Comm, ns.name, vzerror.ErrChkpnt)
		}
		// With interfaces the restore rebuilds the container's network
		// namespace itself (RestoreOptions); a nested one CRIU would
		// restore, and its pairs to the container's with it, from inside
		// the user namespace, which the kernel refuses.
		if p.NetNS != initProc.NetNS && len(t.Veths) > 0 {
			return fmt.Errorf("container %s: process %d (%s) runs in a nested network namespace, which cannot be restored beside the container's interfaces: %w", t.ID, p.PID, p.Comm, vzerror.ErrChkpnt)
		}
	}
	for _, name := range t.Ifaces {
		if name == "lo" || slices.ContainsFunc(t.Veths, func(v Veth) bool { return v.Inside == name }) {
			continue
		}
		// A device moved in by hand, a tunnel or bridge the guest made:
		// CRIU saves some of these, but nothing here would rebuild their
		// host side, and a restore without it cuts the guest off.
		return fmt.Errorf("container %s: network interface %s is not one govz made (venet or a NETIF veth), so a restore could not rebuild its host side: %w", t.ID, name, vzerror.ErrChkpnt)
	}
	if t.Console == (Device{}) {
		return fmt.Errorf("container %s: its console is unknown: %w", t.ID, vzerror.ErrChkpnt)
	}
	return nil
}

// common are the options dump and restore share: the two must agree on
// how the tree was saved.
func common(t *Target) *rpc.CriuOpts {
	o := &rpc.CriuOpts{
		Root: proto.String(t.Rootfs),
		// Level 4 (debug, ~1,200 lines per busybox dump or restore) is
		// kept: the log is all an admin has of a failure that seldom
		// reproduces, and its cost is a write per line, a few ms of a
		// dump whose time goes to the forks of tar, ip and iptables-save
		// (compared step by step with lxc-checkpoint's at level 4). The
		// failure reason (logReason) is the first "Error (" line, which
		// every level writes.
		LogLevel: proto.Int32(4),
		// These cost nothing when the guest has none of what they allow
		// (CRIU checks them only on meeting a TCP socket, a lock, ...);
		// lxc-checkpoint passes the first three too.
		TcpEstablished: proto.Bool(true), // keep the guest's TCP peers
		FileLocks:      proto.Bool(true),
		LinkRemap:      proto.Bool(true), // open but unlinked files
		ExtUnixSk:      proto.Bool(true), // sockets connected to the host's notify socket
		EvasiveDevices: proto.Bool(true),
		// Bind mounts from the host (device nodes, the notify socket and
		// readiness fifo, bindmounts, LXCFS): saved as references to the
		// host's mounts, bound again on restore.
		AutoExtMnt: proto.Bool(true),
		ExtMasters: proto.Bool(true),
		// No external sharing: CRIU would then take every shared mount
		// whose file system the host has mounted too for a bind from the
		// host (criu/mount.c resolve_external_mounts), the binds of the
		// container's own root that systemd makes in a service's mount
		// namespace (PrivateTmp=, ProtectSystem=) included, and restore
		// them from the host's path of the private area: not searchable
		// from the container's user namespace, and without the idmapping
		// of its root mount. Left internal, they are restored as binds of
		// the restored root. The host binds of the container's own mount
		// namespace (devices, bindmount, LXCFS) are private mounts as govz
		// makes them, which this does not concern.
		ExtSharing: proto.Bool(false),
		// The container's cgroups are the supervisor's to create and
		// remove; CRIU puts the tasks back and restores the properties
		// of the groups it finds empty.
		ManageCgroups:     proto.Bool(true),
		ManageCgroupsMode: rpc.CriuCgMode_SOFT.Enum(),
		// libnftables is linked into CRIU; iptables-restore may be absent.
		// In process, too: lxc-checkpoint's default (iptables) forks
		// iptables-restore and ip6tables-restore to lock and again to
		// unlock the network namespace.
		NetworkLock: rpc.CriuNetworkLockMethod_NFTABLES.Enum(),
	}
	return o
}

// DumpOptions are CRIU's options to save t into the directory open as
// imagesFD. The tasks are killed once saved (vzctl chkpnt stops the
// container) unless t.LeaveRunning; a failure resumes them.
func DumpOptions(t *Target, imagesFD int) *rpc.CriuOpts {
	o := common(t)
	o.Pid = proto.Int32(int32(t.InitPID))
	o.ImagesDirFd = proto.Int32(int32(imagesFD))
	o.LogFile = proto.String("dump.log")
	o.LeaveRunning = proto.Bool(t.LeaveRunning)
	if t.Freezer != "" {
		o.FreezeCgroup = proto.String(t.Freezer)
	}
	if t.CgroupRoot != "" {
		o.CgRoot = append(o.CgRoot, &rpc.CgroupRoot{Path: proto.String(t.CgroupRoot)})
	}
	o.External = append(o.External, ttyKey(t.Console), "mnt[/dev]:"+devKey, "mnt[/dev/console]:"+consoleKey)
	for _, m := range t.Masks {
		o.External = append(o.External, "mnt["+m+"]:"+maskKey)
	}
	if len(t.CgroupFS) > 0 {
		o.External = append(o.External, "mnt[/sys/fs/cgroup]:"+cgroupFSKey)
	}
	// The notify socket and readiness fifo are bound onto files in the
	// guest's /run tmpfs. CRIU saves that tmpfs with tar through the binds
	// (the locked mounts allow no clean copy, see devKey): tar skips the
	// socket, so the restore would find no mount point for it. They serve
	// the boot's readiness report, which a restored guest has made long
	// ago; they are left out.
	o.SkipMnt = append(o.SkipMnt, "/run/host/notify", "/run/host/ready")
	for _, v := range t.Veths {
		o.External = append(o.External, fmt.Sprintf("veth[%s]:%s", v.Inside, v.Outside))
	}
	return o
}

// EmptyNetNS reports whether the restore of a dump with veths and
// netNamespaces network namespaces has CRIU bring the container's network
// namespace back empty, for the caller to fill from the host (ctnet)
// before CRIU restores the sockets into it:
//
//   - with veths, always: CRIU would recreate the pairs from inside the
//     container's user namespace, with their host end in the host's
//     network namespace, which needs CAP_NET_ADMIN there: the kernel
//     refuses (EPERM). The checkpoint refuses nested network namespaces
//     beside veths.
//   - without, when the dump has the container's namespace only: CRIU's
//     own restore of a namespace's state runs some ten tools (ip,
//     iptables-restore, ...), also for an empty firewall, a third of a
//     small container's restore; ctnet replays the same images over
//     netlink and runs a tool only for a firewall with rules. CRIU's
//     empty namespaces are all of them, and its notification names the
//     container's only: with nested ones (a systemd service's
//     PrivateNetwork=), CRIU restores them all itself.
func EmptyNetNS(veths []Veth, netNamespaces int) bool {
	return len(veths) > 0 || netNamespaces == 1
}

// NetNamespaces counts the network namespaces the dump in dir saved
// (CRIU writes one netns image for each).
func NetNamespaces(dir string) (int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "netns-*.img"))
	return len(files), err
}

// RestoreOptions are CRIU's options to restore the images in the
// directory open as imagesFD into t's root. consoleFD is the caller's fd
// of the new console pty slave (it must not be close-on-exec: CRIU's
// worker inherits it); console is the old one, as the dump recorded it.
// dev is the host path of the /dev tmpfs to bind, consolePath one of the
// new console pty slave, mask one of the empty read-only tmpfs for the
// masked directories ("" when the dump has none), cgroupFS one of the
// /sys/fs/cgroup tmpfs ("" when the dump saved it).
func RestoreOptions(t *Target, imagesFD, consoleFD int, console Device, dev, consolePath, mask, cgroupFS string) *rpc.CriuOpts {
	o := common(t)
	o.ImagesDirFd = proto.Int32(int32(imagesFD))
	o.LogFile = proto.String("restore.log")
	// The restored init becomes the caller's child (CLONE_PARENT), not
	// CRIU's: the supervisor that asked must reap it.
	o.RstSibling = proto.Bool(true)
	o.InheritFd = append(o.InheritFd, &rpc.InheritFd{Key: proto.String(ttyKey(console)), Fd: proto.Int32(int32(consoleFD))})
	o.External = append(o.External, "mnt["+devKey+"]:"+dev, "mnt["+consoleKey+"]:"+consolePath)
	if mask != "" {
		o.External = append(o.External, "mnt["+maskKey+"]:"+mask)
	}
	if cgroupFS != "" {
		o.External = append(o.External, "mnt["+cgroupFSKey+"]:"+cgroupFS)
	}
	if t.CgroupRoot != "" {
		o.CgRoot = append(o.CgRoot, &rpc.CgroupRoot{Path: proto.String(t.CgroupRoot)})
	}
	if EmptyNetNS(t.Veths, t.NetNamespaces) {
		o.EmptyNs = proto.Uint32(unix.CLONE_NEWNET)
	}
	return o
}
