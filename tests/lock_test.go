package tests

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// Locked mounts: a privileged container (no LOCAL_UID) runs in a user
// namespace that maps every ID to itself, and its init in a copy of its
// mount namespace owned by a nested one, where the kernel has locked every
// mount (ct/nsinit/lock_linux.go). Its root keeps CAP_SYS_ADMIN and may
// mount on top, but cannot remove or reveal what hides host-wide files.

// TestLockedMountsPrivileged: root in a privileged busybox container cannot
// unmount the /proc masks, mount a fresh procfs (also not from a mount
// namespace of its own), make /sys writable, or open core_pattern for
// writing. The probes only open files, never write.
func TestLockedMountsPrivileged(t *testing.T) {
	probe := buildProbe(t)
	n := newNode(t)
	// Identity-mapped whatever mode the suite runs in.
	n.ok("vzctl", "create", "101", "--local_uid", "0")
	copyFile(t, probe, n.path("private/101/probe"))
	os.Chmod(n.path("private/101/probe"), 0o755)
	n.ok("vzctl", "start", "101")
	defer n.run("vzctl", "stop", "--fast", "101")

	_, pid := n.runState("101")
	for _, f := range []string{"uid_map", "gid_map"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Fields(string(b)); strings.Join(got, " ") != "0 0 4294967295" {
			t.Errorf("init's %s = %q, want the identity mapping", f, b)
		}
	}
	if uid, _ := procIDs(t, pid); uid != "0" {
		t.Errorf("privileged init runs as host uid %s", uid)
	}
	// Root still has CAP_SYS_ADMIN over its mounts: what fails below fails
	// because the mounts are locked.
	n.ok("vzctl", "exec2", "101", "mkdir -p /mnt/t && mount -t tmpfs t /mnt/t && touch /mnt/t/x && umount /mnt/t")
	if r := n.ok("vzctl", "exec2", "101", "stat -c %u:%g /proc/sys/kernel/core_pattern"); r.out != "0:0\n" {
		t.Errorf("core_pattern seen from inside owned by %q, want 0:0 (identity mapping)", r.out)
	}

	cmds := []string{
		"umount /proc/sys",
		"umount -l /proc/sys",
		"umount /proc/kcore",
		"umount -l /proc",
		"mkdir -p /mnt/p && mount -t proc proc /mnt/p",
		"mkdir -p /mnt/s && mount -t sysfs sysfs /mnt/s",
		"mount -o remount,rw /sys",
		"mount -o remount,rw,bind /sys",
		"mount -o remount,rw,bind /proc/sys",
		"mkdir -p /mnt/b && mount --bind /proc /mnt/b",
		// A recursive copy keeps the locks (copy_tree).
		"mkdir -p /mnt/r && mount --rbind /proc /mnt/r && umount -l /mnt/r/sys",
		"unshare -m sh -c 'umount -l /proc/sys'",
		"unshare -m sh -c 'mkdir -p /mnt/p && mount -t proc proc /mnt/p'",
	}
	if _, err := os.Stat("/proc/sysrq-trigger"); err == nil {
		cmds = append(cmds, "umount /proc/sysrq-trigger", "umount -l /proc/sysrq-trigger")
	}
	for _, c := range cmds {
		if r := n.run("vzctl", "exec2", "101", c+" 2>/dev/null && echo DONE"); r.code == 0 || strings.Contains(r.out, "DONE") {
			t.Errorf("%q succeeded in a privileged container: %q", c, r.out)
		}
	}

	paths := []string{"/proc/sys/kernel/core_pattern"}
	if _, err := os.Stat("/proc/sysrq-trigger"); err == nil {
		paths = append(paths, "/proc/sysrq-trigger")
	}
	for _, f := range existing("/sys", hostGlobalSys) {
		paths = append(paths, "/sys/"+f)
	}
	assertRefused := func(got map[string]string, where string) {
		t.Helper()
		if len(got) != len(paths) {
			t.Errorf("%s: probe answered %v for %v", where, got, paths)
		}
		for p, res := range got {
			if res != "EROFS" && res != "EACCES" {
				t.Errorf("%s: open(%s, O_WRONLY): %s, want EROFS or EACCES", where, p, res)
			}
		}
	}
	assertRefused(n.probe("101", paths...), "container")
	// From a mount namespace of its own, after trying to uncover /proc/sys.
	r := n.ok("vzctl", "exec2", "101", "unshare -m sh -c 'umount -l /proc/sys 2>/dev/null; umount /proc/sysrq-trigger 2>/dev/null; exec /probe "+strings.Join(paths, " ")+"'")
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(r.out), "\n") {
		if p, res, ok := strings.Cut(l, " "); ok {
			got[p] = res
		}
	}
	assertRefused(got, "unshare -m")

	n.ok("vzctl", "stop", "101")
	n.noLeftovers()
}

// TestLockedMountsNoSysAdmin: the nested user namespace that owns the
// locked mount namespace is not owned by the guest's uid 0, so a container
// whose bounding set lacks CAP_SYS_ADMIN cannot mount at all.
func TestLockedMountsNoSysAdmin(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "set", "101", "--capability", "sys_admin:off", "--save")
	n.ok("vzctl", "start", "101")
	defer n.run("vzctl", "stop", "--fast", "101")
	// A bind mount needs CAP_SYS_ADMIN only over the mount namespace (a
	// new tmpfs also over the user namespace, which the guest's root has
	// either way without it): the one to try.
	for _, c := range []string{"mkdir -p /mnt/t && mount --bind /tmp /mnt/t", "mkdir -p /mnt/u && mount -t tmpfs t /mnt/u"} {
		if r := n.run("vzctl", "exec2", "101", c+" 2>/dev/null && echo DONE"); r.code == 0 || strings.Contains(r.out, "DONE") {
			t.Errorf("%q without CAP_SYS_ADMIN succeeded: %q", c, r.out)
		}
	}
	n.ok("vzctl", "stop", "101")
	n.noLeftovers()
}
