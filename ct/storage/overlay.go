package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"govz/ct/revert"
	"govz/ct/vzerror"
	"govz/quota/overlay"
	"govz/quota/projquota"
)

// overlayLayout keeps each private area as the upper layer of an overlayfs
// whose lower layer is the template, unpacked once into the template cache
// (NAME@STAMP.ovl/root) and never written again: a create makes two empty
// directories and records which lower it uses, whatever the template's
// size. The private area is
//
//	PRIVATE/lower        the name of the cache entry (one line)
//	PRIVATE/fs/upper     what the container wrote, whiteouts included
//	PRIVATE/fs/work      overlayfs's scratch (same file system as upper)
//	PRIVATE/stage/       empty; idmapped layers are attached here for the
//	                     moment of the mount
//
// A changed tarball gets a new entry (a new stamp); an old entry stays as
// long as a container's private area names it (its refs/ directory holds
// one file per container), so running containers keep their lower, and
// goes with the last of them.
//
// Disk limits are project quota on PRIVATE/fs (PROJINHERIT, as the dir
// layout has them on its tree), so they charge the upper layer only: what
// the container wrote or copied up. df inside shows the limit: overlayfs
// answers statfs from the upper directory, and ext4 and XFS clamp statfs
// of a PROJINHERIT directory to its project's limit. Without project
// quota on the host file system there are no limits, and asking for one
// says so.
//
// A container with an ID range of its own is mounted on idmapped layers
// (quota/overlay), so its root mount needs no mapping at start
// (MapsIDs); on disk, lower and upper keep unshifted IDs as the dir layout
// does.
type overlayLayout struct {
	log Logger
}

func (o *overlayLayout) Name() string { return "overlay" }

// MapsIDs: Mount gives the root the container's mapping itself.
func (o *overlayLayout) MapsIDs() bool { return true }

const (
	ovlSuffix  = ".ovl"
	ovlLayers  = "fs"
	ovlUpper   = "upper"
	ovlWork    = "work"
	ovlStage   = "stage"
	ovlLowerOf = "lower"
)

func (o *overlayLayout) Create(c CT, t Template, lim Limits) error {
	if err := overlay.Check(); err != nil {
		return fmt.Errorf("the overlay layout: %w (try --layout image or dir): %w", err, vzerror.ErrLayout)
	}
	if err := upperFS(filepath.Dir(c.Private)); err != nil {
		return err
	}
	noteUGIDLimit(o.log, o.Name(), NoLimits(), lim)
	tmp, err := newTmp(c)
	if err != nil {
		return err
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w: %w", tmp, err, vzerror.ErrCreatePrivate)
	}
	r := revert.New()
	defer r.Fail()
	r.Add(func() { Remove(tmp) })
	layers := filepath.Join(tmp, ovlLayers)
	for _, d := range []string{layers, filepath.Join(tmp, ovlStage)} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w: %w", d, err, vzerror.ErrCreatePrivate)
		}
	}
	// The project goes on the empty layers directory first, so upper and
	// work, and all that lands in them, inherit it.
	if err := applyProjQuota(o.log, o.Name(), c, layers, lim, false); err != nil {
		return err
	}
	for _, d := range []string{ovlUpper, ovlWork} {
		if err := os.Mkdir(filepath.Join(layers, d), 0o755); err != nil {
			return fmt.Errorf("creating %s: %w: %w", d, err, vzerror.ErrCreatePrivate)
		}
	}
	cache := cacheFor(c, o.log)
	err = cache.use(t, ovlSuffix, func(work string) error {
		return o.buildLower(t, work)
	}, func(entry string) error {
		if err := rootLikeLower(filepath.Join(layers, ovlUpper), filepath.Join(entry, "root")); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, ovlLowerOf), []byte(filepath.Base(entry)+"\n"), 0o600); err != nil {
			return fmt.Errorf("recording the lower layer: %w: %w", err, vzerror.ErrCreatePrivate)
		}
		return addRef(entry, c)
	})
	if err != nil {
		return err
	}
	if err := commit(tmp, c); err != nil {
		return err
	}
	r.Success()
	return nil
}

// upperFS refuses a parent of private areas on a file system other than
// ext4, XFS or btrfs: the upper layer needs trusted xattrs and d_type, and
// these three take idmapped mounts (Linux 5.12, 5.12, 5.15), so create need
// not probe for them (ct: checkIDMappable) as it must for the dir layout.
func upperFS(parent string) error {
	var sfs unix.Statfs_t
	if err := unix.Statfs(existingAncestor(parent), &sfs); err != nil {
		return fmt.Errorf("statfs %s: %w: %w", parent, err, vzerror.ErrCreatePrivate)
	}
	switch uint32(sfs.Type) {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC:
		return nil
	}
	return fmt.Errorf("the overlay layout needs %s on ext4, XFS or btrfs (statfs type %#x; try --layout dir or image): %w", parent, sfs.Type, vzerror.ErrLayout)
}

// buildLower unpacks t into work/root, the lower layer, and makes the
// refs directory.
func (o *overlayLayout) buildLower(t Template, work string) error {
	if err := os.Mkdir(work, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w: %w", work, err, vzerror.ErrCreatePrivate)
	}
	root := filepath.Join(work, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w: %w", root, err, vzerror.ErrCreatePrivate)
	}
	if err := os.Mkdir(filepath.Join(work, "refs"), 0o700); err != nil {
		return fmt.Errorf("creating refs of %s: %w: %w", work, err, vzerror.ErrCreatePrivate)
	}
	if err := t.extract(root, o.log.Warnf); err != nil {
		return fmt.Errorf("unpacking %s into %s: %w", t.Path, root, err)
	}
	return nil
}

// rootLikeLower gives the upper directory the owner, mode and times of
// the lower's root: overlayfs shows the upper's attributes for the root
// of the merged tree, and the guest's "/" must stay the template's.
func rootLikeLower(upper, lower string) error {
	var st unix.Stat_t
	if err := unix.Lstat(lower, &st); err != nil {
		return fmt.Errorf("lower layer root %s: %w: %w", lower, err, vzerror.ErrCreatePrivate)
	}
	err := unix.Lchown(upper, int(st.Uid), int(st.Gid))
	if err == nil {
		err = unix.Chmod(upper, st.Mode&0o7777)
	}
	if err == nil {
		err = unix.UtimesNanoAt(unix.AT_FDCWD, upper, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return fmt.Errorf("upper layer root %s: %w: %w", upper, err, vzerror.ErrCreatePrivate)
	}
	return nil
}

// addRef records in entry that container c uses it: the file's content is
// the private area (as committed), so a reference a crashed create left
// can be told from a live one.
func addRef(entry string, c CT) error {
	p := filepath.Join(entry, "refs", fmt.Sprint(c.ID))
	if err := os.WriteFile(p, []byte(c.Private+"\n"), 0o600); err != nil {
		return fmt.Errorf("recording container %d as a user of %s: %w: %w", c.ID, entry, err, vzerror.ErrCreatePrivate)
	}
	return nil
}

// liveRefs counts the containers whose private area still names entry;
// references whose private area is gone or names another entry are
// dropped.
func liveRefs(entry string) int {
	refs := filepath.Join(entry, "refs")
	ents, err := os.ReadDir(refs)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(refs, e.Name()))
		if err == nil && names(strings.TrimSpace(string(b)), entry) {
			n++
			continue
		}
		os.Remove(filepath.Join(refs, e.Name()))
	}
	return n
}

// names reports whether the private area at private, or the one a
// create is still building at private.tmp, names entry as its lower.
func names(private, entry string) bool {
	for _, p := range []string{private, private + ".tmp"} {
		if e, err := lowerOf(p); err == nil && e == entry {
			return true
		}
	}
	return false
}

// lowerOf returns the lower layer of the private area at private.
func lowerOf(private string) (entry string, err error) {
	b, err := os.ReadFile(filepath.Join(private, ovlLowerOf))
	if err != nil {
		return "", fmt.Errorf("private area %s has no lower layer record: %w: %w", private, err, vzerror.ErrNoPrivate)
	}
	name := strings.TrimSpace(string(b))
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return "", fmt.Errorf("private area %s: bad lower layer record %q: %w", private, name, vzerror.ErrNoPrivate)
	}
	return filepath.Join(filepath.Dir(private), ".tmplcache", name), nil
}

func (o *overlayLayout) Mount(c CT) error {
	entry, err := lowerOf(c.Private)
	if err != nil {
		return err
	}
	lower := filepath.Join(entry, "root")
	if _, err := os.Stat(lower); err != nil {
		return fmt.Errorf("lower layer of container %d: %w: %w", c.ID, err, vzerror.ErrNoPrivate)
	}
	s := overlay.Spec{Lower: lower, Layers: filepath.Join(c.Private, ovlLayers), Upper: ovlUpper, Work: ovlWork,
		Stage: filepath.Join(c.Private, ovlStage), Target: c.Root}
	for _, m := range c.UIDMap {
		s.UIDs = append(s.UIDs, overlay.IDMap(m))
	}
	for _, m := range c.GIDMap {
		s.GIDs = append(s.GIDs, overlay.IDMap(m))
	}
	if err := overlay.Mount(s); err != nil {
		return fmt.Errorf("%w: %w", err, vzerror.ErrMount)
	}
	return nil
}

func (o *overlayLayout) Umount(c CT) error { return unmount(c.Root) }

// Destroy removes the private area and the container's reference on its
// lower layer; the lower goes too when it is no longer the template's
// current entry and nobody else uses it.
func (o *overlayLayout) Destroy(c CT) error {
	if projquota.Check(filepath.Dir(c.Private)) == nil {
		projquota.SetLimits(filepath.Dir(c.Private), projectID(c.ID), projquota.Limits{})
	}
	entry, lerr := lowerOf(c.Private)
	if err := Remove(c.Private); err != nil {
		return err
	}
	if lerr != nil {
		return nil
	}
	cache := tmplCache{dir: filepath.Dir(entry), log: o.log}
	return cache.dropUnused(entry)
}

func (o *overlayLayout) SetLimits(c CT, old, lim Limits, mounted bool) error {
	noteUGIDLimit(o.log, o.Name(), old, lim)
	return applyProjQuota(o.log, o.Name(), c, filepath.Join(c.Private, ovlLayers), lim, true)
}

// CapDrops: none. Unlike the dir layout's, the overlay's quota binds a
// container root with CAP_SYS_RESOURCE: overlayfs allocates in the upper
// layer with the mounter's credentials, which lack it (overlayfs lowers
// it, and quota/overlay asMounter drops it too);
// TestVMOverlayProjectQuota writes as a process that has it.
// Clearing PROJINHERIT through the overlay is refused outside the
// initial user namespace (fileattr_set_prepare checks the caller before
// overlayfs passes the change on), and every container runs in one.
func (o *overlayLayout) CapDrops(c CT) []CapDrop { return nil }

// Usage is the upper layer's: what the container added to the template.
func (o *overlayLayout) Usage(c CT, mounted bool) (Usage, error) {
	layers := filepath.Join(c.Private, ovlLayers)
	if projquota.Check(c.Private) != nil {
		return Usage{}, nil
	}
	id := projectID(c.ID)
	if cur, err := projquota.ProjectOf(layers); err != nil || cur != id {
		return Usage{}, err
	}
	u, _, err := projquota.Get(layers, id)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Usage{}, nil
		}
		return Usage{}, err
	}
	in := int64(u.Inodes)
	return Usage{SpaceKB: kb(u.Bytes), Inodes: &in}, nil
}
