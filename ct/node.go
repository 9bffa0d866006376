// Package ct is the container on disk and its lifecycle: identity,
// configuration layers, locking, create, destroy, mount, status and set.
// The runtime (namespaces, init, supervision) lives in sub-packages; ct
// maps a container's configuration onto them.
package ct

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"govz/conf"
	"govz/ct/lock"
	"govz/ct/vzerror"
	"govz/ct/vzlog"
)

// MaxID is the largest CTID vzctl accepts.
const MaxID = 2147483644

// Node is one installation: its paths, its global config and the logger of
// the running command.
type Node struct {
	Paths  conf.Paths
	Global *conf.Config
	Log    *vzlog.Logger
	// SubIDFiles, when set, replaces the host's /etc/subuid and
	// /etc/subgid (keyed by those paths) for the ID allocator's tests.
	SubIDFiles map[string]string
	// SkipLock is vzctl's --skiplock: a command run by the holder of a
	// container's lock (an action script) proceeds under that lock.
	SkipLock bool
}

// OpenNode loads the installation at $VZ_ROOT.
func OpenNode(log *vzlog.Logger) (*Node, error) {
	p := conf.PathsFromEnv()
	g, err := conf.LoadGlobal(p)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = &vzlog.Logger{}
	}
	for _, w := range g.UnknownKeys() {
		log.Warnf("%s", w)
	}
	return &Node{Paths: p, Global: g, Log: log}, nil
}

// path expands a configured path for container id.
func (n *Node) path(p *string, id int) string {
	return filepath.Clean(n.Paths.Expand(conf.Str(p), id))
}

// LockDir is where container locks live.
func (n *Node) LockDir() string { return n.path(n.Global.LockDir, -1) }

// RunDir is container id's runtime state directory.
func (n *Node) RunDir(id int) string {
	return filepath.Join(n.path(n.Global.RunDir, -1), strconv.Itoa(id))
}

// TemplateCacheDir is where OS template tarballs live.
func (n *Node) TemplateCacheDir() string {
	return filepath.Join(n.path(n.Global.Template, -1), "cache")
}

// ParseID parses a numeric CTID strictly: decimal digits only, 1..MaxID.
// It reports ok=false when s is not numeric at all (it may be a name).
func ParseID(s string) (id int, ok bool, err error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false, nil
	}
	v, perr := strconv.ParseUint(s, 10, 64)
	if perr != nil || v < 1 || v > MaxID {
		return 0, true, fmt.Errorf("bad container id %s (valid: 1..%d): %w", s, MaxID, vzerror.ErrInvalidValue)
	}
	return int(v), true, nil
}

// Resolve turns a CTID or a container name into a CTID. Anything that is
// neither is rejected before a path is built from it.
func (n *Node) Resolve(arg string) (int, error) {
	id, numeric, err := ParseID(arg)
	if numeric {
		return id, err
	}
	if conf.ValidateName(arg) != nil {
		return 0, fmt.Errorf("bad container id %q: %w", arg, vzerror.ErrInvalidValue)
	}
	if id, ok := n.lookupName(arg); ok {
		return id, nil
	}
	return 0, fmt.Errorf("bad container id or unknown name %q: %w", arg, vzerror.ErrInvalidValue)
}

// lookupName follows names/NAME -> CTID.toml.
func (n *Node) lookupName(name string) (int, bool) {
	target, err := os.Readlink(filepath.Join(n.Paths.NamesDir(), name))
	if err != nil {
		return 0, false
	}
	id, numeric, err := ParseID(strings.TrimSuffix(filepath.Base(target), ".toml"))
	if !numeric || err != nil {
		return 0, false
	}
	if _, err := os.Stat(n.Paths.CTConfig(id)); err != nil {
		return 0, false
	}
	return id, true
}

// LoadCT returns container id's own config file layer; an error wrapping
// vzerror.ErrNoConfig when it has none.
func (n *Node) LoadCT(id int) (*conf.Config, error) {
	c, err := conf.LoadFile(n.Paths.CTConfig(id), conf.CT)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("container %d: config %s does not exist: %w", id, n.Paths.CTConfig(id), vzerror.ErrNoConfig)
	}
	for _, w := range c.UnknownKeys() {
		n.Log.Warnf("%s", w)
	}
	return c, err
}

// Effective merges the global config with a container's layer.
func (n *Node) Effective(ctLayer *conf.Config) *conf.Config {
	return conf.Merge(n.Global, ctLayer)
}

// lock takes container id's lock for op and finishes whatever a holder
// that died left half done.
func (n *Node) lock(id int, op string) (*lock.Lock, error) {
	l, err := lock.Acquire(n.LockDir(), id, op)
	if err != nil {
		return nil, err
	}
	if l.Stale != "" {
		n.Log.Warnf("container %d: previous %q did not finish; cleaning up", id, l.Stale)
		if err := n.recover(id, l.Stale); err != nil {
			l.Release()
			return nil, fmt.Errorf("recovering after interrupted %s: %w", l.Stale, err)
		}
	}
	return l, nil
}

// lockNode takes the node-wide allocation lock for op: held from reading
// every container's config to writing the one that takes a node-unique
// value (an ID range today), always after the container's own lock.
func (n *Node) lockNode(op string) (*lock.NodeLock, error) {
	return lock.AcquireNode(n.LockDir(), op, lock.NodeTimeout)
}

// Verbosity is the console verbosity the global config asks for.
func Verbosity(n *Node) int { return conf.Int(n.Global.Verbose, 0) }

// LogFile is the log file, "" when logging is off.
func LogFile(n *Node) string {
	if !conf.Bool(n.Global.Logging, true) {
		return ""
	}
	p := n.path(n.Global.LogFile, -1)
	os.MkdirAll(filepath.Dir(p), 0o755)
	return p
}

// LogLevel is the log file's level.
func LogLevel(n *Node) int { return conf.Int(n.Global.LogLevel, 0) }
