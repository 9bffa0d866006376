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
	"govz/ct/rootfs"
	"govz/ct/storage"
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
	layer, err := n.LoadCT(id)
	if err != nil {
		return err
	}
	eff := n.Effective(layer)
	if n.busy(id, eff) {
		return fmt.Errorf("container %d is already running: %w", id, vzerror.ErrRunning)
	}
	if conf.Bool(eff.Disabled, false) && !o.Force {
		return fmt.Errorf("container %d start disabled (use --force): %w", id, vzerror.ErrStartDisabled)
	}
	root := n.path(eff.VERoot, id)
	mounted, err := isMountPoint(root)
	if err != nil {
		return fmt.Errorf("reading mount table: %v: %w", err, vzerror.ErrSystem)
	}
	n.Log.Infof("Starting container...")
	n.noteLXCFS()
	n.warnNetfilter(id, eff)
	if err := n.netStartPreflight(id, eff); err != nil {
		return err
	}
	if !mounted {
		if err := n.mount(id); err != nil {
			return err
		}
	} else if err := n.confine(n.storageCT(id, eff)); err != nil {
		return err
	}
	os.Remove(filepath.Join(n.RunDir(id), skipUmountName))
	os.Remove(filepath.Join(n.RunDir(id), nodeShutdownName))
	os.Remove(filepath.Join(n.RunDir(id), supervisor.SignalStopName))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err = supervisor.Start(ctx, n.SpecLoader(id), supervisor.StartOptions{Wait: o.Wait})
	if err != nil {
		if !mounted && !n.Running(id) {
			if serr := n.runHostScripts(id, eff, phaseUmount); serr != nil {
				n.Log.Warnf("%v", serr)
			}
			unix.Unmount(root, unix.MNT_DETACH)
			if serr := n.runHostScripts(id, eff, phasePostumount); serr != nil {
				n.Log.Warnf("%v", serr)
			}
		}
		return err
	}
	n.markRunning(id, true)
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
	fast, skipUmount := o.fast, o.skipUmount
	layer, err := n.LoadCT(id)
	if err != nil {
		return err
	}
	eff := n.Effective(layer)
	if !n.running(id, eff) {
		// vzctl's words: "Unable to stop: container is not running".
		return fmt.Errorf("unable to stop: %w", vzerror.ErrNotRunning)
	}
	n.Log.Infof("Stopping container ...")
	rd := n.RunDir(id)
	if !fast {
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
	root := n.path(eff.VERoot, id)
	if mp, _ := isMountPoint(root); mp && !skipUmount {
		return n.umount(id)
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
	if n.Running(id) {
		if err := n.stop(id, fast, true); err != nil {
			return err
		}
	}
	return n.start(id, o)
}

// SpecLoader builds container id's supervisor spec from its current
// configuration; the supervisor calls it on every boot, so a reboot from
// inside picks up what `vzctl set --save` changed.
func (n *Node) SpecLoader(id int) supervisor.SpecLoader {
	return func() (*supervisor.Spec, error) {
		layer, err := n.LoadCT(id)
		if err != nil {
			return nil, err
		}
		eff := n.Effective(layer)
		devs, devices, err := deviceGrants(eff)
		if err != nil {
			return nil, err
		}
		binds, err := bindMounts(eff.BindMount)
		if err != nil {
			return nil, err
		}
		shm, run := rootfs.TmpfsSizes(ramBytes(eff))
		uids, gids, err := idMappings(layer)
		if err != nil {
			return nil, err
		}
		root := n.path(eff.VERoot, id)
		rd := n.RunDir(id)
		return &supervisor.Spec{
			UIDMappings:  uids,
			GIDMappings:  gids,
			RootMapped:   storage.MapsIDs(conf.Str(eff.VELayout)),
			ID:           strconv.Itoa(id),
			Rootfs:       root,
			RunDir:       rd,
			Hostname:     conf.Str(eff.Hostname),
			CgroupParent: conf.Str(eff.CgroupParent),
			Capabilities: append(n.layoutCapChanges(id, eff), capChanges(eff.Capability)...),
			DevNodes:     devs,
			Devices:      devices,
			Binds:        binds,
			ShmSize:      shm,
			RunSize:      run,
			StopTimeout:  time.Duration(conf.Int(eff.StopTimeout, 0)) * time.Second,
			ConsoleLog:   filepath.Join(rd, "console.log"),
			Hooks: supervisor.Hooks{
				// Networking plugs in here; Poststop is owed only after a
				// Prestart ran.
				Prestart: func(initPID int) error {
					// Limits go on before the guest's init runs.
					if err := n.startResources(id, eff, initPID); err != nil {
						return err
					}
					return n.netPrestart(id, eff, initPID)
				},
				Poststop: func(reboot bool) {
					n.netPoststop(id)
					if reboot {
						return
					}
					// A guest that halted itself, or an admin's stop, is
					// not running any more when the node goes down; the
					// node's own shutdown keeps the mark, and so does a
					// signal to the supervisor (systemd stopping the
					// login session that started it, at shutdown).
					kept := false
					for _, f := range []string{nodeShutdownName, supervisor.SignalStopName} {
						if os.Remove(filepath.Join(rd, f)) == nil {
							kept = true
						}
					}
					if !kept {
						n.markRunning(id, false)
					}
					// Halted from inside (or stopped): unmount as vzctl's
					// vzevent-stop does, unless stop --skip-umount asked not to.
					if _, err := os.Stat(filepath.Join(rd, skipUmountName)); err == nil {
						os.Remove(filepath.Join(rd, skipUmountName))
						return
					}
					// Halted from inside: nobody to report to but the log.
					if err := n.runHostScripts(id, eff, phaseUmount); err != nil {
						n.Log.Warnf("%v", err)
						return
					}
					unix.Unmount(root, 0)
					if err := n.runHostScripts(id, eff, phasePostumount); err != nil {
						n.Log.Warnf("%v", err)
					}
				},
			},
		}, nil
	}
}

// SupervisorMain is the entry point of the re-exec'd supervisor process.
func SupervisorMain(args []string) int {
	return supervisor.Main(args, func(id string) supervisor.SpecLoader {
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
	})
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
