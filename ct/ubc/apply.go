package ubc

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"govz/ct/cgroup"
	"govz/ct/revert"
	"govz/ct/vzerror"
)

// Group is the part of ct/cgroup's Group this package uses: the layout
// and OUTER's directory per controller. *cgroup.Group implements it.
type Group interface {
	Layout() cgroup.Layout
	OuterPath(controller string) (string, error)
}

// FS is the cgroupfs access Apply and ReadCounters need, with absolute
// host paths.
type FS interface {
	ReadFile(path string) ([]byte, error)
	// WriteFile writes data to an existing file in one write(2): cgroupfs
	// parses each write separately.
	WriteFile(path, data string) error
	// SubDirs lists the directories below dir, recursively, parents
	// before children.
	SubDirs(dir string) ([]string, error)
}

// errClass is the vzctl exit class of a failed write to ctrl's files.
func errClass(ctrl string) error {
	switch ctrl {
	case "cpu", "cpuset":
		return vzerror.ErrSetCPU
	case "blkio", "io":
		return vzerror.ErrSetIO
	}
	return vzerror.ErrSetUBC
}

// Apply performs r's cgroup writes in OUTER. A write the kernel refuses
// as out of order (EINVAL/EBUSY: v1's memsw must stay at or above
// limit_in_bytes, so raising both needs memsw first and lowering needs it
// last) is retried once after the others. When a write fails, the ones
// done are undone, last first, back to the values read before them.
// Errors wrap ErrSetUBC, ErrSetCPU or ErrSetIO by controller.
func Apply(g Group, fs FS, r *Result) (err error) {
	rv := revert.New()
	var undoErrs []error
	defer func() {
		if err == nil {
			rv.Success()
			return
		}
		rv.Fail()
		if len(undoErrs) > 0 {
			err = fmt.Errorf("%w; undoing: %w", err, errors.Join(undoErrs...))
		}
	}()
	// write sets one file and pushes the write of what it held before.
	write := func(path, file, value string) error {
		old, rerr := fs.ReadFile(path)
		if err := fs.WriteFile(path, value); err != nil {
			return err
		}
		if rerr == nil {
			prev := restoreValue(file, string(old), value)
			rv.Add(func() {
				if err := fs.WriteFile(path, prev); err != nil {
					undoErrs = append(undoErrs, err)
				}
			})
		}
		return nil
	}
	dirs := map[string]string{}
	outer := func(ctrl string) (string, error) {
		if d, ok := dirs[ctrl]; ok {
			return d, nil
		}
		d, err := g.OuterPath(ctrl)
		if err != nil {
			return "", fmt.Errorf("%w (%w)", err, errClass(ctrl))
		}
		dirs[ctrl] = d
		return d, nil
	}
	var retry []Write
	for _, w := range r.Writes {
		dir, err := outer(w.Controller)
		if err != nil {
			return err
		}
		switch {
		case w.Subtree:
			old, _ := fs.ReadFile(dir + "/" + w.File)
			if err := applySubtree(fs, dir, w); err != nil {
				return err
			}
			// The subtree goes back to OUTER's old set as a whole.
			back := w
			back.Value = strings.TrimSpace(string(old))
			rv.Add(func() {
				if err := applySubtree(fs, dir, back); err != nil {
					undoErrs = append(undoErrs, err)
				}
			})
		case w.EachGroup:
			subs, err := fs.SubDirs(dir)
			if err != nil {
				return fmt.Errorf("listing %s: %w: %w", dir, err, errClass(w.Controller))
			}
			for _, d := range append([]string{dir}, subs...) {
				if err := write(d+"/"+w.File, w.File, w.Value); err != nil {
					return writeErr(d, w, err)
				}
			}
		default:
			if err := write(dir+"/"+w.File, w.File, w.Value); err != nil {
				if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EBUSY) {
					retry = append(retry, w)
					continue
				}
				return writeErr(dir, w, err)
			}
		}
	}
	for _, w := range retry {
		dir := dirs[w.Controller]
		if err := write(dir+"/"+w.File, w.File, w.Value); err != nil {
			return writeErr(dir, w, err)
		}
	}
	return nil
}

// restoreValue turns what file read before a write into what writes it
// back. Most files read as they are written; rule files list one line per
// device and read empty when there is no rule, which is written as the
// device's "no limit"; weights read "default N".
func restoreValue(file, old, written string) string {
	old = strings.TrimSpace(old)
	dev, _, _ := strings.Cut(written, " ")
	switch {
	case file == "io.max":
		for _, l := range strings.Split(old, "\n") {
			if strings.HasPrefix(l, dev+" ") {
				return l
			}
		}
		return dev + " rbps=max wbps=max riops=max wiops=max"
	case strings.HasPrefix(file, "blkio.throttle."):
		for _, l := range strings.Split(old, "\n") {
			if strings.HasPrefix(l, dev+" ") {
				return l
			}
		}
		return dev + " 0"
	case strings.HasSuffix(file, "weight"):
		first, _, _ := strings.Cut(old, "\n")
		return strings.TrimPrefix(first, "default ")
	}
	return old
}

func writeErr(dir string, w Write, err error) error {
	return fmt.Errorf("setting %s (%s) to %s: %w: %w", strings.Join(w.Keys, ", "), dir+"/"+w.File,
		strings.TrimSpace(w.Value), err, errClass(w.Controller))
}

// applySubtree moves a v1 cpuset file of OUTER and every group below it
// to w.Value (CpusetSequence): INNER and the guest's own groups must stay
// inside OUTER's set.
func applySubtree(fs FS, outer string, w Write) error {
	subs, err := fs.SubDirs(outer)
	if err != nil {
		return fmt.Errorf("listing %s: %w: %w", outer, err, errClass(w.Controller))
	}
	dirs := append([]string{outer}, subs...)
	cur := map[string]string{}
	for _, d := range dirs {
		b, err := fs.ReadFile(d + "/" + w.File)
		if err != nil {
			return fmt.Errorf("reading %s/%s: %w: %w", d, w.File, err, errClass(w.Controller))
		}
		cur[d] = strings.TrimSpace(string(b))
	}
	steps, err := CpusetSequence(dirs, cur, w.Value)
	if err != nil {
		return fmt.Errorf("%w (%w)", err, errClass(w.Controller))
	}
	for _, s := range steps {
		if err := fs.WriteFile(s.Dir+"/"+w.File, s.Value); err != nil {
			return writeErr(s.Dir, w, err)
		}
	}
	return nil
}
