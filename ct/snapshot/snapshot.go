// Package snapshot is vzctl's snapshot, snapshot-list, snapshot-switch and
// snapshot-delete for every layout: a read-only copy of the private area
// and of the config, kept in storage.SnapshotDir beside the private areas.
//
// The copy is as cheap as the layout allows (storage.FreezeCopy): a btrfs
// snapshot, a reflink of an image (a full copy where the file system has
// no reflinks), a copy of a dir tree; the output says which. A running
// container is frozen through its cgroup for the copy, so the snapshot is
// crash-consistent; --skip-suspend skips the freeze.
//
// Each snapshot is UUID/ (the copy) and UUID.json (the Record). OpenVZ kept
// a memory dump in the snapshot, so that switching to it resumes the
// container where it was; Record.Dump is where a CRIU checkpoint taken
// with the copy will be named. Until then a switch restarts a container
// that ran, from the snapshot's disk, and says so.
package snapshot

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"govz/ct"
	"govz/ct/storage"
	"govz/ct/vzerror"
)

// Exit code sentinels of vzctl's snapshot commands (VZCTL_E_*_SNAPSHOT).
var (
	ErrCreate = &codeErr{"cannot create snapshot", 156}
	ErrDelete = &codeErr{"cannot delete snapshot", 158}
	ErrSwitch = &codeErr{"cannot switch to snapshot", 159}
	ErrList   = &codeErr{"cannot list snapshots", 167}
)

// Record is one snapshot.
type Record struct {
	UUID    string    `json:"uuid"`
	Parent  string    `json:"parent_uuid"`
	Name    string    `json:"name"`
	Desc    string    `json:"desc"`
	Date    time.Time `json:"date"`
	Layout  string    `json:"layout"`
	Copy    string    `json:"copy"`    // storage.Copy*
	Running bool      `json:"running"` // when taken
	// Frozen is how long the container was frozen for the copy (0: not
	// running, or --skip-suspend).
	FrozenMS float64 `json:"frozen_ms"`
	// Config is the container's config file at the time; "" with
	// --skip-config.
	Config string `json:"config,omitempty"`
	// Dump names a memory checkpoint taken with the copy (UUID.dump/), so
	// that a switch can resume the container; "" until checkpointing is
	// available.
	Dump string `json:"dump,omitempty"`
}

// Options are snapshot's options.
type Options struct {
	UUID, Name, Desc string
	SkipSuspend      bool
	SkipConfig       bool
}

// Compiled on first use: package init runs in every vzctl process.
var uuidRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
})

// ParseUUID checks a --id value; vzctl accepts it with or without braces.
func ParseUUID(s string) (string, error) {
	u := strings.ToLower(strings.Trim(s, "{}"))
	if !uuidRe().MatchString(u) {
		return "", fmt.Errorf("bad snapshot id %q: not a UUID: %w", s, vzerror.ErrInvalidValue)
	}
	return u, nil
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// store is one container's snapshot directory.
type store struct{ dir string }

func storeOf(h *ct.Held) store { return store{dir: storage.SnapshotDir(h.CT)} }

func (s store) data(uuid string) string   { return filepath.Join(s.dir, uuid) }
func (s store) record(uuid string) string { return filepath.Join(s.dir, uuid+".json") }
func (s store) currentFile() string       { return filepath.Join(s.dir, "current") }

func (s store) current() string {
	b, _ := os.ReadFile(s.currentFile())
	return strings.TrimSpace(string(b))
}

func (s store) setCurrent(uuid string) error { return writeAtomic(s.currentFile(), []byte(uuid+"\n")) }

func (s store) list() ([]Record, error) {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, e := range ents {
		u, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		r, err := s.get(u)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Date.Before(out[j].Date) })
	return out, nil
}

func (s store) get(uuid string) (Record, error) {
	var r Record
	b, err := os.ReadFile(s.record(uuid))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("snapshot record %s: %w", s.record(uuid), err)
	}
	return r, nil
}

func (s store) put(r Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(s.record(r.UUID), append(b, '\n'))
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	f, err := os.Open(tmp)
	if err == nil {
		f.Sync()
		f.Close()
	}
	return os.Rename(tmp, path)
}

// Create takes a snapshot of container id.
func Create(n *ct.Node, id int, o Options) (*Record, error) {
	uuid := newUUID()
	if o.UUID != "" {
		var err error
		if uuid, err = ParseUUID(o.UUID); err != nil {
			return nil, err
		}
	}
	h, err := n.Hold(id, "snapshot")
	if err != nil {
		return nil, err
	}
	defer h.Release()
	s := storeOf(h)
	if _, err := os.Lstat(s.record(uuid)); err == nil {
		return nil, fmt.Errorf("container %d already has snapshot %s: %w", id, uuid, vzerror.ErrInvalidValue)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w: %w", s.dir, err, ErrCreate)
	}
	r := Record{UUID: uuid, Parent: s.current(), Name: o.Name, Desc: o.Desc, Date: time.Now().UTC(),
		Layout: h.Layout.Name(), Running: h.Running}
	if !o.SkipConfig {
		b, err := os.ReadFile(n.Paths.CTConfig(id))
		if err != nil {
			return nil, fmt.Errorf("reading the config of container %d: %w: %w", id, err, ErrCreate)
		}
		r.Config = string(b)
	}
	thaw := func() error { return nil }
	if !o.SkipSuspend {
		if thaw, err = n.Freeze(h, 10*time.Second); err != nil {
			return nil, fmt.Errorf("%w: %w", err, ErrCreate)
		}
	}
	frozenAt := time.Now()
	r.Copy, err = storage.FreezeCopy(h.Layout, h.CT, s.data(uuid))
	frozen := time.Since(frozenAt)
	if terr := thaw(); terr != nil {
		err = errors.Join(err, terr)
	}
	if err != nil {
		storage.Remove(s.data(uuid))
		return nil, fmt.Errorf("container %d: %w: %w", id, err, ErrCreate)
	}
	if h.Running && !o.SkipSuspend {
		r.FrozenMS = float64(frozen.Microseconds()) / 1000
	}
	if err := s.put(r); err != nil {
		storage.Remove(s.data(uuid))
		return nil, fmt.Errorf("saving snapshot record: %w: %w", err, ErrCreate)
	}
	if err := s.setCurrent(uuid); err != nil {
		return nil, fmt.Errorf("saving current snapshot: %w: %w", err, ErrCreate)
	}
	return &r, nil
}

// List returns container id's snapshots, oldest first, and the one its
// current state derives from.
func List(n *ct.Node, id int) ([]Record, string, error) {
	h, err := n.Hold(id, "snapshot-list")
	if err != nil {
		return nil, "", err
	}
	defer h.Release()
	s := storeOf(h)
	rs, err := s.list()
	if err != nil {
		return nil, "", fmt.Errorf("container %d: %w: %w", id, err, ErrList)
	}
	return rs, s.current(), nil
}

// Delete removes snapshot uuid of container id; its children take its
// parent.
func Delete(n *ct.Node, id int, uuid string) error {
	h, err := n.Hold(id, "snapshot-delete")
	if err != nil {
		return err
	}
	defer h.Release()
	s := storeOf(h)
	r, err := s.get(uuid)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("container %d has no snapshot %s: %w", id, uuid, vzerror.ErrInvalidValue)
	} else if err != nil {
		return fmt.Errorf("%w: %w", err, ErrDelete)
	}
	all, err := s.list()
	if err != nil {
		return fmt.Errorf("%w: %w", err, ErrDelete)
	}
	for _, c := range all {
		if c.Parent == uuid {
			c.Parent = r.Parent
			if err := s.put(c); err != nil {
				return fmt.Errorf("re-parenting snapshot %s: %w: %w", c.UUID, err, ErrDelete)
			}
		}
	}
	if s.current() == uuid {
		if err := s.setCurrent(r.Parent); err != nil {
			return fmt.Errorf("%w: %w", err, ErrDelete)
		}
	}
	// The record goes first: a data directory without one is a leftover
	// the next delete of the container removes, never a listed snapshot
	// without its data.
	if err := os.Remove(s.record(uuid)); err != nil {
		return fmt.Errorf("%w: %w", err, ErrDelete)
	}
	if err := storage.Remove(s.data(uuid)); err != nil {
		return fmt.Errorf("%w: %w", err, ErrDelete)
	}
	return nil
}

// SwitchResult says what a switch did.
type SwitchResult struct {
	Record    Record
	Copy      string
	Restarted bool // it ran, and was started again from the snapshot's disk
}

// Switch rolls container id back to snapshot uuid: the current private
// area (and config, unless skipConfig) is replaced by the snapshot's. A
// running container is stopped first and started again afterwards.
func Switch(n *ct.Node, id int, uuid string, skipConfig bool) (*SwitchResult, error) {
	st, err := n.Status(id)
	if err != nil {
		return nil, err
	}
	if !st.Exists {
		return nil, fmt.Errorf("container %d does not exist: %w", id, vzerror.ErrNoConfig)
	}
	// Check before stopping anything.
	h, err := n.Hold(id, "snapshot-switch")
	if err != nil {
		return nil, err
	}
	s := storeOf(h)
	r, err := s.get(uuid)
	h.Release()
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("container %d has no snapshot %s: %w", id, uuid, vzerror.ErrInvalidValue)
	} else if err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrSwitch)
	}
	if r.Layout != h.Layout.Name() {
		return nil, fmt.Errorf("snapshot %s is of layout %s, container %d is now %s: %w", uuid, r.Layout, id, h.Layout.Name(), ErrSwitch)
	}
	if st.Running {
		if err := n.Stop(id, false, false); err != nil {
			return nil, err
		}
	} else if st.Mounted {
		if err := n.Umount(id); err != nil {
			return nil, err
		}
	}
	res, err := switchLocked(n, id, r, skipConfig)
	if err != nil {
		if st.Running {
			// The old area is still in place: bring it back up.
			if serr := n.Start(id, ct.StartOptions{}); serr != nil {
				err = errors.Join(err, serr)
			}
		}
		return nil, err
	}
	if st.Running {
		if err := n.Start(id, ct.StartOptions{}); err != nil {
			return nil, err
		}
		res.Restarted = true
	}
	return res, nil
}

func switchLocked(n *ct.Node, id int, r Record, skipConfig bool) (*SwitchResult, error) {
	h, err := n.Hold(id, "snapshot-switch")
	if err != nil {
		return nil, err
	}
	defer h.Release()
	if h.Running {
		return nil, fmt.Errorf("container %d was started meanwhile: %w", id, vzerror.ErrRunning)
	}
	s := storeOf(h)
	how, err := storage.Replace(h.Layout, h.CT, s.data(r.UUID))
	if err != nil {
		return nil, fmt.Errorf("container %d: %w: %w", id, err, ErrSwitch)
	}
	if !skipConfig && r.Config != "" {
		if err := writeAtomic(n.Paths.CTConfig(id), []byte(r.Config)); err != nil {
			return nil, fmt.Errorf("restoring the config of container %d: %w: %w", id, err, ErrSwitch)
		}
	}
	if err := s.setCurrent(r.UUID); err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrSwitch)
	}
	return &SwitchResult{Record: r, Copy: how}, nil
}

// codeErr is an error with vzctl's exit code for the snapshot failures
// that have their own (ploop's VZCTL_E_*_SNAPSHOT).
type codeErr struct {
	msg  string
	code int
}

func (e *codeErr) Error() string { return e.msg }

// ExitCode is the vzctl exit status.
func (e *codeErr) ExitCode() int { return e.code }
