// Package storage is how a container's private area is kept on disk: one
// Layout per way, behind one small interface, as Incus has one driver per
// storage backend.
//
//   - dir: a plain directory, bind-mounted at the root; limits through
//     ext4/XFS project quota where the host has it.
//   - btrfs: a btrfs subvolume, a snapshot of the template unpacked once;
//     limits are qgroup limits.
//   - image: an ext4 image file, a copy of the template's image, mounted
//     through a loop device; its size is the limit.
//   - overlay: the upper layer of an overlayfs over the template unpacked
//     once; limits through project quota on the upper layer.
//
// Every layout builds a new private area at PRIVATE.tmp and renames it into
// place, and every leftover of an interrupted command (a .tmp or
// .destroyed area, a half-built template cache entry) is removed by Remove,
// whatever layout made it: the caller's crash recovery need not know.
package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"govz/conf"
	"govz/ct/vzerror"
	"govz/quota/btrfs"
)

// Layout is one way of storing private areas.
type Layout interface {
	// Name is the ve_layout value.
	Name() string
	// Create makes c.Private from template t with limits lim. On failure
	// nothing is left at c.Private; a leftover c.Private+".tmp" is
	// removed by the caller's recovery.
	Create(c CT, t Template, lim Limits) error
	// Mount makes the private area visible at c.Root (which exists and
	// is not a mount point).
	Mount(c CT) error
	// Umount undoes Mount and releases what it took (loop devices).
	Umount(c CT) error
	// Destroy removes the private area at c.Private (unmounted) and the
	// limits kept for it outside the tree.
	Destroy(c CT) error
	// SetLimits changes the limits of an existing private area from old
	// (what its config said) to lim; mounted says whether it is mounted at
	// c.Root (a live change).
	SetLimits(c CT, old, lim Limits, mounted bool) error
	// Usage reports what the container uses; unknown values are nil.
	Usage(c CT, mounted bool) (Usage, error)
	// CapDrops lists the capabilities root in container c must lack for
	// the layout's limits to bind it; nil when its limits hold whatever
	// root may do.
	CapDrops(c CT) []CapDrop
}

// CapDrop is a capability a layout needs the container's root to lack.
type CapDrop struct {
	Name string // as vzctl's --capability names it: "sys_resource"
	Why  string
}

// CT is the container a layout works on.
type CT struct {
	ID      int
	Private string // private area
	Root    string // mount point
	// UIDMap and GIDMap are the container's ID mappings, for a layout
	// that maps IDs at mount time (MapsIDs); nil: identity.
	UIDMap, GIDMap []IDMap
	// Progress, when set, makes a progress hook titled desc for a long
	// step (an image's check, resize or copy), counting bytes or plain
	// units; nil draws nothing.
	Progress func(desc string, bytes bool) func(done, total int64)
}

// bar is c.Progress(desc, bytes), nil without one.
func (c CT) bar(desc string, bytes bool) func(done, total int64) {
	if c.Progress == nil {
		return nil
	}
	return c.Progress(desc, bytes)
}

// IDMap is one line of a uid_map or gid_map.
type IDMap struct {
	ContainerID, HostID, Size uint32
}

// MapsIDs reports whether layout name mounts a container's root with the
// container's ID mapping already (from CT.UIDMap and GIDMap), so that the
// start must not idmap it again. overlay does: overlayfs cannot be
// idmapped itself, only its layers can.
func MapsIDs(name string) bool {
	l, err := Open(name, nil)
	if err != nil {
		return false
	}
	m, ok := l.(interface{ MapsIDs() bool })
	return ok && m.MapsIDs()
}

// Template is the OS template a private area is made from.
type Template struct {
	Name string // "debian-12-x86_64"
	Path string // the tarball in the template cache
	// Progress, when set, receives unpacking progress in bytes.
	Progress func(done, total int64)
	// Extract unpacks the tarball at Path into dir, passing what it loses
	// to warnf (untar.ExtractFile). The caller supplies it so that what
	// only reads a layout (vzlist's disk usage) does not link the
	// extractor.
	Extract func(path, dir string, progress func(done, total int64), warnf func(string, ...any)) error
}

// extract is t.Extract, an error when the caller gave none.
func (t Template) extract(dir string, warnf func(string, ...any)) error {
	if t.Extract == nil {
		return fmt.Errorf("template %s: no extractor: %w", t.Name, vzerror.ErrSystem)
	}
	return t.Extract(t.Path, dir, t.Progress, warnf)
}

// Limits are vzctl's disk limits: KiB and inode counts, soft:hard, with
// conf.Unlimited for none, the grace period in seconds (0: none), and
// quotaugidlimit, the number of uids and gids vzquota's second-level
// (per-user and per-group, inside the container) quota tracked (0: off).
type Limits struct {
	SpaceSoftKB, SpaceHardKB int64
	InodesSoft, InodesHard   int64
	GraceSeconds             int64
	UGIDLimit                int64
}

// NoLimits is Limits with nothing limited.
func NoLimits() Limits {
	return Limits{SpaceSoftKB: conf.Unlimited, SpaceHardKB: conf.Unlimited,
		InodesSoft: conf.Unlimited, InodesHard: conf.Unlimited}
}

// Limited reports whether any limit is set.
func (l Limits) Limited() bool {
	return l.SpaceHardKB != conf.Unlimited || l.SpaceSoftKB != conf.Unlimited ||
		l.InodesHard != conf.Unlimited || l.InodesSoft != conf.Unlimited
}

// noteUGIDLimit says, when quotaugidlimit is turned on or changed, that
// the value is taken (and saved with --save) but nothing enforces it:
// per-user and per-group quota inside a container was vzquota's second
// level on OpenVZ's kernel (simfs) or ext4's own quota inside a ploop
// image. Neither exists here: user and group quota on the host's file
// system (dir) would count a uid's files in every container and on the
// host together, btrfs has no user or group quota at all, and quota inside
// the image layout's ext4 is not built (it needs the image made with the
// quota feature and a kernel with CONFIG_QFMT_V2).
func noteUGIDLimit(log Logger, layout string, old, lim Limits) {
	if lim.UGIDLimit <= 0 || lim.UGIDLimit == old.UGIDLimit {
		return
	}
	why := map[string]string{
		"dir":     "user and group quota on the host file system would count each uid across all containers",
		"btrfs":   "btrfs has no user or group quota",
		"image":   "quota inside the image's ext4 is not implemented",
		"overlay": "user and group quota on the host file system would count each uid across all containers",
	}[layout]
	log.Warnf("%s layout: quotaugidlimit %d is not enforced: no per-user/group quota inside the container (%s)", layout, lim.UGIDLimit, why)
}

// Usage is a container's disk use; nil where the layout cannot tell.
type Usage struct {
	SpaceKB *int64
	Inodes  *int64
}

// Logger is what layouts report through.
type Logger interface {
	Infof(format string, a ...any)
	Warnf(format string, a ...any)
}

// Names are the layouts, "auto" aside.
var Names = []string{"dir", "btrfs", "image", "overlay"}

// Open returns the layout called name.
func Open(name string, log Logger) (Layout, error) {
	switch name {
	case "", "dir":
		return &dirLayout{log: log}, nil
	case "btrfs":
		return &btrfsLayout{log: log}, nil
	case "image":
		return &imageLayout{log: log}, nil
	case "overlay":
		return &overlayLayout{log: log}, nil
	}
	return nil, fmt.Errorf("unknown layout %q: %w", name, vzerror.ErrInvalidValue)
}

// Resolve turns ve_layout "auto" into a layout for a private area to be
// made under parent: btrfs on btrfs, otherwise image when a hard disk
// space limit is set (an image needs a size), otherwise dir. Other names
// pass through.
func Resolve(name, parent string, lim Limits) string {
	if name != "auto" {
		return name
	}
	if on, err := btrfs.IsBtrfs(existingAncestor(parent)); err == nil && on {
		return "btrfs"
	}
	if lim.SpaceHardKB != conf.Unlimited {
		return "image"
	}
	return "dir"
}

func existingAncestor(p string) string {
	for {
		if _, err := os.Stat(p); err == nil || p == "/" || p == "." {
			return p
		}
		p = filepath.Dir(p)
	}
}

// Remove deletes a private area, a leftover of one, or a template cache
// entry, whatever layout made it: a btrfs subvolume (and the subvolumes a
// container made inside it), a directory tree, an image file. Nothing
// there is fine. It never follows a symlink.
func Remove(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("removing %s: %w: %w", path, err, vzerror.ErrDeletePrivate)
	}
	if sv, _ := btrfs.IsSubvolume(path); sv {
		if err := btrfs.Delete(path); err != nil {
			return fmt.Errorf("removing %s: %w: %w", path, err, vzerror.ErrDeletePrivate)
		}
		return nil
	}
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("removing %s: %w: %w", path, err, vzerror.ErrDeletePrivate)
	}
	return nil
}

// bindMount shows dir at root, privately: mounts made inside the container
// must not propagate to the host's tree, nor the host's into it.
func bindMount(dir, root string) error {
	if err := unix.Mount(dir, root, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting %s at %s: %w: %w", dir, root, err, vzerror.ErrMount)
	}
	if err := unix.Mount("", root, "", unix.MS_PRIVATE, ""); err != nil {
		unix.Unmount(root, unix.MNT_DETACH)
		return fmt.Errorf("making %s private: %w: %w", root, err, vzerror.ErrMount)
	}
	return nil
}

func unmount(root string) error {
	if err := unix.Unmount(root, 0); err != nil {
		return fmt.Errorf("unmounting %s: %w: %w", root, err, vzerror.ErrUmount)
	}
	return nil
}

// newTmp prepares c.Private+".tmp" for a new private area: a stale one
// from a crashed create is removed first.
func newTmp(c CT) (string, error) {
	tmp := c.Private + ".tmp"
	if err := Remove(tmp); err != nil {
		return "", err
	}
	return tmp, nil
}

// commit renames a finished tmp area into place.
func commit(tmp string, c CT) error {
	if err := os.Rename(tmp, c.Private); err != nil {
		return fmt.Errorf("renaming %s to %s: %w: %w", tmp, c.Private, err, vzerror.ErrCreatePrivate)
	}
	return nil
}

// kb converts bytes to KiB, rounding up.
func kb(b uint64) *int64 {
	v := int64((b + 1023) / 1024)
	return &v
}
