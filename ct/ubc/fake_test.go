package ubc

import (
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"

	"govz/ct/cgroup"
)

// fakeGroup maps controllers to OUTER directories.
type fakeGroup struct {
	layout cgroup.Layout
	dirs   map[string]string
}

func (g fakeGroup) Layout() cgroup.Layout { return g.layout }
func (g fakeGroup) OuterPath(c string) (string, error) {
	if d, ok := g.dirs[c]; ok {
		return d, nil
	}
	return "", fmt.Errorf("no %s", c)
}

// v1Group is this machine's layout: cpu and cpuacct separate.
func v1Group() fakeGroup {
	m := map[string]string{}
	for _, c := range []string{"memory", "pids", "cpu", "cpuacct", "cpuset", "blkio"} {
		m[c] = "/sys/fs/cgroup/" + c + "/govz/101"
	}
	return fakeGroup{cgroup.V1, m}
}

func v2Group() fakeGroup {
	m := map[string]string{}
	for _, c := range []string{"memory", "pids", "cpu", "cpuset", "io", cgroup.UnifiedName} {
		m[c] = "/sys/fs/cgroup/govz/101"
	}
	return fakeGroup{cgroup.V2, m}
}

// fakeFS is an in-memory cgroupfs that records writes.
type fakeFS struct {
	files  map[string]string
	writes []string // "path=value"
	// refuse, when set, may reject a write the way the kernel would.
	refuse func(f *fakeFS, path, data string) error
}

func newFS(files map[string]string) *fakeFS {
	if files == nil {
		files = map[string]string{}
	}
	return &fakeFS{files: files}
}

func (f *fakeFS) ReadFile(p string) ([]byte, error) {
	if v, ok := f.files[p]; ok {
		return []byte(v), nil
	}
	return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
}

func (f *fakeFS) WriteFile(p, data string) error {
	if f.refuse != nil {
		if err := f.refuse(f, p, data); err != nil {
			return err
		}
	}
	f.writes = append(f.writes, p+"="+data)
	f.files[p] = data
	return nil
}

// SubDirs derives directories from the files under dir.
func (f *fakeFS) SubDirs(dir string) ([]string, error) {
	seen := map[string]bool{}
	for p := range f.files {
		if !strings.HasPrefix(p, dir+"/") {
			continue
		}
		rest := strings.TrimPrefix(p, dir+"/")
		parts := strings.Split(rest, "/")
		for i := 1; i < len(parts); i++ {
			seen[dir+"/"+strings.Join(parts[:i], "/")] = true
		}
	}
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	// Parents first: a parent is a prefix of its children.
	sort.Slice(out, func(i, j int) bool {
		if strings.Count(out[i], "/") != strings.Count(out[j], "/") {
			return strings.Count(out[i], "/") < strings.Count(out[j], "/")
		}
		return out[i] < out[j]
	})
	return slices.Clip(out), nil
}
