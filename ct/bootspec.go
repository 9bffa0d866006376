package ct

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"govz/conf"
	"govz/ct/caps"
	"govz/ct/cgroup"
	"govz/ct/ctnet"
	"govz/ct/resource"
	"govz/ct/rootfs"
	"govz/ct/storage"
	"govz/ct/supervisor"
	"govz/ct/vzerror"
)

// Names of the hook steps a boot's plan holds (hooks.go runs them).
const (
	stepResources  = "resources"  // prestart: limits, LXCFS
	stepNetwork    = "network"    // prestart: venet, veth, guest files; poststop: their removal
	stepStopped    = "stopped"    // poststop: boot mark, unmount and its action scripts
	stepCheckpoint = "checkpoint" // restorer: the guest's processes from a dump (vzctl restore)
)

// Boot is what one boot of a container is: the supervisor's spec, with
// its hook plan, and what the admin should be told about it.
type Boot struct {
	Spec     *supervisor.Spec
	Warnings []string
}

// BootSpec derives container c's boot from c alone: it does no I/O (what
// it needs of the host is in c.Host), so it is the same on every call.
func BootSpec(c *Container) (*Boot, error) {
	if c.Host == nil {
		return nil, fmt.Errorf("container %d: host not probed: %w", c.ID, vzerror.ErrSystem)
	}
	eff, h := c.Config, c.Host
	layer := c.Layer
	if layer == nil {
		layer = &conf.Config{}
	}
	uids, gids, err := idMappings(layer)
	if err != nil {
		return nil, err
	}
	b := &Boot{}
	own, err := caps.ParseChanges(capChanges(eff.Capability))
	if err != nil {
		own = nil // Spec.Validate reports a bad CAPABILITY
	}
	items, kept := capItems(h.CapDrops, own)
	for _, d := range kept {
		b.Warnings = append(b.Warnings, fmt.Sprintf("Capability %s is on for container %d: its disk limits do not bind its root: %s", d.Name, c.ID, d.Why))
	}
	shm, run := rootfs.TmpfsSizes(ramBytesOf(eff, h.PageSize))
	var warns []string
	nc, err := ctnet.PlanFor(c.ID, eff, h.IPv6, func(f string, a ...any) { warns = append(warns, fmt.Sprintf(f, a...)) })
	if err != nil {
		return nil, err
	}
	b.Warnings = append(b.Warnings, warns...)
	res, err := resource.StepFor(c.ID, c.Config, c.Private, c.LXCFS)
	if err != nil {
		return nil, err
	}
	ns := &ctnet.Step{ID: c.ID, RunDir: c.RunDir, LockDir: c.LockDir, Root: c.Root,
		Addrs: nc.Addrs, Neighbours: nc.Neighbours, IPv6: nc.IPv6,
		Guest: ctnet.GuestConfigWith(eff, nc, h.ResolvNS, h.ResolvSearch)}
	for _, ni := range nc.NetIfs {
		ns.NetIfs = append(ns.NetIfs, ni.String())
	}
	st := &stoppedStep{ID: c.ID, RunDir: c.RunDir, Root: c.Root, BootMark: c.BootMark, Scripts: c.scriptEnv()}
	pre, err := steps(step{stepResources, res}, step{stepNetwork, ns})
	if err != nil {
		return nil, err
	}
	post, err := steps(step{stepNetwork, ns}, step{stepStopped, st})
	if err != nil {
		return nil, err
	}
	rst, err := steps(step{stepCheckpoint, restoreStep{ID: c.ID, Root: c.Root, CRIUPath: c.CRIUPath, Network: ns,
		CgroupRoot: "/" + cgroup.InnerPath(conf.Str(eff.CgroupParent), strconv.Itoa(c.ID))}})
	if err != nil {
		return nil, err
	}
	b.Spec = &supervisor.Spec{
		UIDMappings:  uids,
		GIDMappings:  gids,
		RootMapped:   storage.MapsIDs(c.Layout),
		ID:           strconv.Itoa(c.ID),
		Rootfs:       c.Root,
		RunDir:       c.RunDir,
		Hostname:     conf.Str(eff.Hostname),
		CgroupParent: conf.Str(eff.CgroupParent),
		Capabilities: append(items, capChanges(eff.Capability)...),
		DevNodes:     h.DevNodes,
		Devices:      h.Devices,
		Binds:        h.Binds,
		ShmSize:      shm,
		RunSize:      run,
		StopTimeout:  time.Duration(conf.Int(eff.StopTimeout, 0)) * time.Second,
		ConsoleLog:   filepath.Join(c.RunDir, "console.log"),
		Prestart:     pre,
		Poststop:     post,
		Restorer:     &rst[0],
	}
	return b, nil
}

type step struct {
	name string
	data any
}

func steps(list ...step) ([]supervisor.Step, error) {
	var out []supervisor.Step
	for _, s := range list {
		b, err := json.Marshal(s.data)
		if err != nil {
			return nil, fmt.Errorf("encoding hook step %s: %w: %w", s.name, err, vzerror.ErrSystem)
		}
		out = append(out, supervisor.Step{Name: s.name, Data: b})
	}
	return out, nil
}

// bootOf probes the host for container c and derives its boot, telling
// the admin what it warns about.
func (n *Node) bootOf(c *Container) (*supervisor.Spec, error) {
	if err := n.probeHost(c); err != nil {
		return nil, err
	}
	b, err := BootSpec(c)
	if err != nil {
		return nil, err
	}
	for _, w := range b.Warnings {
		n.Log.Warnf("%s", w)
	}
	return b.Spec, nil
}

// keepSteps is list without the steps not named name.
func keepSteps(list []supervisor.Step, name string) []supervisor.Step {
	var out []supervisor.Step
	for _, s := range list {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}
