// Package nettest gives networking tests named network namespaces that
// leave nothing behind: `ip netns add` turns /run/netns into a shared
// bind mount of itself the first time it runs, and nothing undoes that,
// so the last test to leave it empty unmounts it. (Test packages run in
// parallel, so "the test that made it" cannot be known; an empty
// /run/netns mount carries no state, and iproute2 makes it again on
// demand. umount fails with EBUSY while any namespace is bound there.)
package nettest

import (
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"

	"govz/internal/mountinfo"
)

const runNetns = "/run/netns"

// NewNS creates network namespace name (reachable as /run/netns/name) and
// deletes it when the test ends.
func NewNS(t testing.TB, name string) {
	t.Helper()
	// Registered first, so it runs after the namespace is deleted.
	t.Cleanup(func() {
		for i := 0; i < 4 && mounted(runNetns); i++ {
			if ents, err := os.ReadDir(runNetns); err != nil || len(ents) > 0 {
				return
			}
			if exec.Command("umount", runNetns).Run() != nil {
				return
			}
		}
	})
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
}

// mounted reports whether dir is a mount point in this mount namespace.
func mounted(dir string) bool {
	ms, err := mountinfo.Read(0)
	return err == nil && mountinfo.IsMountPoint(ms, dir)
}

// In runs f on an OS thread moved into namespace ns. The thread goes back
// to its original namespace afterwards; if it cannot, it stays locked and
// dies with the goroutine, so no other goroutine inherits the namespace.
func In(t testing.TB, ns string, f func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	f()
}
