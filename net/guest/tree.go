package guest

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"govz/internal/inroot"
)

// Marker starts every whole file govz writes into a guest. A file at one
// of our paths without it is the guest's own and is left alone; one with
// it is rewritten or removed as the configuration changes.
const Marker = "# Written by vzctl from the container's config; changes here are lost."

// oldMarker is what earlier versions wrote at the top of the networkd
// unit: still ours.
const oldMarker = "# Written by vzctl from ip_address; changes here are lost."

// tree is a guest's root as the configurators see it: every access goes
// through internal/inroot, so a guest's symlinks cannot lead out of it and
// its FIFOs cannot block the host.
type tree struct {
	r *inroot.Root
}

// maxFile bounds what is read from a guest's file: the guest controls it.
const maxFile = 1 << 20

// read returns p's content, "" when it does not exist.
func (t tree) read(p string) (string, error) {
	b, err := t.r.ReadFile(p, maxFile)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	return string(b), err
}

func (t tree) exists(p string) bool { return t.r.Exists(p) }

// isDir reports whether p is a directory (after symlinks inside the root).
func (t tree) isDir(p string) bool {
	st, err := t.r.Stat(p)
	return err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// anyExists reports whether one of ps exists.
func (t tree) anyExists(ps ...string) bool {
	return slices.ContainsFunc(ps, t.exists)
}

// readlink returns the target of the symlink p, "" when p is not one.
func (t tree) readlink(p string) string {
	dir, err := t.r.OpenPath(path.Dir(path.Clean("/"+p)), inroot.Dir)
	if err != nil {
		return ""
	}
	defer dir.Close()
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(int(dir.Fd()), path.Base(p), buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// list returns the names in directory p (none when it does not exist).
func (t tree) list(p string) ([]string, error) {
	f, err := t.r.OpenFile(p, unix.O_RDONLY|unix.O_DIRECTORY, inroot.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", t.r.Show(p), err)
	}
	slices.Sort(names)
	return names, nil
}

// mkdir creates directory p (its parent must exist); an existing one is
// fine.
func (t tree) mkdir(p string, perm uint32) error {
	if t.isDir(p) {
		return nil
	}
	dir, err := t.r.OpenPath(path.Dir(path.Clean("/"+p)), inroot.Dir)
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := unix.Mkdirat(int(dir.Fd()), path.Base(p), perm); err != nil && err != unix.EEXIST {
		return &os.PathError{Op: "mkdir", Path: t.r.Show(p), Err: err}
	}
	return nil
}

func isOurs(content string) bool {
	first, _, _ := strings.Cut(content, "\n")
	return first == Marker || first == oldMarker
}

// writeOwned writes content (which starts with Marker) at p unless p is
// the guest's own file; unchanged content is not rewritten.
func (t tree) writeOwned(p, content string, perm os.FileMode) error {
	old, err := t.read(p)
	if err != nil {
		return err
	}
	if old != "" && !isOurs(old) {
		return nil
	}
	if old == content {
		return nil
	}
	return t.r.WriteFile(p, []byte(content), perm)
}

// removeOwned removes p if govz wrote it.
func (t tree) removeOwned(p string) error {
	old, err := t.read(p)
	if err != nil || old == "" || !isOurs(old) {
		return err
	}
	return t.r.Remove(p)
}

// sync makes directory dir hold exactly files (name -> content) among
// the names prefix* it owns: wanted ones are written, owned ones not
// wanted any more are removed, the guest's own are left alone.
func (t tree) sync(dir, prefix string, files map[string]string, perm os.FileMode) error {
	names, err := t.list(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		if _, want := files[n]; !want && strings.HasPrefix(n, prefix) {
			errs = append(errs, t.removeOwned(path.Join(dir, n)))
		}
	}
	for _, n := range sortedKeys(files) {
		errs = append(errs, t.writeOwned(path.Join(dir, n), files[n], perm))
	}
	return joinLine(errs)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// joinLine is errors.Join on one line: vzctl's errors are one line each.
func joinLine(errs []error) error {
	var set []any
	for _, err := range errs {
		if err != nil {
			set = append(set, err)
		}
	}
	if len(set) == 0 {
		return nil
	}
	return fmt.Errorf(strings.TrimSuffix(strings.Repeat("%w; ", len(set)), "; "), set...)
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
