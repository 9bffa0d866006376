package backup

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"govz/ct"
	"govz/ct/storage"
	"govz/ct/vzerror"
)

// Progress receives a stage name ("copy", "archive", "verify",
// "extract") and bytes done of total (-1: unknown).
type Progress func(stage string, done, total int64)

// Result is what a backup made.
type Result struct {
	CTID     int     `json:"ctid"`
	File     string  `json:"file"`
	Bytes    int64   `json:"bytes"`
	SHA256   string  `json:"sha256"`
	Copy     string  `json:"copy"`
	FrozenMS float64 `json:"frozen_ms"`
	Seconds  float64 `json:"seconds"`
}

// CopyNone is Result.Copy when a stopped container's tree was archived
// in place, under its lock.
const CopyNone = "none (stopped, archived in place)"

// FreezeTimeout bounds the wait for a container's tasks to freeze.
const FreezeTimeout = 10 * time.Second

// Backup writes container id's config and private area to file (which
// must not exist) with Write; a failed backup leaves no file.
func Backup(n *ct.Node, id int, file string, prog Progress) (*Result, error) {
	start := time.Now()
	if _, err := os.Lstat(file); err == nil {
		return nil, fmt.Errorf("backup file %s already exists: %w", file, vzerror.ErrInvalidValue)
	}
	part := file + ".part"
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating backup file: %w: %w", err, vzerror.ErrSystem)
	}
	defer os.Remove(part)
	defer f.Close()
	res, err := Write(n, id, f, prog)
	if err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, writeErr(part, err)
	}
	if err := os.Rename(part, file); err != nil {
		return nil, fmt.Errorf("renaming %s: %w: %w", part, err, vzerror.ErrSystem)
	}
	res.File = file
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// Write writes container id's backup to w: it freezes the container (when
// it runs) only for the copy of its private area (a btrfs snapshot or image
// reflink: milliseconds; a full copy for the dir layout, said in Copy),
// then archives the copy while the container runs on.
func Write(n *ct.Node, id int, w io.Writer, prog Progress) (*Result, error) {
	start := time.Now()
	h, err := n.Hold(id, "backup")
	if err != nil {
		return nil, err
	}
	held := true
	defer func() {
		if held {
			h.Release()
		}
	}()
	cfg, err := os.ReadFile(n.Paths.CTConfig(id))
	if err != nil {
		return nil, fmt.Errorf("reading the config of container %d: %w: %w", id, err, vzerror.ErrNoConfig)
	}
	if _, err := os.Stat(h.CT.Private); err != nil {
		return nil, fmt.Errorf("private area of container %d: %w: %w", id, err, vzerror.ErrNoPrivate)
	}
	work := filepath.Join(filepath.Dir(h.CT.Private), ".backup-"+strconv.Itoa(id)+"-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(work, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w: %w", work, err, vzerror.ErrSystem)
	}
	defer os.RemoveAll(work)
	copyDir, method, frozen := h.CT.Private, CopyNone, time.Duration(0)
	if h.Running || h.Layout.Name() == "image" {
		// A running container is copied while frozen, and archived from
		// the copy as it runs on; an image is copied too, as it may be
		// mounted (its file system is read from a copy's loop device).
		copyDir = filepath.Join(work, "copy")
		frozenAt := time.Now()
		thaw, err := n.Freeze(h, FreezeTimeout)
		if err != nil {
			return nil, err
		}
		method, err = storage.FreezeCopy(h.Layout, h.CT, copyDir)
		frozen = time.Since(frozenAt)
		if terr := thaw(); terr != nil {
			err = errors.Join(err, terr)
		}
		if err != nil {
			storage.Remove(copyDir)
			return nil, fmt.Errorf("container %d: %w", id, err)
		}
		defer storage.Remove(copyDir)
		if h.Running {
			n.Log.Infof("Container %d frozen %.1f ms for a %s of its private area", id, ms(frozen), method)
		}
		if method == storage.CopyFull {
			n.Log.Infof("Layout %s cannot snapshot here: the private area was copied in full", h.Layout.Name())
		}
		// The copy is ours: the container may be stopped, started or
		// set while it is archived.
		h.Release()
		held = false
	}
	// Otherwise the stopped container's own tree is archived, read-only,
	// under its lock: nothing can start it meanwhile.

	mnt := filepath.Join(work, "view")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w: %w", mnt, err, vzerror.ErrSystem)
	}
	undo, err := storage.View(h.Layout, copyDir, mnt)
	if err != nil {
		return nil, fmt.Errorf("container %d: %w: %w", id, err, vzerror.ErrMount)
	}
	defer undo()
	host, _ := os.Hostname()
	m := Manifest{Format: Format, CTID: id, Created: time.Now().UTC(), Host: host, Layout: h.Layout.Name(),
		Running: h.Running, Copy: method, Config: string(cfg), TreeBytes: treeBytes(mnt)}
	res, err := write(w, mnt, m, prog)
	if err != nil {
		return nil, err
	}
	res.CTID, res.Copy = id, method
	if h.Running {
		res.FrozenMS = ms(frozen)
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// treeBytes is the apparent size of the regular files under dir.
func treeBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// write writes the backup of tree, described by m, to w.
func write(w io.Writer, tree string, m Manifest, prog Progress) (*Result, error) {
	const part = "the backup"
	bw := bufio.NewWriterSize(w, 1<<20)
	hw := &hashingWriter{w: bw, h: sha256.New()}
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if _, err := hw.Write(skippable(manifestMagic, mb)); err != nil {
		return nil, writeErr(part, err)
	}
	enc, err := zstd.NewWriter(hw, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return nil, err
	}
	// GNU tar reads the tree: it never follows the guest's symlinks, keeps
	// numeric owners, hard links, xattrs (file capabilities, ACLs) and
	// device nodes, as the template tarballs have them.
	cmd := exec.Command("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--one-file-system",
		"-C", tree, "-cf", "-", ".")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("running tar: %w: %w", err, vzerror.ErrSystem)
	}
	var fn func(done, total int64)
	if prog != nil {
		fn = func(done, total int64) { prog("archive", done, total) }
	}
	_, cerr := io.Copy(enc, &progressReader{r: out, total: m.TreeBytes, fn: fn})
	if cerr != nil {
		// tar would block on a pipe nobody reads any more.
		cmd.Process.Kill()
	}
	werr := cmd.Wait()
	if cerr != nil {
		return nil, writeErr(part, cerr)
	}
	if werr != nil {
		return nil, fmt.Errorf("tar of the private area: %w: %s: %w", werr, strings.TrimSpace(stderr.String()), vzerror.ErrSystem)
	}
	if err := enc.Close(); err != nil {
		return nil, writeErr(part, err)
	}
	sum := hex.EncodeToString(hw.h.Sum(nil))
	if _, err := bw.Write(hw.trailer()); err != nil {
		return nil, writeErr(part, err)
	}
	if err := bw.Flush(); err != nil {
		return nil, writeErr(part, err)
	}
	return &Result{Bytes: hw.n + int64(trailerLen), SHA256: sum}, nil
}

func writeErr(file string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("writing %s: %w: %w", file, err, vzerror.ErrSystem)
	}
	if strings.Contains(err.Error(), "no space left") {
		return fmt.Errorf("writing %s: %w: %w", file, err, vzerror.ErrNoDiskSpace)
	}
	return fmt.Errorf("writing %s: %w: %w", file, err, vzerror.ErrSystem)
}
