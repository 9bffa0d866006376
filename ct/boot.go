package ct

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"govz/conf"
	"govz/ct/supervisor"
	"govz/ct/vzerror"
)

// Node boot and shutdown: what OpenVZ's /etc/init.d/vz did, run by the vz
// systemd unit (scripts/systemd/vz.service) as `vzctl boot-node` and
// `vzctl shutdown-node`.
//
// "Was running" is remembered durably, from the start on, in
// $VZ_ROOT/boot/CTID: a start sets the mark, an admin's stop (or the guest
// halting itself) clears it, a node shutdown keeps it. Unlike OpenVZ's
// vzreboot markers, which the init script wrote at shutdown, the mark
// survives a node that crashed or lost power.

// nodeShutdownName in the run directory tells the supervisor's post-stop
// hook that the node stops the container: its mark stays.
const nodeShutdownName = "node-shutdown"

// bootMarkDir holds one empty file per container that runs (or ran when
// the node went down).
func (n *Node) bootMarkDir() string { return filepath.Join(n.Paths.Root, "boot") }

// markRunning sets or clears container id's "was running" mark, durably:
// the node may go down right after.
func (n *Node) markRunning(id int, on bool) {
	dir := n.bootMarkDir()
	p := filepath.Join(dir, strconv.Itoa(id))
	if !on {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			n.Log.Warnf("clearing boot mark %s: %v", p, err)
		}
		syncDir(dir)
		return
	}
	if _, err := os.Stat(p); err == nil {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		n.Log.Warnf("boot mark: %v", err)
		return
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		n.Log.Warnf("boot mark: %v", err)
		return
	}
	f.Close()
	syncDir(dir)
}

func (n *Node) wasRunning(id int) bool {
	_, err := os.Stat(filepath.Join(n.bootMarkDir(), strconv.Itoa(id)))
	return err == nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// bootCandidate is what decides whether and when a container starts at
// node boot.
type bootCandidate struct {
	ID         int
	OnBoot     *bool
	BootOrder  *int
	WasRunning bool
	Disabled   bool
}

// bootOrder selects the containers node boot starts, in start order: those
// with onboot = true, and with onboot unset those that were running;
// disabled ones never (a start without --force would refuse them).
// Higher bootorder first, unset last, then by CTID (vzctl's init script).
func bootOrder(cands []bootCandidate) []bootCandidate {
	var out []bootCandidate
	for _, c := range cands {
		if c.Disabled {
			continue
		}
		if c.OnBoot != nil && *c.OnBoot || c.OnBoot == nil && c.WasRunning {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b bootCandidate) int {
		switch {
		case a.BootOrder != nil && b.BootOrder == nil:
			return -1
		case a.BootOrder == nil && b.BootOrder != nil:
			return 1
		case a.BootOrder != nil && *a.BootOrder != *b.BootOrder:
			return cmp.Compare(*b.BootOrder, *a.BootOrder)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// Parallelism is how many containers node boot starts at once: ve_parallel,
// or 4 per CPU as vzctl's VE_PARALLEL default.
func (n *Node) Parallelism() int {
	if p := conf.Int(n.Global.VEParallel, 0); p > 0 {
		return p
	}
	return 4 * runtime.NumCPU()
}

// forCT is n with a logger of its own for container id, for work on many
// containers at once.
func (n *Node) forCT(id int) *Node {
	return &Node{Paths: n.Paths, Global: n.Global, Log: n.Log.WithCT(id)}
}

// BootNode starts, at node boot, every container that should run (see
// bootOrder), Parallelism() at a time, launching them in boot order. Each
// start takes only its container's lock, so `vzctl start` works meanwhile;
// a container already running is left alone. Once ctx is done no further
// start begins. The error names the containers that did not start.
func (n *Node) BootNode(ctx context.Context) error {
	ids, err := n.IDs()
	if err != nil {
		return err
	}
	var cands []bootCandidate
	for _, id := range ids {
		layer, err := n.LoadCT(id)
		if err != nil {
			n.Log.Warnf("container %d: %v", id, err)
			continue
		}
		eff := n.Effective(layer)
		c := bootCandidate{ID: id, OnBoot: eff.OnBoot, BootOrder: eff.BootOrder,
			WasRunning: n.wasRunning(id), Disabled: conf.Bool(eff.Disabled, false)}
		if c.Disabled && (c.OnBoot != nil && *c.OnBoot || c.OnBoot == nil && c.WasRunning) {
			n.Log.Infof("Container %d is disabled: not starting it", id)
		}
		cands = append(cands, c)
	}
	order := bootOrder(cands)
	par := n.Parallelism()
	n.Log.Infof("Starting %d container(s), %d at a time", len(order), par)
	slots := make(chan struct{}, par)
	var (
		mu     sync.Mutex
		failed []string
		wg     sync.WaitGroup
		left   = len(order)
	)
	// One dispatcher launches the starts, so they begin in boot order
	// (and say so in that order); slots bound how many run at once.
dispatch:
	for _, c := range order {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break dispatch
		}
		left--
		w := n.forCT(c.ID)
		bo := "unset"
		if c.BootOrder != nil {
			bo = strconv.Itoa(*c.BootOrder)
		}
		w.Log.Infof("Starting container %d (bootorder %s)", c.ID, bo)
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			err := w.Start(c.ID, StartOptions{})
			switch {
			case errors.Is(err, vzerror.ErrRunning):
				w.Log.Infof("Container %d is already running", c.ID)
			case err != nil:
				w.Log.Errorf("Container %d did not start: %v", c.ID, err)
				mu.Lock()
				failed = append(failed, strconv.Itoa(c.ID))
				mu.Unlock()
			default:
				w.Log.Infof("Container %d started", c.ID)
			}
		}()
	}
	wg.Wait()
	if left > 0 {
		return fmt.Errorf("node boot interrupted with %d container(s) not started: %w", left, vzerror.ErrEnvCreate)
	}
	if len(failed) > 0 {
		return fmt.Errorf("container(s) %s did not start: %w", strings.Join(failed, ", "), vzerror.ErrEnvCreate)
	}
	return nil
}

// ShutdownNode stops every running container at once, all of them within
// timeout (<= 0: shutdown_timeout): each gets its own stop_timeout to halt
// cleanly, cut to what is left of the global one, and is killed after
// that. Their "was running" marks stay, so BootNode brings them back.
func (n *Node) ShutdownNode(timeout time.Duration) error {
	if timeout <= 0 {
		timeout = time.Duration(conf.Int(n.Global.ShutdownTime, 300)) * time.Second
	}
	deadline := time.Now().Add(timeout)
	ids, err := n.IDs()
	if err != nil {
		return err
	}
	var running []int
	for _, id := range ids {
		// Booting ones too: left alone, they would run on after the stop.
		if n.busy(id, n.effectiveOrGlobal(id)) {
			running = append(running, id)
		}
	}
	n.Log.Infof("Stopping %d container(s) within %v", len(running), timeout)
	var (
		mu     sync.Mutex
		failed []string
		wg     sync.WaitGroup
	)
	for _, id := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := n.forCT(id)
			w.Log.Infof("Stopping container %d", id)
			if err := w.shutdownCT(id, deadline); err != nil && !errors.Is(err, vzerror.ErrNotRunning) {
				w.Log.Errorf("Container %d did not stop: %v", id, err)
				mu.Lock()
				failed = append(failed, strconv.Itoa(id))
				mu.Unlock()
				return
			}
			w.Log.Infof("Container %d stopped", id)
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		return fmt.Errorf("container(s) %s did not stop: %w", strings.Join(failed, ", "), vzerror.ErrStop)
	}
	return nil
}

// shutdownCT stops container id for the node's shutdown. A command holding
// its lock (a start, a set) is waited for until the deadline.
func (n *Node) shutdownCT(id int, deadline time.Time) error {
	for {
		l, err := n.lock(id, "stop")
		if err == nil {
			defer l.Release()
			break
		}
		if !errors.Is(err, vzerror.ErrLocked) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A boot no command waits for (its vzctl start was killed) ends
	// soon; then it can be stopped.
	for supervisor.Booting(n.RunDir(id)) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	n.markRunning(id, true)
	os.WriteFile(filepath.Join(n.RunDir(id), nodeShutdownName), nil, 0o600)
	left := time.Until(deadline)
	return n.stopWith(id, stopOptions{fast: left <= 0, maxTimeout: left})
}
