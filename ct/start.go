package ct

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"govz/conf"
	"govz/ct/cgroup"
	"govz/ct/ctnet"
	"govz/ct/inventory"
	"govz/ct/resource"
	"govz/ct/supervisor"
	"govz/ct/vzerror"
	"govz/ct/vzlog"
)

// StartOptions are vzctl start's options.
type StartOptions struct {
	Wait  bool // return when the guest reports it finished booting
	Force bool // start even when disabled
}

// skipUmountName in the run directory tells the supervisor's post-stop
// hook to leave the root mounted (vzctl stop --skip-umount).
const skipUmountName = "skip-umount"

// Start boots container id: mounts its root if needed and hands it to a
// new supervisor, which outlives this command.
func (n *Node) Start(id int, o StartOptions) error {
	l, err := n.lockOrSkip(id, "start")
	if err != nil {
		return err
	}
	defer l.Release()
	return n.start(id, o)
}

func (n *Node) start(id int, o StartOptions) error {
	c, err := n.Load(id)
	if err != nil {
		return err
	}
	return n.startCT(c, o)
}

// startCT boots container c, loaded by the caller.
func (n *Node) startCT(c *Container, o StartOptions) error {
	id, eff := c.ID, c.Config
	if n.busy(id, eff) {
		return fmt.Errorf("container %d is already running: %w", id, vzerror.ErrRunning)
	}
	if conf.Bool(eff.Disabled, false) && !o.Force {
		return fmt.Errorf("container %d start disabled (use --force): %w", id, vzerror.ErrStartDisabled)
	}
	mounted, err := inventory.IsMountPoint(c.Root)
	if err != nil {
		return fmt.Errorf("reading mount table: %w: %w", err, vzerror.ErrSystem)
	}
	n.Log.Infof("Starting container...")
	resource.NoteLXCFS(n.inv())
	n.warnNetfilter(id, eff)
	// Its warnings come once, from BootSpec.
	nc, err := ctnet.HostPlan(id, eff, func(string, ...any) {})
	if err != nil {
		return err
	}
	if err := ctnet.Preflight(n.inv(), id, nc.Addrs, nc.Neighbours); err != nil {
		return err
	}
	if !mounted {
		if err := n.mountCT(c); err != nil {
			return err
		}
	} else if err := n.confine(c.Storage); err != nil {
		return err
	}
	os.Remove(filepath.Join(c.RunDir, skipUmountName))
	os.Remove(filepath.Join(c.RunDir, nodeShutdownName))
	os.Remove(filepath.Join(c.RunDir, supervisor.SignalStopName))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The host is probed (device nodes, bind sources, the layout's
	// capability drops) once the root is mounted, as the spec was built.
	loader := func() (*supervisor.Spec, error) { return n.bootOf(c) }
	err = supervisor.Start(ctx, loader, supervisor.StartOptions{Wait: o.Wait})
	if err != nil {
		if !mounted && !n.Running(id) {
			if serr := n.runHostScripts(c, phaseUmount); serr != nil {
				n.Log.Warnf("%v", serr)
			}
			unix.Unmount(c.Root, unix.MNT_DETACH)
			if serr := n.runHostScripts(c, phasePostumount); serr != nil {
				n.Log.Warnf("%v", serr)
			}
		}
		return err
	}
	n.markRunning(id, true)
	n.dropStaleDump(id)
	n.Log.Infof("Container start in progress...")
	return n.runInsideScript(id, phaseStart)
}

// Stop halts container id (gracefully unless fast) and unmounts it unless
// skipUmount. An admin's stop means the container is not to come back at
// node boot (unless onboot says so).
func (n *Node) Stop(id int, fast, skipUmount bool) error {
	l, err := n.lockOrSkip(id, "stop")
	if err != nil {
		return err
	}
	defer l.Release()
	if err := n.stop(id, fast, skipUmount); err != nil {
		return err
	}
	n.markRunning(id, false)
	return nil
}

// stopOptions are the ways to stop a container.
type stopOptions struct {
	fast, skipUmount bool
	maxTimeout       time.Duration // > 0: cut the graceful stop to this (node shutdown)
}

func (n *Node) stop(id int, fast, skipUmount bool) error {
	return n.stopWith(id, stopOptions{fast: fast, skipUmount: skipUmount})
}

func (n *Node) stopWith(id int, o stopOptions) error {
	c, err := n.Load(id)
	if err != nil {
		return err
	}
	return n.stopCT(c, o)
}

// stopCT stops container c, loaded by the caller.
func (n *Node) stopCT(c *Container, o stopOptions) error {
	id, eff := c.ID, c.Config
	fast, skipUmount := o.fast, o.skipUmount
	if !n.running(id, eff) {
		// vzctl's words: "Unable to stop: container is not running".
		return fmt.Errorf("unable to stop: %w", vzerror.ErrNotRunning)
	}
	n.Log.Infof("Stopping container ...")
	rd := c.RunDir
	if !fast {
		// A suspended container (chkpnt --suspend) can take no part in
		// a graceful stop: it is thawed, and stops as a running one does.
		// A fast stop kills it frozen (cgroup.Kill).
		if g, err := cgroup.Open(n.cgroupParent(id, eff), strconv.Itoa(id)); err == nil {
			if s, err := g.FreezerState(); err == nil && s != cgroup.Thawed {
				n.Log.Infof("Container is suspended: resuming it to stop it")
				if err := g.Thaw(); err != nil {
					return fmt.Errorf("unable to stop: %w: %w", err, vzerror.ErrStop)
				}
			}
		}
		if err := n.runInsideScript(id, phaseStop); err != nil {
			n.Log.Warnf("%v; stopping anyway", err)
		}
	}
	// The supervisor leaves the root mounted: the unmount below runs the
	// umount action scripts where their output and failure reach the admin.
	os.WriteFile(filepath.Join(rd, skipUmountName), nil, 0o600)
	timeout := time.Duration(conf.Int(eff.StopTimeout, 0)) * time.Second
	if timeout <= 0 {
		timeout = supervisor.DefaultStopTimeout
	}
	if o.maxTimeout > 0 && o.maxTimeout < timeout {
		timeout = o.maxTimeout
	}
	if err := supervisor.Stop(rd, timeout, fast); err != nil && !errors.Is(err, vzerror.ErrNotRunning) {
		return err
	}
	if err := n.killOrphans(id, eff); err != nil {
		return err
	}
	n.Log.Infof("Container was stopped")
	if mp, _ := inventory.IsMountPoint(c.Root); mp && !skipUmount {
		return n.umountCT(c)
	}
	return nil
}

// Restart stops container id if it runs, then starts it.
func (n *Node) Restart(id int, fast bool, o StartOptions) error {
	l, err := n.lockOrSkip(id, "restart")
	if err != nil {
		return err
	}
	defer l.Release()
	n.Log.Infof("Restarting container")
	c, err := n.Load(id)
	if err != nil {
		return err
	}
	if n.running(id, c.Config) {
		if err := n.stopCT(c, stopOptions{fast: fast, skipUmount: true}); err != nil {
			return err
		}
	}
	return n.startCT(c, o)
}

// SpecLoader builds container id's supervisor spec from its current
// configuration: the supervisor calls it when the guest reboots, so a
// reboot from inside picks up what `vzctl set --save` changed.
func (n *Node) SpecLoader(id int) supervisor.SpecLoader {
	return func() (*supervisor.Spec, error) {
		c, err := n.Load(id)
		if err != nil {
			return nil, err
		}
		return n.bootOf(c)
	}
}

// SupervisorMain is the entry point of the re-exec'd supervisor process.
// Its first boot runs the spec vzctl start wrote; only a reboot from
// inside loads the configuration again.
func SupervisorMain(args []string) int {
	return supervisor.MainWith(args, func(id string) supervisor.SpecLoader {
		return func() (*supervisor.Spec, error) {
			n, err := OpenNode(&vzlog.Logger{Prog: "vzctl"})
			if err != nil {
				return nil, err
			}
			cid, _, err := ParseID(id)
			if err != nil {
				return nil, err
			}
			return n.SpecLoader(cid)()
		}
	}, executors())
}

// capChanges turns CAPABILITY entries ("name:on,name2:off") into items.
func capChanges(list []string) []string {
	var out []string
	for _, l := range list {
		for _, c := range strings.Split(l, ",") {
			if c = strings.TrimSpace(c); c != "" {
				out = append(out, strings.ToLower(c))
			}
		}
	}
	return out
}
