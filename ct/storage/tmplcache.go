package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"govz/ct/vzerror"
)

// tmplCache holds templates already unpacked for the btrfs and image
// layouts (a read-only subvolume, an ext4 image) beside the private areas
// they serve, in PARENT/.tmplcache, so a snapshot or reflink never crosses
// file systems.
//
// An entry is named NAME@STAMP[SUFFIX], where STAMP identifies the tarball
// it was made from: a changed tarball has a new stamp, so its entry is
// built afresh, and the old entries of that name go once the new one
// exists. Per template name, a lock file serialises builders (exclusive
// flock) against users (shared): concurrent creates wait for one build and
// never see an entry being removed. A builder works on NAME@STAMP….tmp-PID
// and renames it into place; whatever a killed builder left is removed by
// the next one, under the same lock. flock is released by the kernel when
// its holder dies, so no lock is ever stale.
type tmplCache struct {
	dir string
	log Logger
}

func cacheFor(c CT, log Logger) tmplCache {
	return tmplCache{dir: filepath.Join(filepath.Dir(c.Private), ".tmplcache"), log: log}
}

// stampLen is the number of hex digits of a stamp.
const stampLen = 16

// tarballStamp identifies the tarball at path without reading all of it:
// size, modification time, inode, and the first and last 64 KiB (which
// catch a rewrite that kept size and time).
func tarballStamp(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("opening template %s: %w: %w", path, err, vzerror.ErrTemplateMissing)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return "", fmt.Errorf("stat %s: %w", path, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d %d.%09d %d\n", st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ino)
	const chunk = 64 << 10
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, chunk)); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	if st.Size > chunk {
		if _, err := io.Copy(h, io.NewSectionReader(f, max(chunk, st.Size-chunk), chunk)); err != nil {
			return "", fmt.Errorf("reading %s: %w", path, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:stampLen], nil
}

// entryRe matches every cache entry of template name, work files included.
func entryRe(name string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `@([0-9a-f]{` + strconv.Itoa(stampLen) + `})(-i[0-9]+-j[0-9]+\.img|\.ovl)?(\.tmp-[0-9]+(\.d)?)?$`)
}

// use runs fn on the cache entry of template t with the given suffix,
// building it first with build when it does not exist. build gets a work
// path to create (it may also use work+".d" as scratch); fn runs with the
// entry locked against removal.
func (c tmplCache) use(t Template, suffix string, build func(work string) error, fn func(entry string) error) error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w: %w", c.dir, err, vzerror.ErrCreatePrivate)
	}
	stamp, err := tarballStamp(t.Path)
	if err != nil {
		return err
	}
	entry := filepath.Join(c.dir, t.Name+"@"+stamp+suffix)
	lf, err := os.OpenFile(filepath.Join(c.dir, t.Name+".lock"), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("opening template cache lock: %w: %w", err, vzerror.ErrSystem)
	}
	defer lf.Close()
	if err := flock(lf, unix.LOCK_SH); err != nil {
		return err
	}
	if _, err := os.Lstat(entry); err == nil {
		return fn(entry)
	}
	// Converting to exclusive drops the shared lock first, so two users
	// turning builders do not deadlock; the loser finds the entry built.
	if err := flock(lf, unix.LOCK_EX); err != nil {
		return err
	}
	if _, err := os.Lstat(entry); err != nil {
		if err := c.build(t, stamp, entry, build); err != nil {
			return err
		}
	}
	return fn(entry)
}

// build makes entry under the exclusive lock, after removing what killed
// builders left, and then drops entries of older tarballs of this name.
func (c tmplCache) build(t Template, stamp, entry string, build func(string) error) error {
	re := entryRe(t.Name)
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", c.dir, err)
	}
	for _, e := range ents {
		if m := re.FindStringSubmatch(e.Name()); m != nil && m[3] != "" {
			c.log.Warnf("Removing %s left by an interrupted template cache build", e.Name())
			if err := Remove(filepath.Join(c.dir, e.Name())); err != nil {
				return err
			}
		}
	}
	work := fmt.Sprintf("%s.tmp-%d", entry, os.Getpid())
	c.log.Infof("Caching template %s for fast creates (first use)", t.Name)
	err = build(work)
	// The scratch directory goes whatever happened.
	Remove(work + ".d")
	if err != nil {
		Remove(work)
		return err
	}
	if err := os.Rename(work, entry); err != nil {
		Remove(work)
		return fmt.Errorf("renaming %s: %w: %w", work, err, vzerror.ErrCreatePrivate)
	}
	syncDir(c.dir)
	for _, e := range ents {
		if m := re.FindStringSubmatch(e.Name()); m != nil && m[3] == "" && m[1] != stamp {
			if m[2] == ovlSuffix {
				// A lower layer of running or stopped containers: marked
				// stale, it goes with the last of them (dropUnused).
				old := filepath.Join(c.dir, e.Name())
				os.WriteFile(filepath.Join(old, "stale"), nil, 0o600)
				if n := liveRefs(old); n > 0 {
					c.log.Infof("Keeping cached %s, the lower layer of %d containers, until they are destroyed", e.Name(), n)
					continue
				}
			}
			c.log.Infof("Removing cached %s: the template tarball changed", e.Name())
			if err := Remove(filepath.Join(c.dir, e.Name())); err != nil {
				c.log.Warnf("%v", err)
			}
		}
	}
	return nil
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("locking %s: %w: %w", f.Name(), err, vzerror.ErrSystem)
		}
		return nil
	}
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// CachedTemplates lists the cache entries kept for private areas under
// parent, for an admin or a test to see what a template costs.
func CachedTemplates(parent string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(parent, ".tmplcache"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".lock") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// dropUnused removes overlay lower layer entry once the template has a
// newer entry (it is marked stale) and no container's private area names
// it, under the template's exclusive lock, so no create is adding a
// reference meanwhile.
func (c tmplCache) dropUnused(entry string) error {
	name, _, ok := strings.Cut(filepath.Base(entry), "@")
	if !ok {
		return nil
	}
	lf, err := os.OpenFile(filepath.Join(c.dir, name+".lock"), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("opening template cache lock: %w: %w", err, vzerror.ErrSystem)
	}
	defer lf.Close()
	if err := flock(lf, unix.LOCK_EX); err != nil {
		return err
	}
	if _, err := os.Lstat(filepath.Join(entry, "stale")); err != nil {
		return nil
	}
	if liveRefs(entry) > 0 {
		return nil
	}
	c.log.Infof("Removing cached %s: superseded, and no container uses it any more", filepath.Base(entry))
	return Remove(entry)
}
