// Package btrfs is the thin kernel layer of the btrfs storage layout:
// subvolumes, snapshots and qgroup limits through the btrfs ioctls, and
// qgroup usage through sysfs. Nothing here shells out to btrfs-progs.
//
// Qgroups count what a subvolume references, shared extents included, so
// a snapshot of a template is charged the template's size from the start:
// that is the "du of the container" meaning vzquota gave diskspace. They
// have no soft limit, no grace time and no inode limit; the caller says so.
package btrfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"govz/internal/inroot"
)

// IsBtrfs reports whether path is on a btrfs file system.
func IsBtrfs(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false, fmt.Errorf("statfs %s: %w", path, err)
	}
	return uint32(st.Type) == unix.BTRFS_SUPER_MAGIC, nil
}

// IsSubvolume reports whether path (not followed if a symlink) is the root
// directory of a btrfs subvolume.
func IsSubvolume(path string) (bool, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return false, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Ino != firstFreeObjectID {
		return false, nil
	}
	return IsBtrfs(path)
}

// openDir opens a directory without following a final symlink.
func openDir(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening %s: %w", path, err)
	}
	return fd, nil
}

// CreateSubvolume makes an empty subvolume at path.
func CreateSubvolume(path string) error {
	dir, name := filepath.Split(filepath.Clean(path))
	pfd, err := openDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	var a volArgsV2
	if !setName(a.name[:], name) {
		return fmt.Errorf("creating subvolume %s: bad name: %w", path, unix.EINVAL)
	}
	if err := ioctl(pfd, iocSubvolCreateV2, unsafe.Pointer(&a)); err != nil {
		return fmt.Errorf("creating subvolume %s: %w", path, err)
	}
	return nil
}

// Snapshot makes dst a snapshot of the subvolume src (same file system);
// readOnly makes the snapshot read-only.
func Snapshot(src, dst string, readOnly bool) error {
	sfd, err := openDir(src)
	if err != nil {
		return err
	}
	defer unix.Close(sfd)
	dir, name := filepath.Split(filepath.Clean(dst))
	pfd, err := openDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	a := volArgsV2{fd: int64(sfd)}
	if readOnly {
		a.flags = subvolRDOnly
	}
	if !setName(a.name[:], name) {
		return fmt.Errorf("snapshot %s: bad name: %w", dst, unix.EINVAL)
	}
	if err := ioctl(pfd, iocSnapCreateV2, unsafe.Pointer(&a)); err != nil {
		return fmt.Errorf("snapshotting %s to %s: %w", src, dst, err)
	}
	return nil
}

// SetReadOnly sets or clears the read-only flag of the subvolume at path.
func SetReadOnly(path string, ro bool) error {
	fd, err := openDir(path)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var flags uint64
	if err := ioctl(fd, iocSubvolGetFlags, unsafe.Pointer(&flags)); err != nil {
		return fmt.Errorf("reading flags of subvolume %s: %w", path, err)
	}
	if ro {
		flags |= subvolRDOnly
	} else {
		flags &^= subvolRDOnly
	}
	if err := ioctl(fd, iocSubvolSetFlags, unsafe.Pointer(&flags)); err != nil {
		return fmt.Errorf("setting flags of subvolume %s: %w", path, err)
	}
	return nil
}

// Delete removes the subvolume at path together with any subvolume nested
// in it (a container may create its own: any user can). The space is freed
// later by the kernel's cleaner thread.
func Delete(path string) error {
	path = filepath.Clean(path)
	pfd, err := openDir(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	return deleteAt(pfd, filepath.Base(path), path)
}

// deleteAt removes subvolume name in directory pfd; shown is its path for
// messages.
func deleteAt(pfd int, name, shown string) error {
	var a volArgs
	if !setName(a.name[:], name) {
		return fmt.Errorf("deleting subvolume %s: bad name: %w", shown, unix.EINVAL)
	}
	err := ioctl(pfd, iocSnapDestroy, unsafe.Pointer(&a))
	if !errors.Is(err, unix.ENOTEMPTY) {
		if err != nil {
			return fmt.Errorf("deleting subvolume %s: %w", shown, err)
		}
		return nil
	}
	// Subvolumes inside: delete them first. Nested paths are resolved
	// beneath the subvolume and never through a symlink, since the tree
	// is the container's.
	sfd, err := inroot.Openat2(pfd, name, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return fmt.Errorf("opening subvolume %s: %w", shown, err)
	}
	defer unix.Close(sfd)
	nested, err := nestedSubvolumes(sfd, shown)
	if err != nil {
		return err
	}
	for _, rel := range nested {
		dfd, err := inroot.Openat2(sfd, filepath.Dir(rel), &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err != nil {
			return fmt.Errorf("opening %s/%s: %w", shown, filepath.Dir(rel), err)
		}
		err = deleteAt(dfd, filepath.Base(rel), filepath.Join(shown, rel))
		unix.Close(dfd)
		if err != nil {
			return err
		}
	}
	if err := ioctl(pfd, iocSnapDestroy, unsafe.Pointer(&a)); err != nil {
		return fmt.Errorf("deleting subvolume %s: %w", shown, err)
	}
	return nil
}

// nestedSubvolumes lists the outermost subvolumes below the directory fd,
// as paths relative to it, deepest first.
func nestedSubvolumes(fd int, shown string) ([]string, error) {
	// The trailing slash makes WalkDir follow the magic link to the
	// directory instead of reporting the link itself.
	root := fmt.Sprintf("/proc/self/fd/%d/", fd)
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root || !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Ino == firstFreeObjectID {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("looking for subvolumes in %s: %w", shown, err)
	}
	sort.Slice(out, func(i, j int) bool { return strings.Count(out[i], "/") > strings.Count(out[j], "/") })
	return out, nil
}

// SubvolumeID returns the id of the subvolume that contains path.
func SubvolumeID(path string) (uint64, error) {
	fd, err := openDir(path)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	a := inoLookupArgs{objectid: firstFreeObjectID}
	if err := ioctl(fd, iocInoLookup, unsafe.Pointer(&a)); err != nil {
		return 0, fmt.Errorf("looking up subvolume of %s: %w", path, err)
	}
	return a.treeid, nil
}

// subvolumeExists reports whether subvolume id is alive (not deleted) on
// the file system of fd.
func subvolumeExists(fd int, id uint64) (bool, error) {
	a := inoLookupArgs{treeid: id, objectid: firstFreeObjectID}
	err := ioctl(fd, iocInoLookup, unsafe.Pointer(&a))
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	return err == nil, err
}

// sysfsDir is the file system's directory in /sys/fs/btrfs.
func sysfsDir(fd int) (string, error) {
	var a fsInfoArgs
	if err := ioctl(fd, iocFSInfo, unsafe.Pointer(&a)); err != nil {
		return "", fmt.Errorf("reading btrfs fs info: %w", err)
	}
	u := a.fsid
	return fmt.Sprintf("/sys/fs/btrfs/%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]), nil
}

// QuotaEnabled reports whether qgroups are enabled on path's file system.
func QuotaEnabled(path string) (bool, error) {
	fd, err := openDir(path)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	return quotaEnabled(fd)
}

func quotaEnabled(fd int) (bool, error) {
	dir, err := sysfsDir(fd)
	if err != nil {
		return false, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "qgroups", "enabled"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(b)) == "1", nil
}

// EnableQuota turns qgroups on for path's file system and waits for the
// initial rescan, after which usage numbers are right. Enabling is a no-op
// when they are on already.
func EnableQuota(path string) error {
	fd, err := openDir(path)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	a := quotaCtlArgs{cmd: quotaCtlEnable}
	if err := ioctl(fd, iocQuotaCtl, unsafe.Pointer(&a)); err != nil {
		return fmt.Errorf("enabling btrfs quota on %s: %w", path, err)
	}
	if err := ioctl(fd, iocQuotaRescanWait, nil); err != nil {
		return fmt.Errorf("waiting for the qgroup rescan on %s: %w", path, err)
	}
	return nil
}

// SetLimit sets the referenced-bytes limit of the qgroup of the subvolume
// at path; 0 removes the limit.
func SetLimit(path string, maxReferenced uint64) error {
	fd, err := openDir(path)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	// qgroupid 0 means the subvolume fd is in.
	a := qgroupLimitArgs{flags: qgroupLimitMaxRfer, maxRfer: maxReferenced}
	if maxReferenced == 0 {
		a.maxRfer = clearValue
	}
	if err := ioctl(fd, iocQgroupLimit, unsafe.Pointer(&a)); err != nil {
		return fmt.Errorf("setting qgroup limit on %s: %w", path, err)
	}
	return nil
}

// Usage is one subvolume qgroup's accounting, in bytes, as of the last
// transaction commit.
type Usage struct {
	Referenced, Exclusive, MaxReferenced uint64
}

// QgroupUsage reads the qgroup of the subvolume at path from sysfs.
func QgroupUsage(path string) (Usage, error) {
	fd, err := openDir(path)
	if err != nil {
		return Usage{}, err
	}
	defer unix.Close(fd)
	dir, err := sysfsDir(fd)
	if err != nil {
		return Usage{}, err
	}
	a := inoLookupArgs{objectid: firstFreeObjectID}
	if err := ioctl(fd, iocInoLookup, unsafe.Pointer(&a)); err != nil {
		return Usage{}, fmt.Errorf("looking up subvolume of %s: %w", path, err)
	}
	q := filepath.Join(dir, "qgroups", fmt.Sprintf("0_%d", a.treeid))
	var u Usage
	for _, f := range []struct {
		name string
		dst  *uint64
	}{{"referenced", &u.Referenced}, {"exclusive", &u.Exclusive}, {"max_referenced", &u.MaxReferenced}} {
		b, err := os.ReadFile(filepath.Join(q, f.name))
		if err != nil {
			return Usage{}, fmt.Errorf("reading qgroup of %s: %w", path, err)
		}
		if *f.dst, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err != nil {
			return Usage{}, fmt.Errorf("reading qgroup of %s: %w", path, err)
		}
	}
	return u, nil
}

// Tidy looks after the qgroups of path's file system after subvolumes were
// deleted: it removes level-0 qgroups whose subvolume is gone (kernels
// before 6.10 leave them; an interrupted destroy may too), and starts a
// rescan when the kernel marked the accounting inconsistent (it does when
// it drops a deep subvolume tree without tracing it). It reports how many
// qgroups it removed.
func Tidy(path string) (int, error) {
	fd, err := openDir(path)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	if on, err := quotaEnabled(fd); err != nil || !on {
		return 0, err
	}
	dir, err := sysfsDir(fd)
	if err != nil {
		return 0, err
	}
	ents, err := os.ReadDir(filepath.Join(dir, "qgroups"))
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, e := range ents {
		s, ok := strings.CutPrefix(e.Name(), "0_")
		if !ok {
			continue
		}
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil || id < firstFreeObjectID {
			continue
		}
		if alive, err := subvolumeExists(fd, id); err != nil || alive {
			continue
		}
		// EBUSY while the cleaner has not dropped the subvolume yet: the
		// next Tidy gets it.
		a := qgroupCreateArgs{create: 0, qgroupid: id}
		if ioctl(fd, iocQgroupCreate, unsafe.Pointer(&a)) == nil {
			removed++
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "qgroups", "inconsistent")); err == nil && strings.TrimSpace(string(b)) == "1" {
		var a quotaRescanArgs
		// EINPROGRESS: a rescan already runs.
		if err := ioctl(fd, iocQuotaRescan, unsafe.Pointer(&a)); err != nil && !errors.Is(err, unix.EINPROGRESS) {
			return removed, fmt.Errorf("starting qgroup rescan on %s: %w", path, err)
		}
	}
	return removed, nil
}
