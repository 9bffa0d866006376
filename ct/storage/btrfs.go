package storage

import (
	"fmt"
	"path/filepath"

	"govz/conf"
	"govz/ct/revert"
	"govz/ct/vzerror"
	"govz/quota/btrfs"
)

// btrfsLayout keeps each private area as a btrfs subvolume: a writable
// snapshot of the template's read-only subvolume, made in milliseconds
// whatever the template's size, sharing its extents until written.
// Limits are the subvolume's qgroup limit on referenced bytes; unlike
// project quota they hold against CAP_SYS_RESOURCE.
//
// Qgroups have no soft limit, grace time or inode limit; what cannot be
// done is said. A subvolume made inside the container's tree would get a
// qgroup of its own, not counted against the container's: the container's
// seccomp filter (ct/caps) refuses subvolume and qgroup ioctls for that.
//
// df inside the container shows the whole file system, not the limit.
// statfs(2) is answered by the file system for the superblock, and btrfs
// reports the whole pool whatever subvolume is asked (LXD and Incus have
// the same: lxc/lxc#1003, canonical/lxd#3693); LXCFS virtualises /proc
// files, not statfs. Only intercepting statfs (a seccomp user-notification
// handler or a FUSE root, as lxc/lxc#3224 suggests) could lie to df, at a
// cost on every call; vzlist -o diskspace,diskspace.h shows the real use
// and limit, and set --diskspace says so.
type btrfsLayout struct {
	log Logger
}

func (b *btrfsLayout) Name() string { return "btrfs" }

func (b *btrfsLayout) Create(c CT, t Template, lim Limits) error {
	parent := filepath.Dir(c.Private)
	if on, err := btrfs.IsBtrfs(parent); err != nil {
		return fmt.Errorf("%w: %w", err, vzerror.ErrCreatePrivate)
	} else if !on {
		return fmt.Errorf("the btrfs layout needs %s on btrfs (try --layout image or dir): %w", parent, vzerror.ErrLayout)
	}
	tmp, err := newTmp(c)
	if err != nil {
		return err
	}
	r := revert.New()
	defer r.Fail()
	build := func(work string) error {
		if err := btrfs.CreateSubvolume(work); err != nil {
			return fmt.Errorf("%w: %w", err, vzerror.ErrCreatePrivate)
		}
		if err := t.extract(work, b.log.Warnf); err != nil {
			return fmt.Errorf("unpacking %s into %s: %w", t.Path, work, err)
		}
		if err := btrfs.SetReadOnly(work, true); err != nil {
			return fmt.Errorf("%w: %w", err, vzerror.ErrCreatePrivate)
		}
		return nil
	}
	err = cacheFor(c, b.log).use(t, "", build, func(entry string) error {
		if err := btrfs.Snapshot(entry, tmp, false); err != nil {
			return fmt.Errorf("%w: %w", err, vzerror.ErrCreatePrivate)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.Add(func() { Remove(tmp) })
	if err := b.setLimits(tmp, NoLimits(), lim); err != nil {
		return err
	}
	if err := commit(tmp, c); err != nil {
		return err
	}
	r.Success()
	return nil
}

// setLimits sets the qgroup limit of the subvolume at path, turning
// qgroups on for the file system the first time a limit is asked for. What
// qgroups cannot do is said when it changes from old.
func (b *btrfsLayout) setLimits(path string, old, lim Limits) error {
	for _, w := range btrfsCannot(old, lim) {
		b.log.Warnf("btrfs layout: %s", w)
	}
	noteUGIDLimit(b.log, b.Name(), old, lim)
	if lim.SpaceHardKB != conf.Unlimited && lim.SpaceHardKB != old.SpaceHardKB {
		b.log.Infof("btrfs layout: df inside the container shows the whole file system, not the %dK limit (btrfs statfs ignores qgroups); vzlist -o diskspace,diskspace.h shows the container's use and limit", lim.SpaceHardKB)
	}
	on, err := btrfs.QuotaEnabled(path)
	if err != nil {
		return fmt.Errorf("%w: %w", err, vzerror.ErrQuotaSet)
	}
	if !on && lim.SpaceHardKB == conf.Unlimited {
		return nil
	}
	if !on {
		b.log.Infof("Enabling btrfs quota (qgroups) on the file system of %s", path)
	}
	// Even when sysfs says qgroups are on: another create may be enabling
	// them right now (sysfs shows them before the kernel can take limits,
	// which then fail with ENOTCONN), and enabling again waits for it.
	if err := btrfs.EnableQuota(path); err != nil {
		return fmt.Errorf("%w: %w", err, vzerror.ErrQuotaSet)
	}
	// Set even "no limit": btrfs may reuse a deleted subvolume's id, and
	// a qgroup left from it must not limit this one.
	var max uint64
	if lim.SpaceHardKB != conf.Unlimited {
		max = uint64(lim.SpaceHardKB) * 1024
	}
	if err := btrfs.SetLimit(path, max); err != nil {
		return fmt.Errorf("%w: %w", err, vzerror.ErrQuotaSet)
	}
	return nil
}

// btrfsCannot lists what lim asks, and old did not, that qgroups cannot
// do.
func btrfsCannot(old, lim Limits) []string {
	var out []string
	softSpace := func(l Limits) bool { return l.SpaceSoftKB != l.SpaceHardKB && l.SpaceSoftKB != conf.Unlimited }
	if softSpace(lim) && (!softSpace(old) || old.SpaceSoftKB != lim.SpaceSoftKB) {
		out = append(out, "qgroups have no soft limit: only the hard diskspace limit is enforced")
	}
	inodes := func(l Limits) bool { return l.InodesHard != conf.Unlimited || l.InodesSoft != conf.Unlimited }
	if inodes(lim) && (old.InodesHard != lim.InodesHard || old.InodesSoft != lim.InodesSoft) {
		out = append(out, "qgroups cannot limit inodes: diskinodes is not enforced")
	}
	if lim.GraceSeconds > 0 && old.GraceSeconds != lim.GraceSeconds {
		out = append(out, "qgroups have no grace period: quotatime is not used")
	}
	return out
}

func (b *btrfsLayout) Mount(c CT) error { return bindMount(c.Private, c.Root) }

func (b *btrfsLayout) Umount(c CT) error { return unmount(c.Root) }

func (b *btrfsLayout) Destroy(c CT) error {
	if err := Remove(c.Private); err != nil {
		return err
	}
	// Best effort: a qgroup the kernel keeps goes on a later destroy.
	btrfs.Tidy(filepath.Dir(c.Private))
	return nil
}

func (b *btrfsLayout) SetLimits(c CT, old, lim Limits, mounted bool) error {
	return b.setLimits(c.Private, old, lim)
}

// CapDrops: none. Qgroup limits are checked without asking for
// capabilities (fs/btrfs/qgroup.c); TestVMBtrfsQgroupHoldsAgainstSysResource
// shows root with CAP_SYS_RESOURCE stopped at the limit.
func (b *btrfsLayout) CapDrops(c CT) []CapDrop { return nil }

func (b *btrfsLayout) Usage(c CT, mounted bool) (Usage, error) {
	if on, err := btrfs.QuotaEnabled(c.Private); err != nil || !on {
		return Usage{}, err
	}
	u, err := btrfs.QgroupUsage(c.Private)
	if err != nil {
		return Usage{}, err
	}
	return Usage{SpaceKB: kb(u.Referenced)}, nil
}
