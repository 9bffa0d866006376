package projquota

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// SetProject gives the directory at path project id and PROJINHERIT, so
// what is created below it from now on belongs to the project.
func SetProject(path string, id uint32) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := setProject(fd, id, true); err != nil {
		return fmt.Errorf("setting project %d on %s: %w", id, path, err)
	}
	return nil
}

// SetProjectTree moves an existing tree into project id: directories get
// the id and PROJINHERIT, regular files the id. The tree is a container's,
// so nothing is reached through a symlink: every step is an openat with
// O_NOFOLLOW from the parent's descriptor. Symlinks, devices, FIFOs and
// sockets cannot be opened for the ioctl and stay where they are; they
// hold no data blocks worth counting.
func SetProjectTree(path string, id uint32) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	return setTree(fd, path, id)
}

// setTree sets the project of the directory fd (which it closes) and of
// everything below it.
func setTree(fd int, shown string, id uint32) error {
	dir := os.NewFile(uintptr(fd), shown)
	defer dir.Close()
	if err := setProject(fd, id, true); err != nil {
		return fmt.Errorf("setting project %d on %s: %w", id, shown, err)
	}
	for {
		ents, err := dir.ReadDir(256)
		for _, e := range ents {
			name := shown + "/" + e.Name()
			switch {
			case e.Type().IsDir():
				cfd, err := unix.Openat(fd, e.Name(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
				if err != nil {
					return fmt.Errorf("opening %s: %w", name, err)
				}
				if err := setTree(cfd, name, id); err != nil {
					return err
				}
			case e.Type().IsRegular():
				if err := setFileProject(fd, e.Name(), name, id); err != nil {
					return err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", shown, err)
		}
	}
}

// setFileProject sets the project of regular file name in directory fd.
// A running container may swap the file for a device node meanwhile, and
// opening a device can have side effects, so the file is first pinned with
// O_PATH, checked, and only then opened through the pinned descriptor.
func setFileProject(dirfd int, name, shown string, id uint32) error {
	pfd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", shown, err)
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", shown, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil
	}
	cfd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", pfd), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", shown, err)
	}
	defer unix.Close(cfd)
	if err := setProject(cfd, id, false); err != nil {
		return fmt.Errorf("setting project %d on %s: %w", id, shown, err)
	}
	return nil
}
