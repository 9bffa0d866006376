package checkpoint

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// cgroupFSKey is the container's /sys/fs/cgroup on a cgroup v1 host: the
// boot's read-only tmpfs holding only the hierarchies' mount points and
// the co-mount symlinks (cgroup.Group.GuestMounts). CRIU would save it as
// a tar, one fork and exec of tar and gzip on dump and of tar on restore
// (a twentieth of a second each on an idle 2-CPU host), for content the
// dump's record holds in a few names. The restore binds a tmpfs made like
// it (prepareCgroupFS) and mounts the hierarchies on it as before.
const cgroupFSKey = "govz-cgroupfs"

// CgroupEntry is one entry of the container's /sys/fs/cgroup tmpfs: a
// directory (a hierarchy's mount point), or a symlink when Link is set.
type CgroupEntry struct {
	Name string `json:"name"`
	Link string `json:"link,omitempty"`
}

// readCgroupFS lists the container's /sys/fs/cgroup when it is the boot's
// read-only tmpfs of mount points and symlinks, as mountinfo (the init's)
// and the directory through root (its root as the host sees it) show it;
// nil when it is anything else (cgroup v2's one cgroup2 mount, a tmpfs
// the guest remounted writable or put other files in), which CRIU then
// saves as it does any mount. Read-only, it cannot change until the dump:
// that would take a remount, which no guest init does.
func readCgroupFS(mountinfo, root string) ([]CgroupEntry, error) {
	b, err := os.ReadFile(mountinfo)
	if err != nil {
		return nil, err
	}
	ro := false
	for _, l := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 6 || len(g) < 1 || f[4] != "/sys/fs/cgroup" {
			continue
		}
		// The last mount there is the one the guest sees.
		ro = g[0] == "tmpfs" && hasOpt(f[5], "ro")
	}
	if !ro {
		return nil, nil
	}
	dir := filepath.Join(root, "sys/fs/cgroup")
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []CgroupEntry
	for _, de := range des {
		switch de.Type() {
		case fs.ModeDir:
			out = append(out, CgroupEntry{Name: de.Name()})
		case fs.ModeSymlink:
			l, err := os.Readlink(filepath.Join(dir, de.Name()))
			if err != nil {
				return nil, err
			}
			out = append(out, CgroupEntry{Name: de.Name(), Link: l})
		default:
			return nil, nil
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func hasOpt(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

// prepareCgroupFS mounts at dir a tmpfs as the boot's /sys/fs/cgroup
// (cgroup.Group.GuestMounts): mode 755, owned by the container's root
// (uid, gid), the entries, then read-only, nosuid, nodev, noexec, which a
// bind made inside the user namespace keeps. The returned func unmounts
// the host's side.
func prepareCgroupFS(dir string, entries []CgroupEntry, uid, gid int) (func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	data := fmt.Sprintf("mode=755,uid=%d,gid=%d", uid, gid)
	if err := unix.Mount("tmpfs", dir, "tmpfs", flags, data); err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("mounting %s: %w", dir, err)
	}
	undo := func() {
		unix.Unmount(dir, unix.MNT_DETACH)
		os.Remove(dir)
	}
	err := func() error {
		for _, e := range entries {
			if e.Name == "" || strings.Contains(e.Name, "/") || e.Name == "." || e.Name == ".." {
				return fmt.Errorf("bad /sys/fs/cgroup entry %q in the dump's record", e.Name)
			}
			p := filepath.Join(dir, e.Name)
			if e.Link != "" {
				if err := os.Symlink(e.Link, p); err != nil {
					return err
				}
			} else {
				if err := os.Mkdir(p, 0o755); err != nil {
					return err
				}
				if err := os.Chmod(p, 0o755); err != nil { // past the umask
					return err
				}
			}
			if err := os.Lchown(p, uid, gid); err != nil {
				return err
			}
		}
		return unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY|flags, data)
	}()
	if err != nil {
		undo()
		return nil, fmt.Errorf("preparing %s: %w", dir, err)
	}
	return undo, nil
}
