package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path"

	"golang.org/x/sys/unix"

	"govz/ct/vzerror"
)

// Kernel is what Apply needs from the system, with paths inside the
// container. The real one is HostKernel; tests record calls.
type Kernel interface {
	// Stat reports whether p exists and whether it is a directory,
	// without following a final symlink.
	Stat(p string) (exists, dir bool, err error)
	Mkdir(p string, mode uint32) error
	Mount(source, target, fstype string, flags uintptr, data string) error
	Mknod(p string, mode uint32, char bool, dev uint64) error
	Symlink(target, p string) error
	WriteFile(p string, data []byte, mode uint32) error
	MoveMount(fd int, target string) error
}

// StepError is a failed step, with the step for the message.
type StepError struct {
	Step Step
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("%s: %v", e.Step, e.Err) }

// Unwrap returns the kernel error; Is makes every step failure a mount
// failure for vzctl's exit code.
func (e *StepError) Unwrap() error { return e.Err }

// Is reports vzerror.ErrMount.
func (e *StepError) Is(target error) bool { return target == vzerror.ErrMount }

// Apply runs steps in order and stops at the first failure. Nothing is
// undone: every step happens inside the container's fresh mount namespace,
// which dies with it.
func Apply(k Kernel, steps []Step) error {
	for _, s := range steps {
		if err := apply(k, s); err != nil {
			return &StepError{Step: s, Err: err}
		}
	}
	return nil
}

func apply(k Kernel, s Step) error {
	switch s.Op {
	case OpMkdir:
		return mkdirAll(k, s.Path, s.Mode)
	case OpMount:
		return k.Mount(s.Source, s.Path, s.FSType, s.Flags, s.Data)
	case OpMknod:
		return k.Mknod(s.Path, s.Mode, s.Char, s.Dev)
	case OpSymlink:
		if err := mkdirAll(k, path.Dir(s.Path), 0o755); err != nil {
			return err
		}
		return k.Symlink(s.Target, s.Path)
	case OpFile:
		return k.WriteFile(s.Path, s.Content, s.Mode)
	case OpTouch:
		ok, _, err := k.Stat(s.Path)
		if err != nil || ok {
			return err
		}
		return k.WriteFile(s.Path, nil, s.Mode)
	case OpAttach:
		return k.MoveMount(s.FD, s.Path)
	case OpMask:
		ok, dir, err := k.Stat(s.Path)
		if err != nil || !ok {
			return err
		}
		if dir {
			return k.Mount("tmpfs", s.Path, "tmpfs", unix.MS_RDONLY|procFlags, "mode=555")
		}
		return k.Mount("/dev/null", s.Path, "", unix.MS_BIND, "")
	case OpReadOnly, OpWritable:
		ok, _, err := k.Stat(s.Path)
		if err != nil || !ok {
			return err
		}
		// A bind mount takes the flags of the mount it comes from; the
		// per-mount flags change only with a second, MS_REMOUNT|MS_BIND call
		// (man 8 mount, "bind mount operation").
		if err := k.Mount(s.Path, s.Path, "", unix.MS_BIND, ""); err != nil {
			return err
		}
		return k.Mount(s.Path, s.Path, "", unix.MS_BIND|unix.MS_REMOUNT|s.Flags, "")
	}
	return fmt.Errorf("unknown step %d", s.Op)
}

// mkdirAll creates p and missing parents; an existing non-directory is an
// error.
func mkdirAll(k Kernel, p string, mode uint32) error {
	ok, dir, err := k.Stat(p)
	if err != nil {
		return err
	}
	if ok {
		if !dir {
			return &fs.PathError{Op: "mkdir", Path: p, Err: unix.ENOTDIR}
		}
		return nil
	}
	if parent := path.Dir(p); parent != p {
		if err := mkdirAll(k, parent, 0o755); err != nil {
			return err
		}
	}
	err = k.Mkdir(p, mode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	return err
}
