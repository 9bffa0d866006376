package cgroup

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// kernel is every kernel-facing operation the package performs: cgroupfs
// file I/O with absolute host paths, and SIGKILL. Policy code talks only to
// this, so tests replay it against a recording fake.
type kernel interface {
	Mkdir(path string) error
	Rmdir(path string) error
	ReadFile(path string) ([]byte, error)
	// WriteFile writes data to an existing file in one write(2): cgroupfs
	// parses each write separately and never creates files.
	WriteFile(path, data string) error
	ReadDir(path string) ([]dirEntry, error)
	Readlink(path string) (string, error)
	// Exists reports whether path exists; cgroup.kill is write-only, so
	// reading is no test.
	Exists(path string) bool
	Kill(pid int) error
	// Chown changes the owner of a cgroup directory or file (Delegate).
	Chown(path string, uid, gid int) error
}

type dirEntry struct {
	name    string
	dir     bool
	symlink bool
}

// hostKernel is the real kernel.
type hostKernel struct{}

func (hostKernel) Mkdir(path string) error { return os.Mkdir(path, 0o755) }

// Rmdir uses rmdir(2) alone: os.Remove would first try unlink(2), and
// cgroupfs directories are never files.
func (hostKernel) Rmdir(path string) error {
	for {
		err := unix.Rmdir(path)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "rmdir", Path: path, Err: err}
		}
		return nil
	}
}

func (hostKernel) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

func (hostKernel) WriteFile(path, data string) error { return WriteFile(path, data) }

// WriteFile writes data to an existing cgroupfs file in one write(2):
// cgroupfs parses each write as one value, so a value must never be split,
// and the file must never be created or truncated.
func WriteFile(path, data string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (hostKernel) ReadDir(path string) ([]dirEntry, error) {
	es, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	out := make([]dirEntry, 0, len(es))
	for _, e := range es {
		out = append(out, dirEntry{name: e.Name(), dir: e.IsDir(), symlink: e.Type()&os.ModeSymlink != 0})
	}
	return out, nil
}

func (hostKernel) Readlink(path string) (string, error) { return os.Readlink(path) }

func (hostKernel) Exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func (hostKernel) Kill(pid int) error {
	err := unix.Kill(pid, unix.SIGKILL)
	if err != nil {
		return os.NewSyscallError("kill", err)
	}
	return nil
}

func (hostKernel) Chown(path string, uid, gid int) error { return os.Lchown(path, uid, gid) }
