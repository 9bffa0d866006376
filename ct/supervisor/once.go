package supervisor

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	"govz/ct/caps"
	"govz/ct/cgroup"
	"govz/ct/nsinit"
	"govz/ct/rootfs"
	"govz/ct/vzerror"
)

// RunOnce runs argv as the only process of a one-shot boot of spec's
// stopped container, with no supervisor, network or console, and returns
// its exit status once it and everything it started are gone: vzctl
// runscript on a stopped container. vzctl runs the script chrooted as host
// root; here it gets every confinement a boot gets (the container's user
// namespace and ID mapping, fresh mount, PID, IPC, UTS and network
// namespaces, pivot_root into the root with the same masks, the
// capability bounding set, the seccomp filter, the device policy, its
// cgroup with the limits Hooks.Prestart applies), so a script cannot do
// more to the host than the guest's own init could. stdio are its stdin,
// stdout and stderr (pipes or a sealed file, never a terminal of the
// host's). The caller holds the container's lock and has mounted its
// root.
func RunOnce(spec *Spec, argv []string, stdio [3]*os.File) (int, error) {
	if err := spec.Validate(); err != nil {
		return 0, err
	}
	cg, err := cgroup.Open(spec.CgroupParent, spec.ID)
	if err != nil {
		return 0, err
	}
	if cg.Exists() {
		return 0, fmt.Errorf("container %s: its cgroup exists: %w", spec.ID, vzerror.ErrRunning)
	}
	if err := cg.Create(); err != nil {
		return 0, fmt.Errorf("%w (%w)", err, vzerror.ErrResource)
	}
	destroy := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cg.Kill(ctx)
		cg.Destroy()
	}
	defer destroy()
	if err := applyDevices(cg, spec.DevNodes, spec.Devices); err != nil {
		return 0, err
	}
	if spec.UserNS() && !spec.Identity() {
		uid, gid := spec.hostRoot()
		if err := cg.Delegate(uid, gid); err != nil {
			return 0, fmt.Errorf("%w (%w)", err, vzerror.ErrResource)
		}
	}
	last, err := caps.KernelLast()
	if err != nil {
		return 0, err
	}
	changes, err := caps.ParseChanges(spec.Capabilities)
	if err != nil {
		return 0, err
	}
	keep, err := caps.Bounding(last, changes)
	if err != nil {
		return 0, err
	}
	if own, err := ownBounding(); err == nil {
		keep &= own
	}
	var mounts []rootfs.Mount
	for _, m := range cg.GuestMounts() {
		mounts = append(mounts, rootfs.Mount{Source: m.Source, Target: m.Target, FSType: m.FSType, Data: m.Data, Flags: m.Flags, Symlink: m.Symlink})
	}
	hostname := spec.Hostname
	if hostname == "" {
		hostname = spec.ID
	}
	cfg := &nsinit.Config{
		ID: spec.ID, Rootfs: spec.Rootfs, Hostname: hostname, Init: argv,
		Env: initEnv(spec, false), Caps: keep, CapLast: last, Seccomp: !spec.NoSeccomp,
		FS: rootfs.Config{
			DevNodes: spec.DevNodes, Binds: spec.Binds, Cgroup: mounts,
			Manager: managerName, ShmSize: spec.ShmSize, RunSize: spec.RunSize,
		},
		UserNS:     spec.UserNS(),
		IDMap:      spec.UserNS() && !spec.Identity() && !spec.RootMapped,
		LockMounts: spec.UserNS(),
	}
	ctx, cancel := contextTimeout(2 * time.Minute)
	defer cancel()
	proc, err := nsinit.Start(ctx, cfg, nsinit.Options{
		Stdio:       stdio[:],
		Place:       cg.AddProc,
		UIDMappings: sysMappings(spec.UIDMappings),
		GIDMappings: sysMappings(spec.GIDMappings),
		Prestart:    spec.Hooks.Prestart,
	})
	if err != nil {
		return 0, err
	}
	st, err := proc.Wait()
	if err != nil {
		return 0, fmt.Errorf("waiting for the script: %w: %w", err, vzerror.ErrSystem)
	}
	ws := st.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}
