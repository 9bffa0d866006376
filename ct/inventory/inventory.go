// Package inventory is a node's containers as their files and the kernel
// show them, read without any container lock and without linking the
// runtime: the installation's paths and global config, container IDs and
// names, each container's config layers, and its status (exists, mounted,
// running). vzlist and vzctl status need nothing more; the lifecycle (package
// ct) builds on it.
package inventory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"govz/conf"
	"govz/ct/vzerror"
	"govz/ct/vzlog"
)

// MaxID is the largest CTID vzctl accepts.
const MaxID = 2147483644

// Node is one installation: its paths, its global config and the logger
// of the running command.
type Node struct {
	Paths  conf.Paths
	Global *conf.Config
	Log    *vzlog.Logger
}

// Open loads the installation at $VZ_ROOT.
func Open(log *vzlog.Logger) (*Node, error) {
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

// Path expands a configured path for container id (-1: none).
func (n *Node) Path(p *string, id int) string {
	return filepath.Clean(n.Paths.Expand(conf.Str(p), id))
}

// LockDir is where container locks live.
func (n *Node) LockDir() string { return n.Path(n.Global.LockDir, -1) }

// RunDir is container id's runtime state directory.
func (n *Node) RunDir(id int) string {
	return filepath.Join(n.Path(n.Global.RunDir, -1), strconv.Itoa(id))
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
	if id, ok := n.LookupName(arg); ok {
		return id, nil
	}
	return 0, fmt.Errorf("bad container id or unknown name %q: %w", arg, vzerror.ErrInvalidValue)
}

// LookupName follows names/NAME -> CTID.toml.
func (n *Node) LookupName(name string) (int, bool) {
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

// IDs lists the containers that have a config file, in numeric order.
func (n *Node) IDs() ([]int, error) {
	ents, err := os.ReadDir(n.Paths.ConfDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", n.Paths.ConfDir(), err)
	}
	var ids []int
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".toml")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if id, numeric, err := ParseID(name); numeric && err == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Verbosity is the console verbosity the global config asks for.
func (n *Node) Verbosity() int { return conf.Int(n.Global.Verbose, 0) }

// LogFile is the log file, "" when logging is off.
func (n *Node) LogFile() string {
	if !conf.Bool(n.Global.Logging, true) {
		return ""
	}
	p := n.Path(n.Global.LogFile, -1)
	os.MkdirAll(filepath.Dir(p), 0o755)
	return p
}

// LogLevel is the log file's level.
func (n *Node) LogLevel() int { return conf.Int(n.Global.LogLevel, 0) }
