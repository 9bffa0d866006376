// Package ct is the container lifecycle. Node holds what is node-wide
// (global config, locks, names, recovery, IDs, node boot and shutdown);
// Container is one container loaded once per command (identity, config
// layers, paths, storage), and create, start, stop, mount, set, exec and
// destroy act on it. BootSpec derives the supervisor's spec and hook plan
// from a Container without I/O. Reading a node (ct/inventory, ct/listing),
// networking (ct/ctnet), resources (ct/resource) and the runtime
// (ct/supervisor, ct/nsinit, ct/attach) live in packages of their own.
package ct

import (
	"path/filepath"

	"govz/conf"
	"govz/ct/inventory"
	"govz/ct/lock"
	"govz/ct/recovery"
	"govz/ct/vzlog"
)

// MaxID is the largest CTID vzctl accepts.
const MaxID = inventory.MaxID

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
	// Progress, when set, makes a progress bar titled desc for a long
	// storage step (an image's copy, check, resize; storage.CT); the
	// command sets it on a terminal only.
	Progress func(desc string, bytes bool) func(done, total int64)
}

// OpenNode loads the installation at $VZ_ROOT.
func OpenNode(log *vzlog.Logger) (*Node, error) {
	inv, err := inventory.Open(log)
	if err != nil {
		return nil, err
	}
	return &Node{Paths: inv.Paths, Global: inv.Global, Log: inv.Log}, nil
}

// inv is n's read-only view: paths, configs, status.
func (n *Node) inv() *inventory.Node {
	return &inventory.Node{Paths: n.Paths, Global: n.Global, Log: n.Log}
}

// path expands a configured path for container id.
func (n *Node) path(p *string, id int) string { return n.inv().Path(p, id) }

// LockDir is where container locks live.
func (n *Node) LockDir() string { return n.inv().LockDir() }

// RunDir is container id's runtime state directory.
func (n *Node) RunDir(id int) string { return n.inv().RunDir(id) }

// TemplateCacheDir is where OS template tarballs live.
func (n *Node) TemplateCacheDir() string {
	return filepath.Join(n.path(n.Global.Template, -1), "cache")
}

// ParseID parses a numeric CTID strictly (inventory.ParseID).
func ParseID(s string) (id int, ok bool, err error) { return inventory.ParseID(s) }

// Resolve turns a CTID or a container name into a CTID.
func (n *Node) Resolve(arg string) (int, error) { return n.inv().Resolve(arg) }

// LoadCT returns container id's own config file layer; an error wrapping
// vzerror.ErrNoConfig when it has none.
func (n *Node) LoadCT(id int) (*conf.Config, error) { return n.inv().LoadCT(id) }

// Effective merges the global config with a container's layer.
func (n *Node) Effective(ctLayer *conf.Config) *conf.Config { return n.inv().Effective(ctLayer) }

// IDs lists the containers that have a config file, in numeric order.
func (n *Node) IDs() ([]int, error) { return n.inv().IDs() }

// lock takes container id's lock for op and finishes whatever a holder
// that died left half done.
func (n *Node) lock(id int, op string) (*lock.Lock, error) {
	return recovery.Lock(n.inv(), id, op)
}

// lockNode takes the node-wide allocation lock for op: held from reading
// every container's config to writing the one that takes a node-unique
// value (an ID range today), always after the container's own lock.
func (n *Node) lockNode(op string) (*lock.NodeLock, error) {
	return lock.AcquireNode(n.LockDir(), op, lock.NodeTimeout)
}

// Verbosity is the console verbosity the global config asks for.
func Verbosity(n *Node) int { return n.inv().Verbosity() }

// LogFile is the log file, "" when logging is off.
func LogFile(n *Node) string { return n.inv().LogFile() }

// LogLevel is the log file's level.
func LogLevel(n *Node) int { return n.inv().LogLevel() }
