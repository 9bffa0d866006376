// Package recovery is the container lock as commands take it: the record
// a command that changes the disk writes into its lock (ct/lock) before
// it does, and the recovery of a record a dead holder left, run by the
// next holder before anything else. It links no runtime, so a command
// that only needs to lock a container (vzifup-post) stays small.
package recovery

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"govz/ct/inventory"
	"govz/ct/lock"
	"govz/ct/storage"
	"govz/ct/vzerror"
)

// Lock takes container id's lock for op and finishes whatever a holder
// that died left half done.
func Lock(inv *inventory.Node, id int, op string) (*lock.Lock, error) {
	l, err := lock.Acquire(inv.LockDir(), id, op)
	if err != nil {
		return nil, err
	}
	if l.Stale != "" {
		inv.Log.Warnf("container %d: previous %q did not finish; cleaning up", id, l.Stale)
		if err := Recover(inv, id, l.Stale); err != nil {
			l.Release()
			return nil, fmt.Errorf("recovering after interrupted %s: %w", l.Stale, err)
		}
	}
	return l, nil
}

// LockUntil is Lock retrying while another command holds the lock, until
// deadline (at least once).
func LockUntil(inv *inventory.Node, id int, op string, deadline time.Time) (*lock.Lock, error) {
	for {
		l, err := Lock(inv, id, op)
		if !errors.Is(err, vzerror.ErrLocked) || !time.Now().Before(deadline) {
			return l, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Record is what a command writes into its lock before it changes the
// disk: the operation and the paths it works on, quoted.
func Record(op, private, root string) string {
	return op + " " + strconv.Quote(private) + " " + strconv.Quote(root)
}

// ImportRecord is the record of an import: Record's form and the source
// of a moved private area.
func ImportRecord(private, root, source string) string {
	return Record("import", private, root) + " " + strconv.Quote(source)
}

// ParseRecord reads a Record; private and root are "" when the record
// names no absolute paths (the holder died before it touched the disk).
func ParseRecord(rec string) (op, private, root string) {
	op, rest, _ := strings.Cut(rec, " ")
	p, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return op, "", ""
	}
	rest = strings.TrimPrefix(rest[len(p):], " ")
	r, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return op, "", ""
	}
	private, _ = strconv.Unquote(p)
	root, _ = strconv.Unquote(r)
	if !filepath.IsAbs(private) || !filepath.IsAbs(root) {
		return op, "", ""
	}
	return op, private, root
}

// Recover finishes what the dead holder of record left: a create,
// destroy or import that died before the config was written (or after
// it was removed) leaves a private area no config owns, which goes.
func Recover(inv *inventory.Node, id int, record string) error {
	op, private, root := ParseRecord(record)
	if private == "" {
		// The holder died before it touched the disk.
		return nil
	}
	if _, err := inv.LoadCT(id); err == nil {
		// The config exists: a create committed, or a destroy had not
		// begun removing anything. Only a stale temp area may remain.
		return storage.Remove(private + ".tmp")
	} else if !errors.Is(err, vzerror.ErrNoConfig) {
		return err
	}
	if op == "import" {
		return recoverImport(inv, id, record, private, root)
	}
	if busy, _ := inventory.MountedUnder(private, root); busy {
		return fmt.Errorf("container %d has mounts under %s or %s: %w", id, private, root, vzerror.ErrMounted)
	}
	for _, p := range []string{private + ".tmp", private + ".destroyed", private} {
		if err := storage.Remove(p); err != nil {
			return err
		}
	}
	os.Remove(root)
	RemoveNames(inv, id)
	return nil
}

// recoverImport undoes an import that died before its config was written
// (see Recover): the private area goes back (UndoTake), the action
// scripts, names and mount point it made go.
func recoverImport(inv *inventory.Node, id int, rec, private, root string) error {
	i := len(Record("import", private, root))
	if i >= len(rec) {
		return fmt.Errorf("container %d: the record of an interrupted import does not say where %s came from; it is left there: move it back or remove it by hand: %w", id, private, vzerror.ErrSystem)
	}
	source, err := strconv.Unquote(rec[i+1:])
	if err != nil {
		return fmt.Errorf("container %d: the record of an interrupted import is cut (%q); %s is left there: move it back or remove it by hand: %w", id, rec, private, vzerror.ErrSystem)
	}
	if busy, _ := inventory.MountedUnder(private, root); busy {
		return fmt.Errorf("container %d has mounts under %s or %s: %w", id, private, root, vzerror.ErrMounted)
	}
	UndoTake(inv, private, source)
	if source != private {
		storage.Remove(private + ".tmp")
	}
	// The container's own action scripts (ct/actionscripts.go phases).
	for _, ph := range []string{"premount", "mount", "start", "stop", "umount", "postumount"} {
		os.Remove(filepath.Join(inv.Paths.ConfDir(), strconv.Itoa(id)+"."+ph))
	}
	os.Remove(root)
	RemoveNames(inv, id)
	return nil
}

// UndoTake puts a taken private area back: renamed back to where it came
// from, left where it is when it was used in place, removed when it was
// made (a copy, a conversion) along with its temporary.
func UndoTake(inv *inventory.Node, private, source string) {
	switch {
	case source == private:
	case source != "":
		if _, err := os.Lstat(source); errors.Is(err, os.ErrNotExist) {
			if err := os.Rename(private, source); err != nil {
				inv.Log.Warnf("moving %s back to %s: %v", private, source, err)
			}
			return
		}
		inv.Log.Warnf("%s exists again: %s left as it is", source, private)
	default:
		storage.Remove(private)
		storage.Remove(private + ".tmp")
	}
}

// UnregisterName removes names/NAME if it points at container id.
func UnregisterName(inv *inventory.Node, id int, name string) {
	link := filepath.Join(inv.Paths.NamesDir(), name)
	if t, err := os.Readlink(link); err == nil && filepath.Base(t) == strconv.Itoa(id)+".toml" {
		os.Remove(link)
	}
}

// RemoveNames removes every name link pointing at container id.
func RemoveNames(inv *inventory.Node, id int) {
	ents, _ := os.ReadDir(inv.Paths.NamesDir())
	for _, e := range ents {
		UnregisterName(inv, id, e.Name())
	}
}
