package supervisor

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"syscall"

	"govz/ct/vzerror"
)

// ttyGID is the tty group inside the container (devpts gid=5).
const ttyGID = 5

// UserNS reports whether the container runs in a user namespace of its
// own: after Validate every container does, except one with
// UnlockedMounts.
func (s *Spec) UserNS() bool { return len(s.UIDMappings) > 0 }

// Privileged containers (no LOCAL_UID) run in a user namespace too, one
// that maps every ID to itself: the guest's root is host root for file
// ownership (nothing on disk changes, no idmapped mount), but its
// namespaces, and the mount namespace it runs in, are owned by a user
// namespace other than the initial one. That is what lets the kernel lock
// the container's mounts (ct/nsinit/lock_linux.go): without it the guest's
// root could unmount the masks over /proc and /sys, or mount a fresh
// procfs, and write host-global files (kernel.core_pattern).

// identitySize is the whole ID space: uid_map's largest range, 0 to
// 4294967294 (4294967295 is the invalid ID, (uid_t)-1).
const identitySize = math.MaxUint32

// IdentityMap is the one mapping line of a privileged container.
func IdentityMap() []IDMap {
	return []IDMap{{ContainerID: 0, HostID: 0, Size: identitySize}}
}

// Identity reports whether the container's user namespace maps every ID to
// itself (a privileged container), rather than being LOCAL_UID's.
func (s *Spec) Identity() bool {
	return isIdentity(s.UIDMappings) && isIdentity(s.GIDMappings)
}

func isIdentity(ms []IDMap) bool {
	return len(ms) == 1 && ms[0] == IDMap{ContainerID: 0, HostID: 0, Size: identitySize}
}

// hostRoot is the host UID and GID the container's root is: 0:0 without a
// user namespace.
func (s *Spec) hostRoot() (uid, gid int) {
	if !s.UserNS() {
		return 0, 0
	}
	return int(s.UIDMappings[0].HostID), int(s.GIDMappings[0].HostID)
}

// validMappings accepts no mappings at all, the full identity for both
// (IdentityMap), or one range each for UIDs and GIDs that starts at
// container ID 0 on a host ID other than 0 (mapping the guest's root to
// host root otherwise would be a privileged container that only looks
// unprivileged) and does not wrap around.
func validMappings(uids, gids []IDMap) error {
	if len(uids) == 0 && len(gids) == 0 || isIdentity(uids) && isIdentity(gids) {
		return nil
	}
	if len(uids) != 1 || len(gids) != 1 {
		return fmt.Errorf("user namespace: want one UID and one GID range, got %d and %d: %w", len(uids), len(gids), vzerror.ErrInvalidValue)
	}
	for _, m := range []struct {
		kind string
		m    IDMap
	}{{"UID", uids[0]}, {"GID", gids[0]}} {
		switch {
		case m.m.ContainerID != 0:
			return fmt.Errorf("user namespace: the %s range must start at container ID 0, not %d: %w", m.kind, m.m.ContainerID, vzerror.ErrInvalidValue)
		case m.m.HostID == 0:
			return fmt.Errorf("user namespace: the %s range may not start at host ID 0: %w", m.kind, vzerror.ErrInvalidValue)
		case m.m.Size <= ttyGID || uint64(m.m.HostID)+uint64(m.m.Size) > math.MaxUint32:
			return fmt.Errorf("user namespace: %s range %d+%d is too small or past the last ID: %w", m.kind, m.m.HostID, m.m.Size, vzerror.ErrInvalidValue)
		}
	}
	return nil
}

func sysMappings(ms []IDMap) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(ms))
	for i, m := range ms {
		out[i] = syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)}
	}
	return out
}

// ownRunObjects gives the notify socket and the readiness fifo to the
// container's root (back to host root for a container without a user
// namespace): the guest connects and writes to them through their bind
// mounts, and a guest root that is not host root has no override on a
// file it does not own.
func (s *sup) ownRunObjects(uid, gid int) error {
	for _, n := range []string{notifyName, readyName} {
		p := filepath.Join(s.runDir, n)
		if err := os.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("giving %s to the container's root: %w: %w", p, err, vzerror.ErrSystem)
		}
	}
	return nil
}
