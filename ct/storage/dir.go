package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"govz/conf"
	"govz/ct/revert"
	"govz/ct/vzerror"
	"govz/quota/projquota"
)

// dirLayout is the plain directory: every create unpacks the tarball. Disk
// limits use project quota (project id = CTID) when the host file system
// has it on; otherwise there are none, and a request for one says so.
//
// Project quota binds root in the container only without
// CAP_SYS_RESOURCE (CapDrops): the kernel lets a process with it exceed
// any hard limit (ignore_hardlimit in fs/quota/dquot.c). OpenVZ kept the
// capability in its default set because vzquota never let the container's
// root past a limit. Root can also take files out of the project: the
// seccomp filter refuses FS_IOC_FSSETXATTR (a project id change, also the
// way to charge a neighbour), but chattr -P (clearing the inherit flag
// through FS_IOC_SETFLAGS, which must stay allowed) makes new files in a
// directory land in project 0. On a privileged container the limit is
// therefore against accidents, not against a determined root; a user
// namespace closes both, as the kernel refuses project changes and
// CAP_SYS_RESOURCE outside the initial user namespace.
type dirLayout struct {
	log Logger
}

func (d *dirLayout) Name() string { return "dir" }

func (d *dirLayout) Create(c CT, t Template, lim Limits) error {
	noteUGIDLimit(d.log, d.Name(), NoLimits(), lim)
	tmp, err := newTmp(c)
	if err != nil {
		return err
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w: %w", tmp, err, vzerror.ErrCreatePrivate)
	}
	r := revert.New()
	defer r.Fail()
	r.Add(func() { Remove(tmp) })
	// The project goes on the empty directory first: with PROJINHERIT
	// every unpacked file is charged to it, and no walk is needed.
	if err := d.applyQuota(c, tmp, lim, false); err != nil {
		return err
	}
	if err := t.extract(tmp, d.log.Warnf); err != nil {
		return fmt.Errorf("unpacking %s into %s: %w", t.Path, tmp, err)
	}
	if err := commit(tmp, c); err != nil {
		return err
	}
	r.Success()
	return nil
}

// projectID is the project quota id of container id.
func projectID(id int) uint32 { return uint32(id) }

// pqLimits maps vzctl limits onto a project's (0 = none).
func pqLimits(l Limits) projquota.Limits {
	z := func(v int64) uint64 {
		if v == conf.Unlimited || v < 0 {
			return 0
		}
		return uint64(v)
	}
	return projquota.Limits{BlockSoftKB: z(l.SpaceSoftKB), BlockHardKB: z(l.SpaceHardKB),
		InodeSoft: z(l.InodesSoft), InodeHard: z(l.InodesHard)}
}

// applyQuota puts dir into the container's project and sets its limits;
// existing says the tree has files already (they are moved into the
// project too). Without project quota on the host it only warns, and only
// when a limit was asked for.
func (d *dirLayout) applyQuota(c CT, dir string, lim Limits, existing bool) error {
	return applyProjQuota(d.log, d.Name(), c, dir, lim, existing)
}

// applyProjQuota is applyQuota for the layouts on project quota (dir, and
// overlay's upper layer); layout names the layout in what it says.
func applyProjQuota(log Logger, layout string, c CT, dir string, lim Limits, existing bool) error {
	if why := projquota.Check(filepath.Dir(dir)); why != nil {
		if lim.Limited() {
			log.Warnf("%s layout: disk limits are not enforced: %v", layout, why)
		}
		return nil
	}
	id := projectID(c.ID)
	set := projquota.SetProject
	if existing {
		if cur, err := projquota.ProjectOf(dir); err == nil && cur != id {
			log.Infof("Moving %s into quota project %d", dir, id)
			set = projquota.SetProjectTree
		}
	}
	if err := set(dir, id); err != nil {
		return fmt.Errorf("%w: %w", err, vzerror.ErrQuotaSet)
	}
	if err := projquota.SetLimits(dir, id, pqLimits(lim)); err != nil {
		return fmt.Errorf("%w: %w", err, vzerror.ErrQuotaSet)
	}
	if lim.GraceSeconds > 0 {
		if err := projquota.SetGrace(dir, uint64(lim.GraceSeconds)); err != nil {
			return fmt.Errorf("%w: %w", err, vzerror.ErrQuotaSet)
		}
		log.Infof("%s layout: the quota grace period is per file system: %ds now applies to every container on it", layout, lim.GraceSeconds)
	}
	return nil
}

func (d *dirLayout) Mount(c CT) error { return bindMount(c.Private, c.Root) }

func (d *dirLayout) Umount(c CT) error { return unmount(c.Root) }

func (d *dirLayout) Destroy(c CT) error {
	// Drop the project's limits so a later container with this id does
	// not find them (create sets its own anyway).
	if projquota.Check(filepath.Dir(c.Private)) == nil {
		projquota.SetLimits(filepath.Dir(c.Private), projectID(c.ID), projquota.Limits{})
	}
	return Remove(c.Private)
}

func (d *dirLayout) SetLimits(c CT, old, lim Limits, mounted bool) error {
	noteUGIDLimit(d.log, d.Name(), old, lim)
	return d.applyQuota(c, c.Private, lim, true)
}

// CapDrops: sys_resource where the host file system has project quota, so
// that the container's limits bind its root (see dirLayout). Without
// project quota there is no limit to protect, and the capability stays as
// LXC and systemd-nspawn leave it.
func (d *dirLayout) CapDrops(c CT) []CapDrop {
	if projquota.Check(c.Private) != nil {
		return nil
	}
	return []CapDrop{{Name: "sys_resource",
		Why: "project quota does not bind a process with CAP_SYS_RESOURCE (it may exceed any hard limit)"}}
}

func (d *dirLayout) Usage(c CT, mounted bool) (Usage, error) {
	if projquota.Check(c.Private) != nil {
		return Usage{}, nil
	}
	id := projectID(c.ID)
	if cur, err := projquota.ProjectOf(c.Private); err != nil || cur != id {
		return Usage{}, err
	}
	u, _, err := projquota.Get(c.Private, id)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Usage{}, nil
		}
		return Usage{}, err
	}
	in := int64(u.Inodes)
	return Usage{SpaceKB: kb(u.Bytes), Inodes: &in}, nil
}
