package checkpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"govz/conf/atomicfile"
)

// WithVersionCache returns e whose Version is remembered in file, keyed by
// the identity of e's executable (device, inode, size, modification and
// change times): asking CRIU costs a worker of its own, an exec of a 6 MB
// binary that probes the kernel, before every dump; the answer only
// changes when the executable does, and replacing or rewriting it changes
// the key. Only an answer is cached, never a failure to get one. file
// lives in the node's run directory (root's, gone at a reboot).
func WithVersionCache(e Engine, file string) Engine {
	return &cachedVersion{Engine: e, file: file}
}

type cachedVersion struct {
	Engine
	file string
}

func (c *cachedVersion) Version() (int, error) {
	key, kerr := binaryKey(c.Path())
	if kerr == nil {
		if v, ok := readVersionCache(c.file, key); ok {
			return v, nil
		}
	}
	v, err := c.Engine.Version()
	if err != nil || kerr != nil {
		return v, err
	}
	// A lost write costs the next command one more worker, nothing else.
	atomicfile.Replace(c.file, []byte(key+" "+strconv.Itoa(v)+"\n"), 0o600)
	return v, nil
}

// binaryKey names the executable at path as it is now; the path too, as
// two executables could share a key on different nodes' file systems.
func binaryKey(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file", path)
	}
	if strings.ContainsAny(path, " \n") {
		return "", fmt.Errorf("%q: a path the cache cannot hold", path)
	}
	return fmt.Sprintf("%s %d %d %d %d.%d %d.%d", path, st.Dev, st.Ino, st.Size,
		st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec), nil
}

func readVersionCache(file, key string) (int, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	line := strings.TrimSuffix(string(b), "\n")
	i := strings.LastIndexByte(line, ' ')
	if i < 0 || line[:i] != key {
		return 0, false
	}
	v, err := strconv.Atoi(line[i+1:])
	return v, err == nil
}
