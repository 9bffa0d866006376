package ct

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"govz/conf"
	"govz/ct/resource"
	"govz/ct/rootfs"
	"govz/ct/storage"
	"govz/ct/vzerror"
	"govz/net/guest"
)

// Container is one container as a command sees it, loaded once
// (Node.Load): its identity, its own config layer and the effective
// config, its paths and its storage. Lifecycle steps take it instead of
// reloading the configuration, so every step of one command acts on the
// same snapshot.
type Container struct {
	ID   int
	Name string
	// Layer is the container's own file; Config is the global config
	// merged with it.
	Layer, Config *conf.Config

	ConfFile string // $VZ_ROOT/conf/ID.toml
	Private  string // ve_private
	Root     string // ve_root: where the private area is mounted
	RunDir   string // runtime state: supervisor, sockets, run records
	DumpDir  string // node-wide dump directory
	LockDir  string // node-wide lock directory
	VZRoot   string // the installation, for action scripts' VZ_ROOT
	ConfDir  string // where action scripts live
	BootMark string // the "was running" mark (boot.go)

	Storage storage.CT
	Layout  string // ve_layout: storage.Open's name
	LXCFS   string // where LXCFS is mounted on the node
	// CRIUPath is the criu binary the node is configured with ("" =
	// found on PATH or in its usual places, checkpoint.Locate).
	CRIUPath string

	// Host is what a boot needs to know of the host (device nodes, bind
	// sources, quota support); only a start probes it (Node.probeHost).
	Host *HostFacts
}

// Load reads container id's configuration once: an error wrapping
// vzerror.ErrNoConfig when it has none.
func (n *Node) Load(id int) (*Container, error) {
	layer, err := n.LoadCT(id)
	if err != nil {
		return nil, err
	}
	return n.container(id, layer), nil
}

// loadStopped is Load for a command that holds container id's lock and
// changes what a running container uses (its mount, its files, its
// processes from a dump): it refuses while the container runs or its
// supervisor is alive.
func (n *Node) loadStopped(id int) (*Container, error) {
	c, err := n.Load(id)
	if err != nil {
		return nil, err
	}
	if n.busy(id, c.Config) {
		return nil, fmt.Errorf("container %d is running, stop it first: %w", id, vzerror.ErrRunning)
	}
	return c, nil
}

// loadOrGlobal is Load for commands that must answer without a config
// (status): the container has the global config alone then, and a nil
// Layer.
func (n *Node) loadOrGlobal(id int) *Container {
	layer, err := n.LoadCT(id)
	if err != nil {
		layer = nil
	}
	return n.container(id, layer)
}

// container derives the Container of id from its layer, without I/O.
func (n *Node) container(id int, layer *conf.Config) *Container {
	eff := n.Effective(layer)
	c := &Container{
		ID:       id,
		Layer:    layer,
		Config:   eff,
		ConfFile: n.Paths.CTConfig(id),
		Private:  n.path(eff.VEPrivate, id),
		Root:     n.path(eff.VERoot, id),
		RunDir:   n.RunDir(id),
		DumpDir:  n.path(n.Global.DumpDir, -1),
		LockDir:  n.LockDir(),
		VZRoot:   n.Paths.Root,
		ConfDir:  n.Paths.ConfDir(),
		BootMark: filepath.Join(n.bootMarkDir(), strconv.Itoa(id)),
		Layout:   conf.Str(eff.VELayout),
		LXCFS:    resource.LXCFSDir(n.Global),
		CRIUPath: conf.Str(n.Global.CRIUPath),
	}
	if layer != nil {
		c.Name = conf.Str(layer.Name)
	}
	c.Storage = storage.CT{ID: id, Private: c.Private, Root: c.Root}
	return c
}

// HostFacts are the host's answers a boot spec depends on, probed once
// per boot (Node.probeHost) so that BootSpec itself does no I/O.
type HostFacts struct {
	DevNodes []rootfs.DevNode  // DEVNODES and FEATURES, as the host's /dev has them
	Devices  []rootfs.Rule     // DEVICES
	Binds    []rootfs.Bind     // bindmount items, their host paths checked
	CapDrops []storage.CapDrop // what the storage layout needs dropped
	PageSize int64             // for --ram
	IPv6     bool              // the host has IPv6 on
	// ResolvNS and ResolvSearch are the host's resolv.conf, for
	// nameserver and searchdomain "inherit".
	ResolvNS, ResolvSearch []string
}

// probeHost fills c.Host.
func (n *Node) probeHost(c *Container) error {
	h := &HostFacts{PageSize: int64(os.Getpagesize()), IPv6: true}
	var err error
	if h.DevNodes, h.Devices, err = deviceGrants(c.Config); err != nil {
		return err
	}
	if h.Binds, err = bindMounts(c.Config.BindMount); err != nil {
		return err
	}
	if lay, err := n.layoutOf(c.Config); err == nil {
		h.CapDrops = lay.CapDrops(c.Storage)
	} // else the start fails on the layout elsewhere, saying why
	if _, err := os.Stat("/proc/net/if_inet6"); err != nil {
		h.IPv6 = false // the host has IPv6 off (ipv6.disable=1)
	}
	h.ResolvNS, h.ResolvSearch = guest.HostResolv("/etc/resolv.conf")
	c.Host = h
	return nil
}
