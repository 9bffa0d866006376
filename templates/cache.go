package templates

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"govz/ct/vzerror"
)

// Cache is the template cache directory ($VZ_ROOT/template/cache).
type Cache struct {
	Dir string
}

// Template is one tarball in the cache.
type Template struct {
	Name string `json:"name"`
	Path string `json:"path"`
	Size int64  `json:"size"`
	// ModTime is the tarball's modification time: when it was built or
	// copied into the cache.
	ModTime time.Time `json:"date"`
	// Compression comes from the file name suffix: "zst", "gz", "xz",
	// "bz2", or "" for a plain .tar.
	Compression string `json:"compression"`
}

// suffixes is ordered by preference: when one name exists with several
// compressions, Find returns the first in this order. Faster decompression
// comes first (zstd, gzip, xz, bzip2); a plain .tar is last because it is
// usually a leftover intermediate next to a compressed copy.
var suffixes = [...]struct {
	ext, compression string
}{
	{".tar.zst", "zst"},
	{".tar.gz", "gz"},
	{".tar.xz", "xz"},
	{".tar.bz2", "bz2"},
	{".tar", ""},
}

// CheckName returns an error wrapping vzerror.ErrInvalidValue unless name
// can be a template name: not empty, no "/", no leading ".". It is checked
// before any path is built from name, so a name can never reach outside the
// cache directory nor a build's work files.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty template name: %w", vzerror.ErrInvalidValue)
	case strings.ContainsRune(name, '/'):
		return fmt.Errorf("template name %q contains '/': %w", name, vzerror.ErrInvalidValue)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("template name %q starts with '.': %w", name, vzerror.ErrInvalidValue)
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("template name %q contains NUL: %w", name, vzerror.ErrInvalidValue)
	}
	return nil
}

// splitName returns the template name and compression of a cache file name,
// or ok=false when file is not a template (wrong suffix, work file).
func splitName(file string) (name, compression string, rank int, ok bool) {
	if strings.HasPrefix(file, ".") {
		return "", "", 0, false
	}
	for i, s := range suffixes {
		n, found := strings.CutSuffix(file, s.ext)
		if found && n != "" {
			return n, s.compression, i, true
		}
	}
	return "", "", 0, false
}

// List returns every template in the cache, sorted by name and, for one name
// in several compressions, in Find's order of preference. A cache directory
// that does not exist yet holds no templates.
func (c Cache) List() ([]Template, error) {
	entries, err := os.ReadDir(c.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing template cache %s: %w", c.Dir, err)
	}
	type ranked struct {
		Template
		rank int
	}
	var found []ranked
	for _, e := range entries {
		name, comp, rank, ok := splitName(e.Name())
		if !ok {
			continue
		}
		p := filepath.Join(c.Dir, e.Name())
		// Stat, not Lstat: a symlink to a tarball kept elsewhere is a
		// template too.
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		found = append(found, ranked{Template{
			Name: name, Path: p, Size: st.Size(), ModTime: st.ModTime(), Compression: comp,
		}, rank})
	}
	sort.Slice(found, func(i, j int) bool {
		if found[i].Name != found[j].Name {
			return found[i].Name < found[j].Name
		}
		return found[i].rank < found[j].rank
	})
	list := make([]Template, len(found))
	for i := range found {
		list[i] = found[i].Template
	}
	return list, nil
}

// Find returns the path of the template called name. If the cache holds it in
// several compressions, the first in the order zst, gz, xz, bz2, plain tar
// wins. An unknown name is an error wrapping vzerror.ErrTemplateMissing; an
// impossible one (see CheckName) wraps vzerror.ErrInvalidValue.
func (c Cache) Find(name string) (string, error) {
	err := CheckName(name)
	if err != nil {
		return "", err
	}
	for _, s := range suffixes {
		p := filepath.Join(c.Dir, name+s.ext)
		st, err := os.Stat(p)
		if err == nil && st.Mode().IsRegular() {
			return p, nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("looking up template %s: %w", name, err)
		}
	}
	return "", fmt.Errorf("template %s not in cache %s: %w", name, c.Dir, vzerror.ErrTemplateMissing)
}
