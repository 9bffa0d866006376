package ctnet

import (
	"errors"
	"fmt"

	"govz/ct/vzerror"
	"govz/net/bridge"
	"govz/net/link"
	"govz/net/venet"
)

// Restore is a restored container's networking, in the two halves CRIU's
// restore needs (ct/chkpnt.go). CRIU brings the container's network
// namespace back empty: it cannot make a veth pair whose host end is in
// the host's namespace from inside the container's user namespace.
//
//   - Pair, once the namespace exists and before CRIU restores the
//     sockets (which need their addresses): the namespace's sysctls, the
//     pairs, as a boot makes them, and the container's addresses and
//     routes: venet's from the plan, then all of them, the guest's own too
//     (a bridged interface's, a route it added), its rules and firewall,
//     from the dump (nsState).
//   - Route, after the sockets, while CRIU still holds the container's
//     network locked (it unlocks once the notification returned): the
//     host's routes, proxy entries and rules for the routed addresses,
//     so the host routes nothing to the container before its connections
//     are back.
//
// Together they make what Up makes for a boot.
type Restore struct {
	d   *Step
	nc  Plan
	pid int
	dir string // the dump
	// emptyNS is whether CRIU brought the namespace back empty
	// (checkpoint.EmptyNetNS); if not, it restored its state itself.
	emptyNS bool
}

// NewRestore plans d's networking for the restored init initPID from the
// dump in dir, whose network namespace CRIU restores empty if emptyNS.
func NewRestore(d *Step, initPID int, dir string, emptyNS bool) (*Restore, error) {
	nc, err := d.plan()
	if err != nil {
		return nil, err
	}
	return &Restore{d: d, nc: nc, pid: initPID, dir: dir, emptyNS: emptyNS}, nil
}

// Pair makes the pairs with the container's addresses and routes.
func (r *Restore) Pair() error {
	d := r.d
	warnf := Warnf(d.ID)
	// A boot whose teardown never ran (its supervisor was killed).
	if err := Teardown(d.ID, d.RunDir, d.LockDir, warnf); err != nil {
		warnf("cleaning up the previous boot's networking: %v", err)
	}
	if !r.emptyNS {
		// No veth (the checkpoint refuses nested namespaces beside
		// them): nothing to pair.
		return nil
	}
	ns, err := openNSState(r.pid, r.dir, warnf)
	if err != nil {
		return err
	}
	if err := ns.conf(); err != nil {
		return err
	}
	if len(r.nc.Addrs) == 0 && len(r.nc.NetIfs) == 0 {
		return ns.fill()
	}
	e, closeEnv, err := OpenEnv(d.ID, r.nc, r.pid, false, warnf)
	if err != nil {
		return fmt.Errorf("container %d networking: %w: %w", d.ID, err, vzerror.ErrSystem)
	}
	defer closeEnv()
	if len(r.nc.Addrs) > 0 {
		if err := venet.Pair(e, r.nc.Addrs); err != nil {
			return RoutedErr(err)
		}
	}
	be := &bridge.Env{CT: d.ID, Host: e.Host, Filter: PortFilter(d.LockDir), GuestNS: e.GuestNS}
	for _, ni := range r.nc.NetIfs {
		if err := bridge.Up(be, ni); err != nil {
			return fmt.Errorf("interface %s: %w: %w", ni.Name, err, vzerror.ErrVeth)
		}
		// bridge.Up leaves the container's end to the guest, which
		// brought it up long ago.
		if err := e.Guest.SetUp(ni.Name); err != nil {
			return fmt.Errorf("interface %s: %w: %w", ni.Name, err, vzerror.ErrVeth)
		}
	}
	return ns.fill()
}

// Route routes the container's addresses to the venet pair and records
// the whole networking for the poststop step.
func (r *Restore) Route() error {
	d := r.d
	if len(r.nc.Addrs) == 0 && len(r.nc.NetIfs) == 0 {
		return nil
	}
	st := &State{}
	for _, ni := range r.nc.NetIfs {
		st.NetIfs = append(st.NetIfs, ni.String())
	}
	var e *venet.Env
	if len(r.nc.Addrs) > 0 {
		warnf := Warnf(d.ID)
		env, closeEnv, err := OpenEnv(d.ID, r.nc, 0, true, warnf)
		if err != nil {
			return fmt.Errorf("container %d networking: %w: %w", d.ID, err, vzerror.ErrSystem)
		}
		defer closeEnv()
		e = env
		vs, err := venet.Route(e, r.nc.Addrs, r.nc.Neighbours)
		if err != nil {
			return RoutedErr(err)
		}
		st.Venet = vs
	}
	if err := WriteState(d.RunDir, st); err != nil {
		if st.Venet != nil {
			venet.Down(e, st.Venet)
		}
		return fmt.Errorf("recording container %d networking: %w: %w", d.ID, err, vzerror.ErrSystem)
	}
	return nil
}

// Undo removes what Pair and Route made, after a restore that failed.
func (r *Restore) Undo() {
	d := r.d
	warnf := Warnf(d.ID)
	if err := Teardown(d.ID, d.RunDir, d.LockDir, warnf); err != nil {
		warnf("removing the failed restore's networking: %v", err)
	}
	if len(r.nc.Addrs) == 0 && len(r.nc.NetIfs) == 0 {
		return
	}
	// Without Route's record, Teardown had nothing to go by: the pairs
	// and port filters Pair made go here (the kernel removes a pair with
	// the namespace too, once CRIU killed the tree, but not before).
	host, err := link.Open()
	if err != nil {
		warnf("removing the failed restore's pairs: %v", err)
		return
	}
	defer host.Close()
	var errs []error
	if len(r.nc.Addrs) > 0 {
		errs = append(errs, link.IgnoreNotExist(host.DelLink(venet.HostIf(d.ID))))
	}
	be := &bridge.Env{CT: d.ID, Host: host, Filter: PortFilter(d.LockDir)}
	for _, ni := range r.nc.NetIfs {
		errs = append(errs, bridge.Down(be, bridge.Complete(d.ID, ni)))
	}
	if err := errors.Join(errs...); err != nil {
		warnf("removing the failed restore's pairs: %v", err)
	}
}
