package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"govz/conf"
	"govz/ct/revert"
	"govz/ct/vzerror"
	"govz/quota/image"
)

// imageLayout keeps each private area as PRIVATE/root.img, an ext4 image
// sized by the hard diskspace limit, with the inode density diskinodes
// asks for, mounted through a loop device at the root. The template is
// unpacked once into a compact image per inode density; a create copies it
// (a reflink where the host file system shares extents, a sparse
// in-kernel copy otherwise) and resizes the copy. It works on any host
// file system. Grown online while mounted; shrunk only offline. There is
// no soft limit and no grace time; the inode count is fixed at creation and
// grows in proportion when the image grows.
type imageLayout struct {
	log Logger
}

func (m *imageLayout) Name() string { return "image" }

// imageFile is the image inside a private area.
func imageFile(private string) string { return filepath.Join(private, "root.img") }

func (m *imageLayout) Create(c CT, t Template, lim Limits) error {
	if lim.SpaceHardKB == conf.Unlimited {
		return fmt.Errorf("the image layout needs a disk size: set --diskspace: %w", vzerror.ErrDiskspaceNotSet)
	}
	m.warnCannot(NoLimits(), lim)
	noteUGIDLimit(m.log, m.Name(), NoLimits(), lim)
	size := lim.SpaceHardKB * 1024
	inodes := int64(0)
	if lim.InodesHard != conf.Unlimited {
		inodes = lim.InodesHard
	}
	ipg := image.InodesPerGroup(size, inodes)
	journal := image.JournalBlocks(size)
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
	img := imageFile(tmp)
	err = cacheFor(c, m.log).use(t, fmt.Sprintf("-i%d-j%d.img", ipg, journal), func(work string) error {
		return m.buildTemplate(t, work, ipg, journal)
	}, func(entry string) error {
		if _, err := image.CopyWith(img, entry, c.bar("Copying the template image", true)); err != nil {
			return fmt.Errorf("%w: %w", err, vzerror.ErrCreatePrivate)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := image.ResizeWith(img, size, c.bar("Resizing the image", false)); err != nil {
		if errors.Is(err, image.ErrTooSmall) {
			return fmt.Errorf("diskspace %dK is too small for template %s: %w: %w", lim.SpaceHardKB, t.Name, err, vzerror.ErrNoDiskSpace)
		}
		return fmt.Errorf("%w: %w", err, vzerror.ErrResizeImage)
	}
	if err := commit(tmp, c); err != nil {
		return err
	}
	r.Success()
	return nil
}

// buildTemplate unpacks t into a scratch directory and makes the compact
// template image work from it, with ipg inodes per group and a journal of
// journal blocks.
func (m *imageLayout) buildTemplate(t Template, work string, ipg, journal int64) error {
	scratch := work + ".d"
	if err := os.Mkdir(scratch, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w: %w", scratch, err, vzerror.ErrCreatePrivate)
	}
	if err := t.extract(scratch, m.log.Warnf); err != nil {
		return fmt.Errorf("unpacking %s into %s: %w", t.Path, scratch, err)
	}
	bytes, files, err := treeSize(scratch)
	if err != nil {
		return fmt.Errorf("measuring %s: %w: %w", scratch, err, vzerror.ErrCreatePrivate)
	}
	size := templateImageSize(bytes, files, ipg, journal*image.BlockSize)
	for try := 0; ; try++ {
		err := image.Mkfs(work, size, ipg, journal, scratch)
		if err == nil {
			return nil
		}
		os.Remove(work)
		if !errors.Is(err, image.ErrTooSmall) || try == 2 {
			return fmt.Errorf("making the template image of %s: %w: %w", t.Name, err, vzerror.ErrCreatePrivate)
		}
		size *= 2
	}
}

// templateImageSize is the size of a template image holding bytes of
// allocated data in files inodes, with ipg inodes per group and a journal
// of journal bytes: whole block groups, room for the data and metadata
// with a margin, twice the journal (mke2fs refuses a journal over half the
// free space), and enough groups for the inodes.
func templateImageSize(bytes, files, ipg, journal int64) int64 {
	need := bytes + bytes/8 + files*256 + 2*journal + 32<<20
	groups := image.Groups(need)
	if byInodes := (files + files/8 + 64 + ipg - 1) / ipg; byInodes > groups {
		groups = byInodes
	}
	return groups * image.GroupBytes
}

// treeSize sums the allocated bytes and the entries of the tree at dir.
func treeSize(dir string) (bytes, files int64, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			bytes += st.Blocks * 512
		}
		files++
		return nil
	})
	return bytes, files, err
}

// warnCannot says what of lim, changed from old, an image cannot do.
func (m *imageLayout) warnCannot(old, lim Limits) {
	if lim.SpaceSoftKB != lim.SpaceHardKB && lim.SpaceSoftKB != conf.Unlimited && lim.SpaceSoftKB != old.SpaceSoftKB {
		m.log.Warnf("image layout: no soft limit: the image is sized by the hard diskspace limit")
	}
	if lim.InodesSoft != lim.InodesHard && lim.InodesSoft != conf.Unlimited && lim.InodesSoft != old.InodesSoft {
		m.log.Warnf("image layout: no soft inode limit: the inode count follows the hard diskinodes limit")
	}
	if lim.GraceSeconds > 0 && lim.GraceSeconds != old.GraceSeconds {
		m.log.Warnf("image layout: no grace period: quotatime is not used")
	}
}

// CapDrops: none. The limit is the size of the container's own file
// system; CAP_SYS_RESOURCE only reaches that file system's reserved blocks,
// which are inside the image.
func (m *imageLayout) CapDrops(c CT) []CapDrop { return nil }

func (m *imageLayout) Mount(c CT) error {
	img := imageFile(c.Private)
	if _, err := os.Stat(img); err != nil {
		return fmt.Errorf("image %s: %w: %w", img, err, vzerror.ErrNoPrivate)
	}
	if err := image.Mount(img, c.Root, "ext4", 0, ""); err != nil {
		return fmt.Errorf("%w: %w", err, vzerror.ErrMount)
	}
	if err := unix.Mount("", c.Root, "", unix.MS_PRIVATE, ""); err != nil {
		unix.Unmount(c.Root, unix.MNT_DETACH)
		return fmt.Errorf("making %s private: %w: %w", c.Root, err, vzerror.ErrMount)
	}
	return nil
}

// Umount unmounts the root; the loop device, attached with autoclear,
// detaches itself.
func (m *imageLayout) Umount(c CT) error { return unmount(c.Root) }

func (m *imageLayout) Destroy(c CT) error { return Remove(c.Private) }

func (m *imageLayout) SetLimits(c CT, old, lim Limits, mounted bool) error {
	if lim.SpaceHardKB == conf.Unlimited {
		return fmt.Errorf("the image layout cannot be unlimited: its size is the diskspace limit: %w", vzerror.ErrDiskspaceNotSet)
	}
	m.warnCannot(old, lim)
	noteUGIDLimit(m.log, m.Name(), old, lim)
	if lim.InodesHard != old.InodesHard {
		m.log.Warnf("image layout: the inode count is fixed at creation and grows in proportion with the image: diskinodes %d is not applied", lim.InodesHard)
	}
	if lim.SpaceHardKB == old.SpaceHardKB {
		return nil
	}
	img := imageFile(c.Private)
	size := image.Blocks(lim.SpaceHardKB*1024) * image.BlockSize
	st, err := os.Stat(img)
	if err != nil {
		return fmt.Errorf("image of container %d: %w: %w", c.ID, err, vzerror.ErrNoPrivate)
	}
	if mounted {
		// The file is never smaller than the file system in it.
		if size < st.Size() {
			return fmt.Errorf("an image shrinks only offline: stop and unmount the container first: %w", vzerror.ErrMounted)
		}
		// Growing is idempotent: run it even when the file has the size
		// already, to finish a grow that was cut short.
		m.log.Infof("Growing the image of container %d to %dK online", c.ID, lim.SpaceHardKB)
		if err := image.GrowOnline(img, c.Root, size); err != nil {
			if errors.Is(err, image.ErrNoSysResource) {
				return fmt.Errorf("%w: stop and unmount the container, then set --diskspace with --save to resize it offline: %w", err, vzerror.ErrResizeImage)
			}
			return fmt.Errorf("%w: %w", err, vzerror.ErrResizeImage)
		}
		return nil
	}
	if cur, err := image.FSSize(img); err == nil && cur == size && st.Size() == size {
		return nil
	}
	m.log.Infof("Resizing the image of container %d to %dK", c.ID, lim.SpaceHardKB)
	if err := image.CheckWith(img, c.bar("Checking the image", false)); err != nil {
		return fmt.Errorf("%w: %w", err, vzerror.ErrResizeImage)
	}
	if err := image.ResizeWith(img, size, c.bar("Resizing the image", false)); err != nil {
		if errors.Is(err, image.ErrTooSmall) {
			return fmt.Errorf("diskspace %dK is less than the container uses: %w: %w", lim.SpaceHardKB, err, vzerror.ErrResizeImage)
		}
		return fmt.Errorf("%w: %w", err, vzerror.ErrResizeImage)
	}
	return nil
}

func (m *imageLayout) Usage(c CT, mounted bool) (Usage, error) {
	if !mounted {
		return Usage{}, nil
	}
	st, err := image.StatMounted(c.Root)
	if err != nil {
		return Usage{}, err
	}
	return Usage{SpaceKB: kb(uint64(st.UsedBytes)), Inodes: &st.UsedInodes}, nil
}
