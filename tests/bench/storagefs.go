package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"govz/quota/btrfs"
	qimage "govz/quota/image"
)

// The scratch file systems of section "storage" and what it asks of them:
// settling, used bytes, free room.

// stFS is a scratch file system of this section.
type stFS struct {
	fstype   string // ext4 or btrfs
	img, mnt string
	release  func() error // unmount and remove, once
}

// newFS makes a file system of type fstype in a sparse file of size bytes
// under s.dir and mounts it through an autoclear loop device
// (image.Mount), which detaches itself when the file system is unmounted.
//
// Section 1's unpackTarget is not reused: it makes a 2 GiB ext4 only (or
// none with -unpack-fs host), too small for 100 image containers and no
// btrfs.
func (s *stRun) newFS(fstype string, size int64) (*stFS, error) {
	f := &stFS{fstype: fstype, img: filepath.Join(s.dir, fstype+".img"), mnt: filepath.Join(s.dir, fstype)}
	if err := os.MkdirAll(f.mnt, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(f.img, nil, 0o600); err != nil {
		return nil, err
	}
	var once sync.Once
	f.release = func() error {
		var err error
		once.Do(func() { err = f.unmount() })
		return err
	}
	s.b.undo.push("scratch "+fstype+" at "+f.mnt, f.release)
	if err := os.Truncate(f.img, size); err != nil {
		return nil, err
	}
	mkfs := []string{"mkfs.btrfs", "-q", "-f", f.img}
	if fstype == "ext4" {
		// As section 1: no lazy inode table init in the background while
		// we measure (on a sparse file mke2fs only punches holes).
		mkfs = []string{"mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", f.img}
	}
	if _, err := s.b.run(mkfs[0], mkfs[1:]...); err != nil {
		return nil, err
	}
	if err := qimage.Mount(f.img, f.mnt, fstype, 0, ""); err != nil {
		return nil, err
	}
	if fstype == "btrfs" {
		// Every btrfs create sets a qgroup limit, which turns qgroups on
		// the first time: do it now, outside the figures.
		if err := btrfs.EnableQuota(f.mnt); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// unmount unmounts f, waits for its loop device to go and removes the
// image file.
func (f *stFS) unmount() error {
	var errs []error
	if err := unix.Unmount(f.mnt, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		errs = append(errs, fmt.Errorf("unmounting %s: %w", f.mnt, err))
		unix.Unmount(f.mnt, unix.MNT_DETACH)
	}
	// An autoclear loop device detaches asynchronously after its last
	// user; a process that unshared its mount namespace while f was
	// mounted (another engineer's test) holds a copy of the mount, and the
	// device with it.
	if loops := stLoopsGone(f.img, 5*time.Second); len(loops) > 0 {
		errs = append(errs, fmt.Errorf("loop device still attached to %s (pinned by another mount namespace?): %v", f.img, loops))
	}
	if err := os.Remove(f.img); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// stLoopsGone waits up to timeout for the loop devices backed by files at
// or under path to detach, and returns those still there.
func stLoopsGone(path string, timeout time.Duration) []string {
	var loops []string
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		loops, _ = qimage.LoopsOf(path)
		if len(loops) == 0 || time.Now().After(deadline) {
			return loops
		}
	}
}

// stBtrfsIocSync is BTRFS_IOC_SYNC, _IO(0x94, 8): a commit that also
// wakes the transaction thread, which sets the cleaner on deleted
// subvolumes now rather than after the next periodic commit (30 s).
const stBtrfsIocSync = 0x9408

// settle makes f's state durable and quiet before a figure. On btrfs a
// deleted subvolume is dropped later by the cleaner thread, in the
// background, which would both disturb the next timing and hide freed
// space: settle waits until it is done.
func (f *stFS) settle(b *bench) error {
	if f.fstype != "btrfs" {
		return f.syncfs()
	}
	fd, err := unix.Open(f.mnt, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", f.mnt, err)
	}
	defer unix.Close(fd)
	// With qgroups on, dropping a snapshot traces its whole tree for
	// the accounting: seconds per container on a loaded host.
	const limit = 20 * time.Minute
	start, lastLog, pause := time.Now(), time.Now(), 50*time.Millisecond
	for {
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), stBtrfsIocSync, 0); e != 0 {
			return fmt.Errorf("BTRFS_IOC_SYNC %s: %w", f.mnt, e)
		}
		out, err := b.run("btrfs", "subvolume", "list", "-d", f.mnt)
		if err != nil {
			return err
		}
		left := len(strings.Fields(out)) / 9 // "ID n gen n top level n path DELETED"
		if strings.TrimSpace(out) == "" {
			return nil
		}
		if err := b.ctx.Err(); err != nil {
			return err
		}
		if time.Since(start) > limit {
			return fmt.Errorf("deleted subvolumes of %s still not cleaned after %s: %d left", f.mnt, limit, left)
		}
		if time.Since(lastLog) > 30*time.Second {
			b.logf("storage: waiting for the btrfs cleaner: %d deleted subvolumes left after %s", left, time.Since(start).Round(time.Second))
			lastLog = time.Now()
		}
		// Polling is not free either: back off to once a second.
		time.Sleep(pause)
		pause = min(2*pause, time.Second)
	}
}

func (f *stFS) syncfs() error {
	fd, err := unix.Open(f.mnt, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", f.mnt, err)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("syncfs %s: %w", f.mnt, err)
	}
	return nil
}

// used is the bytes f has in use, settled: on btrfs what `btrfs filesystem
// usage` calls Used (data and metadata, the metadata's DUP copy counted:
// what the disk holds; statfs only estimates), on ext4 statfs's used
// blocks.
func (f *stFS) used(b *bench) (int64, error) {
	if err := f.settle(b); err != nil {
		return 0, err
	}
	if f.fstype == "btrfs" {
		out, err := b.run("btrfs", "filesystem", "usage", "-b", f.mnt)
		if err != nil {
			return 0, err
		}
		return stParseBtrfsUsed(out)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(f.mnt, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", f.mnt, err)
	}
	return int64(st.Blocks-st.Bfree) * st.Bsize, nil
}

// avail is what an unprivileged writer could still put on the file system
// holding path.
func stAvail(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// stParseBtrfsUsed reads the overall "Used:" bytes from the output of
// `btrfs filesystem usage -b`.
func stParseBtrfsUsed(out string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "Used:" {
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("btrfs filesystem usage: Used %q: %w", f[1], err)
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("btrfs filesystem usage: no Used line in %q", tail(out))
}
