package nsinit

import (
	"syscall"
	"testing"
)

// The nested user namespace must be owned by a uid the guest's root is
// not, and that its user namespace maps.
func TestLockOwner(t *testing.T) {
	for _, c := range []struct {
		uids []syscall.SysProcIDMap
		want uint32
		ok   bool
	}{
		{[]syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 4294967295}}, 4294967294, true},
		{[]syscall.SysProcIDMap{{ContainerID: 0, HostID: 200000, Size: 65536}}, 65535, true},
		{nil, 0, false},
		{[]syscall.SysProcIDMap{{ContainerID: 0, HostID: 200000, Size: 1}}, 0, false},
	} {
		got, err := lockOwner(c.uids)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("lockOwner(%v) = %d, %v; want %d (ok %v)", c.uids, got, err, c.want, c.ok)
		}
	}
}
