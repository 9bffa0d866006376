package main

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// vzlist on a full node: M busybox containers running at once, the
// listing (default columns: the running ones; -a: all) timed n times.

type listRes struct {
	running, all *series // ms
}

func (b *bench) densityList(m int) (*listRes, error) {
	var ids []string
	b.undo.push("vzlist containers", func() error {
		for _, id := range ids {
			b.destroyCT(id, []string{"VZ_ROOT=" + b.vzRoot})
		}
		return nil
	})
	b.logf("density: creating and starting %d containers for vzlist", m)
	for i := 0; i < m; i++ {
		id, err := b.createCT(b.tmplBusybox)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
		if _, _, err := b.vzctl("--quiet", "start", id); err != nil {
			return nil, err
		}
	}
	r := &listRes{running: &series{}, all: &series{}}
	for _, c := range []struct {
		s    *series
		args []string
	}{{r.running, nil}, {r.all, []string{"-a"}}} {
		for i := 0; i < b.cfg.warmup+b.cfg.runs; i++ {
			d, out, err := b.vzlist(c.args...)
			if err != nil {
				return nil, err
			}
			// All M running (a listing that lost some would be faster
			// and wrong); without -a nothing else, with it also the
			// stopped ones the section made before.
			lines := strings.Split(strings.TrimSpace(out), "\n")
			running := strings.Count(out, " running ")
			if running != m || len(c.args) == 0 && len(lines) != m+1 {
				return nil, fmt.Errorf("vzlist %s: %d lines, %d running, want %d containers running", strings.Join(c.args, " "), len(lines)-1, running, m)
			}
			if i >= b.cfg.warmup {
				c.s.add(d)
			}
		}
	}
	b.logf("density: stopping %d containers", m)
	// At most 32 stops at once: each is a vzctl process, and the node's
	// halt of M busybox guests is what the 2e stop row measures already.
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, _, err := b.vzctl("--quiet", "stop", "--fast", id); err != nil {
				b.logf("density: stopping %s: %v", id, err)
			}
		}()
	}
	wg.Wait()
	return r, nil
}

// vzlist runs bin/vzlist against the bench's VZ_ROOT, timed.
func (b *bench) vzlist(args ...string) (time.Duration, string, error) {
	return b.vzctlWith(b.vzlistBin, args...)
}
