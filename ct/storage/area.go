package storage

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"govz/ct/revert"
	"govz/ct/vzerror"
	"govz/quota/btrfs"
	"govz/quota/image"
)

// Copy methods a frozen copy of a private area was made with, as
// snapshots and backups report them.
const (
	CopySubvolume = "btrfs snapshot" // shares every extent, O(1)
	CopyReflink   = "reflink"        // FICLONE: shares extents until written
	CopyFull      = "full copy"      // every byte copied: the layout or file system cannot share
)

// FreezeCopy copies private area c.Private of layout lay to dst (which must
// not exist) as cheaply as the layout allows: a read-only btrfs snapshot of
// the subvolume, a reflink of the image file (a sparse copy where the file
// system has no reflinks), a copy of the directory tree (cp --reflink=auto)
// for dir. The caller keeps the container from writing meanwhile (a frozen
// cgroup, synced) when it runs. dst is on the same file system as c.Private
// when it is beside it, which btrfs snapshots and reflinks need.
func FreezeCopy(lay Layout, c CT, dst string) (method string, err error) {
	r := revert.New()
	defer r.Fail()
	switch lay.(type) {
	case *btrfsLayout:
		if err := btrfs.Snapshot(c.Private, dst, true); err != nil {
			return "", fmt.Errorf("snapshotting %s: %w", c.Private, err)
		}
		method = CopySubvolume
	case *imageLayout:
		if err := os.Mkdir(dst, 0o700); err != nil {
			return "", fmt.Errorf("creating %s: %w", dst, err)
		}
		r.Add(func() { Remove(dst) })
		reflinked, err := image.Copy(imageFile(dst), imageFile(c.Private))
		if err != nil {
			return "", fmt.Errorf("copying the image of container %d: %w", c.ID, err)
		}
		method = CopyFull
		if reflinked {
			method = CopyReflink
		}
	case *dirLayout:
		r.Add(func() { Remove(dst) })
		// cp never follows the tree's symlinks (-a implies -P), keeps
		// owners, modes, hard links and xattrs, and shares blocks where
		// the file system can (XFS, btrfs).
		out, err := exec.Command("cp", "-a", "--reflink=auto", "--sparse=always", "--", c.Private, dst).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("copying %s: %w: %s", c.Private, err, strings.TrimSpace(string(out)))
		}
		method = CopyFull
	default:
		return "", fmt.Errorf("layout %s cannot be copied: %w", lay.Name(), vzerror.ErrLayout)
	}
	r.Success()
	return method, nil
}

// Replace makes the private area c.Private a writable copy of src (made by
// FreezeCopy) as cheaply as FreezeCopy made it, swapping it in with renames
// so that a failure leaves the old area in place. The area must be
// unmounted.
func Replace(lay Layout, c CT, src string) (method string, err error) {
	tmp, err := newTmp(c)
	if err != nil {
		return "", err
	}
	r := revert.New()
	defer r.Fail()
	r.Add(func() { Remove(tmp) })
	if _, ok := lay.(*btrfsLayout); ok {
		if err := btrfs.Snapshot(src, tmp, false); err != nil {
			return "", fmt.Errorf("snapshotting %s: %w: %w", src, err, vzerror.ErrCreatePrivate)
		}
		method = CopySubvolume
	} else if method, err = FreezeCopy(lay, CT{ID: c.ID, Private: src}, tmp); err != nil {
		return "", fmt.Errorf("%w: %w", err, vzerror.ErrCreatePrivate)
	}
	old := c.Private + ".destroyed"
	if err := Remove(old); err != nil {
		return "", err
	}
	if err := os.Rename(c.Private, old); err != nil {
		return "", fmt.Errorf("moving %s aside: %w: %w", c.Private, err, vzerror.ErrCreatePrivate)
	}
	if err := os.Rename(tmp, c.Private); err != nil {
		os.Rename(old, c.Private)
		return "", fmt.Errorf("renaming %s to %s: %w: %w", tmp, c.Private, err, vzerror.ErrCreatePrivate)
	}
	r.Success()
	return method, Remove(old)
}

// View shows a copy made by FreezeCopy as a directory tree at mnt (an
// empty directory) for reading, and returns how to undo that: an image
// is mounted read-only through a loop device (its journal, copied from a
// mounted file system, is replayed on the copy); a tree is bind-mounted
// read-only.
func View(lay Layout, copyDir, mnt string) (undo func() error, err error) {
	if _, ok := lay.(*imageLayout); ok {
		// The copy of a mounted ext4 needs its journal replayed: mounted
		// read-only on a writable loop device, ext4 replays it.
		if err := image.Mount(imageFile(copyDir), mnt, "ext4", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
			return nil, fmt.Errorf("mounting the copy of %s: %w", copyDir, err)
		}
		return func() error { return unmount(mnt) }, nil
	}
	if err := unix.Mount(copyDir, mnt, "", unix.MS_BIND, ""); err != nil {
		return nil, fmt.Errorf("bind-mounting %s: %w", copyDir, err)
	}
	if err := unix.Mount("", mnt, "", unix.MS_PRIVATE, ""); err != nil {
		unix.Unmount(mnt, unix.MNT_DETACH)
		return nil, fmt.Errorf("making %s private: %w", mnt, err)
	}
	if err := unix.Mount("", mnt, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		unix.Unmount(mnt, unix.MNT_DETACH)
		return nil, fmt.Errorf("remounting %s read-only: %w", mnt, err)
	}
	return func() error { return unmount(mnt) }, nil
}

// CreateFilled makes private area c.Private of layout lay with limits lim
// from fill, which writes the tree into the directory it is given (the
// final file system: a new btrfs subvolume, a directory, or a scratch
// directory an image is then made from with mke2fs -d). As Create, it
// builds at c.Private+".tmp" and renames into place: on failure nothing is
// left.
func CreateFilled(lay Layout, c CT, lim Limits, fill func(dir string) error) error {
	tmp, err := newTmp(c)
	if err != nil {
		return err
	}
	r := revert.New()
	defer r.Fail()
	r.Add(func() { Remove(tmp) })
	switch l := lay.(type) {
	case *btrfsLayout:
		parent := filepath.Dir(c.Private)
		if on, err := btrfs.IsBtrfs(parent); err != nil || !on {
			return fmt.Errorf("the btrfs layout needs %s on btrfs: %w", parent, vzerror.ErrLayout)
		}
		if err := btrfs.CreateSubvolume(tmp); err != nil {
			return fmt.Errorf("%w: %w", err, vzerror.ErrCreatePrivate)
		}
		if err := fill(tmp); err != nil {
			return err
		}
		if err := l.setLimits(tmp, NoLimits(), lim); err != nil {
			return err
		}
	case *imageLayout:
		if lim.SpaceHardKB <= 0 {
			return fmt.Errorf("the image layout needs a disk size: set --diskspace: %w", vzerror.ErrDiskspaceNotSet)
		}
		if err := os.Mkdir(tmp, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w: %w", tmp, err, vzerror.ErrCreatePrivate)
		}
		scratch := filepath.Join(tmp, "tree")
		if err := os.Mkdir(scratch, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w: %w", scratch, err, vzerror.ErrCreatePrivate)
		}
		if err := fill(scratch); err != nil {
			return err
		}
		size := lim.SpaceHardKB * 1024
		inodes := int64(0)
		if lim.InodesHard > 0 {
			inodes = lim.InodesHard
		}
		if err := image.Mkfs(imageFile(tmp), size, image.InodesPerGroup(size, inodes), image.JournalBlocks(size), scratch); err != nil {
			return fmt.Errorf("making the image of container %d (diskspace %dK): %w: %w", c.ID, lim.SpaceHardKB, err, vzerror.ErrNoDiskSpace)
		}
		if err := Remove(scratch); err != nil {
			return err
		}
	case *dirLayout:
		if err := os.Mkdir(tmp, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w: %w", tmp, err, vzerror.ErrCreatePrivate)
		}
		if err := l.applyQuota(c, tmp, lim, false); err != nil {
			return err
		}
		if err := fill(tmp); err != nil {
			return err
		}
	default:
		return fmt.Errorf("layout %s: %w", lay.Name(), vzerror.ErrLayout)
	}
	if err := commit(tmp, c); err != nil {
		return err
	}
	r.Success()
	return nil
}

// SnapshotDir is where container c's snapshots are kept: beside the
// private areas, on their file system (btrfs snapshots and reflinks cannot
// cross file systems), outside the container's tree.
func SnapshotDir(c CT) string {
	return filepath.Join(filepath.Dir(c.Private), ".snapshots", strconv.Itoa(c.ID))
}

// RemoveSnapshots removes every snapshot of container c (destroy).
func RemoveSnapshots(c CT) error {
	dir := SnapshotDir(c)
	ents, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("reading %s: %w: %w", dir, err, vzerror.ErrDeletePrivate)
	}
	for _, e := range ents {
		if err := Remove(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return Remove(dir)
}
