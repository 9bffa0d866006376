package ct

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"govz/ct/checkpoint"
	"govz/internal/inroot"
)

// unitDirs are the directories systemd loads system units from, highest
// priority first (systemd.unit(5), "System Unit Search Path"; /run is empty
// in a tree that is not running, /lib is /usr/lib on merged-/usr guests).
var unitDirs = []string{"/etc/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}

// maxUnitFile caps what is read of one unit file or drop-in.
const maxUnitFile = 1 << 20

// checkpointDropIns installs checkpoint.SystemdDropIns for the guest's
// service units: the few sandboxing settings that would make the
// container uncheckpointable, turned off per unit, in /etc where the
// admin sees them. A file at a drop-in's path that govz did not write
// (or a link, such as one to /dev/null) is the admin's and stays.
func checkpointDropIns(r *inroot.Root) error {
	units, err := readServiceUnits(r)
	if err != nil {
		return err
	}
	dropins := checkpoint.SystemdDropIns(units)
	if len(dropins) == 0 {
		return nil
	}
	st, err := r.Stat(unitDirs[0])
	if errors.Is(err, os.ErrNotExist) {
		return nil // no systemd configuration to extend: chkpnt names the unit
	}
	if err != nil {
		return err
	}
	for _, d := range dropins {
		if lst, err := r.Lstat(d.Path); err == nil {
			if lst.Mode&unix.S_IFMT != unix.S_IFREG {
				continue
			}
			if b, err := r.ReadFile(d.Path, maxUnitFile); err != nil || !checkpoint.IsOwnDropIn(b) {
				continue
			}
		}
		// Owned like /etc/systemd/system: the guest's root as the private
		// area stores it.
		if err := r.Mkdir(path.Dir(d.Path), 0o755, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		if err := r.WriteFileAs(d.Path, d.Content, 0o644, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	return nil
}

// readServiceUnits returns the guest's service units with their unit file
// and drop-ins in systemd's order; masked units (linked to /dev/null) and
// aliases (links to another unit's file) are left out.
func readServiceUnits(r *inroot.Root) ([]checkpoint.Unit, error) {
	main := map[string]string{} // unit -> path of the file systemd loads
	masked := map[string]bool{}
	var names []string
	for _, dir := range unitDirs {
		ents, err := listDir(r, dir)
		if err != nil {
			return nil, err
		}
		for _, name := range ents {
			if !strings.HasSuffix(name, ".service") {
				continue
			}
			if _, seen := main[name]; seen || masked[name] {
				continue
			}
			p := dir + "/" + name
			if target, ok := readLink(r, p); ok {
				if target == "/dev/null" {
					masked[name] = true
					continue
				}
				if path.Base(target) != name {
					continue // an alias
				}
			}
			main[name] = p
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var units []checkpoint.Unit
	for _, name := range names {
		src, err := r.ReadFile(main[name], maxUnitFile)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, inroot.ErrWrongType) {
				continue // a dangling link, a directory
			}
			return nil, err
		}
		u := checkpoint.Unit{Name: name, Sources: [][]byte{src}}
		// Drop-ins: by file name across the directories, the first
		// directory's file winning (systemd.unit(5), "drop-in").
		dropins := map[string]string{}
		var dnames []string
		for _, dir := range unitDirs {
			for _, d := range []string{dir + "/service.d", dir + "/" + name + ".d"} {
				ents, err := listDir(r, d)
				if err != nil {
					return nil, err
				}
				for _, f := range ents {
					if _, seen := dropins[f]; seen || !strings.HasSuffix(f, ".conf") {
						continue
					}
					dropins[f] = d + "/" + f
					dnames = append(dnames, f)
				}
			}
		}
		slices.Sort(dnames)
		for _, f := range dnames {
			b, err := r.ReadFile(dropins[f], maxUnitFile)
			if err != nil {
				continue // a link to /dev/null masks it
			}
			u.Sources = append(u.Sources, b)
		}
		units = append(units, u)
	}
	return units, nil
}

// listDir returns the names in directory p, none when it does not exist.
func listDir(r *inroot.Root, p string) ([]string, error) {
	f, err := r.OpenFile(p, unix.O_RDONLY|unix.O_DIRECTORY, inroot.Dir)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, inroot.ErrWrongType) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", r.Show(p), err)
	}
	return names, nil
}

// readLink returns the target of the symbolic link p, if p is one.
func readLink(r *inroot.Root, p string) (string, bool) {
	st, err := r.Lstat(p)
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return "", false
	}
	dir, err := r.OpenPath(path.Dir(p), inroot.Dir)
	if err != nil {
		return "", false
	}
	defer dir.Close()
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(int(dir.Fd()), path.Base(p), buf)
	if err != nil {
		return "", false
	}
	return string(buf[:n]), true
}
