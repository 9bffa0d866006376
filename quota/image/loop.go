// Package image is the thin kernel layer of the image storage layout: an
// ext4 file system in a regular file, attached through a loop device and
// mounted at the container's root. The image's size is the container's
// disk space limit and its inode count the inode limit, so df inside the
// container shows them and a full container gets ENOSPC from its own file
// system, never from the host's.
//
// Loop devices are always attached with LO_FLAGS_AUTOCLEAR: the kernel
// detaches one when its last user goes, the mount or the fd of a process
// that died before mounting. A crash therefore never leaves a loop device
// behind, and unmounting is all a caller does to release one.
package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Loop is an attached loop device, open.
type Loop struct {
	Dev string
	f   *os.File
}

// Close drops this process's reference; with nothing mounted from the
// device, the kernel detaches it.
func (l *Loop) Close() error { return l.f.Close() }

// Fd is the open device's descriptor.
func (l *Loop) Fd() int { return int(l.f.Fd()) }

// Attach binds file to a free loop device (read-write, autoclear).
func Attach(file string) (*Loop, error) {
	back, err := os.OpenFile(file, os.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("opening image %s: %w", file, err)
	}
	defer back.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening /dev/loop-control: %w", err)
	}
	defer ctl.Close()
	cfg := unix.LoopConfig{Fd: uint32(back.Fd())}
	cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
	copy(cfg.Info.File_name[:len(cfg.Info.File_name)-1], file)
	// Another process may take the free device between GET_FREE and
	// CONFIGURE; the loser gets EBUSY and asks again.
	for range 64 {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("finding a free loop device: %w", err)
		}
		dev := fmt.Sprintf("/dev/loop%d", n)
		f, err := os.OpenFile(dev, os.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", dev, err)
		}
		if err := unix.IoctlLoopConfigure(int(f.Fd()), &cfg); err != nil {
			f.Close()
			if errors.Is(err, unix.EBUSY) {
				continue
			}
			return nil, fmt.Errorf("attaching %s to %s: %w", file, dev, err)
		}
		return &Loop{Dev: dev, f: f}, nil
	}
	return nil, fmt.Errorf("attaching %s: loop devices keep being taken: %w", file, unix.EBUSY)
}

// Mount attaches file and mounts the file system of type fstype in it at
// dir, with mount flags and file system options data. The loop device
// lives exactly as long as the mount.
func Mount(file, dir, fstype string, flags uintptr, data string) error {
	l, err := Attach(file)
	if err != nil {
		return err
	}
	defer l.Close()
	if err := unix.Mount(l.Dev, dir, fstype, flags, data); err != nil {
		return fmt.Errorf("mounting %s (%s) at %s: %w", file, l.Dev, dir, err)
	}
	return nil
}

// Backing returns the loop device mounted at dir and the file behind it;
// ok is false when dir is not the root of a loop-backed mount.
func Backing(dir string) (dev, file string, ok bool, err error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return "", "", false, fmt.Errorf("stat %s: %w", dir, err)
	}
	return backingOf(unix.Major(st.Dev), unix.Minor(st.Dev))
}

func backingOf(major, minor uint32) (dev, file string, ok bool, err error) {
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", major, minor)
	b, err := os.ReadFile(filepath.Join(sys, "loop", "backing_file"))
	if errors.Is(err, os.ErrNotExist) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, err
	}
	file = strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)")
	ue, err := os.ReadFile(filepath.Join(sys, "uevent"))
	if err != nil {
		return "", "", false, err
	}
	for _, l := range strings.Split(string(ue), "\n") {
		if name, found := strings.CutPrefix(l, "DEVNAME="); found {
			return "/dev/" + name, file, true, nil
		}
	}
	return "", "", false, fmt.Errorf("%s has no DEVNAME", sys)
}

// LoopsOf lists the loop devices whose backing file is under dir: what a
// destroyed container or a finished test must not leave.
func LoopsOf(dir string) ([]string, error) {
	ents, err := filepath.Glob("/sys/block/loop*/loop/backing_file")
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	var out []string
	for _, p := range ents {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // detached meanwhile
		}
		f := strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)")
		if f == dir || strings.HasPrefix(f, dir+"/") {
			out = append(out, "/dev/"+filepath.Base(filepath.Dir(filepath.Dir(p)))+" ("+f+")")
		}
	}
	return out, nil
}
