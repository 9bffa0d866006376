package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/cgroup"
	"govz/ct/rootfs"
	"govz/ct/vzerror"
)

// applyDevices restricts the container to its device allow-list
// (rootfs.AllowRules, plus the grants by number) before any of its
// processes exist.
//
// Wherever a cgroup2 hierarchy is mounted (a v2 host, and a "hybrid" v1
// host with its mostly empty cgroup2 at .../unified) that is a device
// program on OUTER there (applyDevicesBPF): every process is in every
// hierarchy, the kernel consults the cgroup2 device programs before the v1
// devices controller (security/device_cgroup.c
// devcgroup_check_permission), and attaching one takes a millisecond.
//
// Only a host without any cgroup2 mount uses the v1 devices controller:
// OUTER gets "deny all" plus the allow-list. It has to be OUTER: the guest's root owns INNER (its cgroup
// namespace root) and may write INNER's devices.allow, but the kernel only
// lets a group allow what its parent allows. The kernel refuses a
// default-behaviour change ("a") in a group that has children
// (security/device_cgroup.c devcgroup_update_access), and cgroup.Create
// makes OUTER and INNER together, so INNER's devices group is removed and
// made again after OUTER is set: a new group inherits its parent's rules.
//
// cgroup v2 (not this host's layout) needs a BPF_PROG_TYPE_CGROUP_DEVICE
// program attached to OUTER: see applyDevicesBPF.
func applyDevices(cg *cgroup.Group, extra []rootfs.DevNode, devices []rootfs.Rule) error {
	rules := append(rootfs.AllowRules(extra), devices...)
	if _, err := cg.OuterPath(cgroup.UnifiedName); err == nil {
		return applyDevicesBPF(cg, rules)
	}
	return applyDevicesV1(cg, rules)
}

// applyDevicesV1 sets the v1 devices controller of OUTER. Removing and
// remaking INNER costs 20-30 ms: the kernel takes the removed group
// offline only after an RCU grace period. cgroup.Create taking the rules
// (set between making OUTER and INNER) would avoid that.
func applyDevicesV1(cg *cgroup.Group, rules []rootfs.Rule) error {
	outer, err := cg.OuterPath("devices")
	if err != nil {
		return fmt.Errorf("devices cgroup: %w (%w)", err, vzerror.ErrSetDevices)
	}
	name, inner := innerOf(cg, outer)
	if name != "devices" {
		// devices shares its hierarchy with other controllers whose INNER
		// groups cgroup.Create prepared; do not remake it. INNER's own
		// rules still hold for everything but a guest that rewrites them.
		return writeDevices(inner, rules)
	}
	if err := unix.Rmdir(inner); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("devices cgroup: removing %s: %w: %w", inner, err, vzerror.ErrSetDevices)
	}
	// rmdir only starts taking the group offline (kernel/cgroup/cgroup.c
	// css_killed_work_fn runs later, from a workqueue); until it is done,
	// OUTER still counts as having children and "a" is refused with EINVAL.
	var err2 error
	for wait, tries := 100*time.Microsecond, 0; tries < 100; tries++ {
		if err2 = writeDevices(outer, rules); !errors.Is(err2, unix.EINVAL) {
			break
		}
		time.Sleep(wait)
		wait = min(2*wait, 10*time.Millisecond)
	}
	if err2 != nil {
		return err2
	}
	if err := os.Mkdir(inner, 0o755); err != nil {
		return fmt.Errorf("devices cgroup: %w: %w", err, vzerror.ErrSetDevices)
	}
	return nil
}

// innerOf finds the hierarchy whose OUTER is outer: its name and INNER.
func innerOf(cg *cgroup.Group, outer string) (string, string) {
	for name, p := range cg.InnerPaths() {
		if filepath.Dir(p) == outer {
			return name, p
		}
	}
	return "", filepath.Join(outer, "ct")
}

// writeDevices sets dir's devices controller to deny everything but rules,
// one write per rule: devices.allow parses a single rule per write.
func writeDevices(dir string, rules []rootfs.Rule) error {
	write := func(file, rule string) error {
		f, err := os.OpenFile(filepath.Join(dir, file), os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("devices cgroup: %w: %w", err, vzerror.ErrSetDevices)
		}
		_, err = f.WriteString(rule)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("devices cgroup: writing %q to %s/%s: %w (%w)", rule, dir, file, err, vzerror.ErrSetDevices)
		}
		return nil
	}
	if err := write("devices.deny", "a"); err != nil {
		return err
	}
	for _, r := range rules {
		if err := write("devices.allow", r.String()); err != nil {
			return err
		}
	}
	return nil
}
