// Package overlay is the thin kernel layer of the overlay storage layout:
// an overlayfs mount of a shared, read-only template tree (the lower
// layer) and one container's upper and work directories, optionally seen
// through idmapped mounts of both (Linux 5.19 takes idmapped layers).
//
// overlayfs itself refuses to be idmapped (it is not FS_ALLOW_IDMAP:
// mount_setattr(MOUNT_ATTR_IDMAP) on an overlay mount fails with EINVAL,
// checked on 6.18), so a container with an ID range of its own gets an
// overlay built on idmapped layers instead, and its root needs no further
// mapping.
//
// The layers are idmapped as detached mounts (open_tree + mount_setattr),
// attached at staging directories only long enough for the overlay mount
// to look them up: overlayfs takes private clones of its layers
// (clone_private_mount), which before Linux 6.15 must be mounts of the
// caller's namespace, so a /proc/self/fd path of a detached mount is
// refused on Debian 12's 6.1.
package overlay

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Options every mount gets: the upper layer is written by the container's
// root, so nothing it could put there may be followed to a file outside
// the layers. redirect_dir=nofollow: a directory rename is a copy and no
// overlay.redirect xattr is followed (an absolute redirect names any path
// in the lower layers; "off" means "follow" on kernels built with
// OVERLAY_FS_REDIRECT_ALWAYS_FOLLOW, Debian's among them). metacopy=off: no metadata-only copy-up and no
// overlay.metacopy xattr followed to another layer's data. index=off and
// nfs_export=off: no file handles of lower inodes are stored or decoded.
// The xattrs live in the trusted.overlay namespace (not userxattr), which
// only CAP_SYS_ADMIN of the initial user namespace may set directly on
// the upper directory, and overlayfs refuses to set its own xattrs through
// the overlay mount (Documentation/filesystems/overlayfs.rst, "Permission
// model" and "Non-standard behavior").
const safeOptions = "redirect_dir=nofollow,metacopy=off,index=off,nfs_export=off"

// IDMap is one line of a uid_map or gid_map.
type IDMap struct {
	ContainerID, HostID, Size uint32
}

// Spec is one overlay mount.
type Spec struct {
	Lower  string // the read-only template tree
	Layers string // the directory holding Upper and Work (one mount: overlayfs needs both on the same one)
	Upper  string // name of the upper directory in Layers
	Work   string // name of the work directory in Layers
	Stage  string // an empty directory for staging idmapped layers (Stage/lower, Stage/layers)
	Target string
	// UIDs and GIDs, when set, idmap both layers: a file owned by k on
	// disk is seen as the container's k.
	UIDs, GIDs []IDMap
}

// Mount mounts the overlay described by s at s.Target, with private
// propagation.
func Mount(s Spec) (err error) {
	lower, layers := s.Lower, s.Layers
	if len(s.UIDs) > 0 {
		var undo func()
		lower, layers, undo, err = stageIDMapped(s)
		if err != nil {
			return err
		}
		// The overlay holds clones of the layers: the staged mounts go
		// whether the mount worked or not.
		defer undo()
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s/%s,workdir=%s/%s,%s", escape(lower), escape(layers), s.Upper, escape(layers), s.Work, safeOptions)
	uid, gid := 0, 0
	if len(s.UIDs) > 0 {
		uid, gid = int(s.UIDs[0].HostID), int(s.GIDs[0].HostID)
	}
	if err := asMounter(uid, gid, func() error { return unix.Mount("overlay", s.Target, "overlay", 0, opts) }); err != nil {
		return fmt.Errorf("mounting overlay at %s (%s): %w", s.Target, opts, err)
	}
	if err := unix.Mount("", s.Target, "", unix.MS_PRIVATE, ""); err != nil {
		unix.Unmount(s.Target, unix.MNT_DETACH)
		return fmt.Errorf("making %s private: %w", s.Target, err)
	}
	return nil
}

// asMounter runs mount as host root with fsuid and fsgid uid and gid (the
// container's root; 0 for an identity-mapped one), with every capability
// but CAP_SYS_RESOURCE. overlayfs records the mounter's credentials and
// does its work in the upper layer with them: creating work/work, copy-up
// and the chown after it, and every write, create and fallocate made
// through the overlay (ovl_override_creds).
//
//   - A file created through an idmapped mount gets the on-disk owner the
//     mount maps the creator's fsuid back to: host root's 0 is in no
//     container's range (EOVERFLOW, and the overlay falls back to
//     read-only), the container root's maps to 0. setfsuid(2) away from 0
//     drops the file system capabilities from the effective set; they are
//     raised again, as CAP_CHOWN is needed to give a copied-up file its
//     owner.
//   - Quota is checked against the credentials of whoever allocates, here
//     the mounter's, and does not bind CAP_SYS_RESOURCE (ignore_hardlimit
//     in fs/quota/dquot.c): a mounter with it would let every container
//     write past its project quota. overlayfs lowers it in the recorded
//     credentials itself ("never override disk quota limits or use
//     reserved space", ovl_fill_super; seen on 6.1 and 6.18); it is
//     dropped here too so the limit does not rest on that alone. Either
//     way the limit binds whatever the writer's own capabilities.
//
// Both changes are per thread: the thread runs nothing else, and ends
// with its goroutine.
func asMounter(uid, gid int, mount func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the changed thread must not serve another
		// goroutine; the runtime ends it when this one returns.
		unix.Setfsgid(gid)
		unix.Setfsuid(uid)
		if err := mounterCaps(); err != nil {
			done <- err
			return
		}
		done <- mount()
	}()
	return <-done
}

// mounterCaps makes the calling thread's effective capabilities its
// permitted ones less CAP_SYS_RESOURCE.
func mounterCaps() error {
	h := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var d [2]unix.CapUserData
	if err := unix.Capget(&h, &d[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	d[0].Effective, d[1].Effective = d[0].Permitted, d[1].Permitted
	d[unix.CAP_SYS_RESOURCE/32].Effective &^= 1 << (unix.CAP_SYS_RESOURCE % 32)
	if err := unix.Capset(&h, &d[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// escape protects the characters overlayfs splits its options and layer
// lists on.
func escape(p string) string {
	return strings.NewReplacer(`\`, `\\`, `,`, `\,`, `:`, `\:`).Replace(p)
}

// stageIDMapped attaches idmapped clones of s.Lower and s.Layers at
// s.Stage/lower and s.Stage/layers and returns their paths and how to
// detach them.
func stageIDMapped(s Spec) (lower, layers string, undo func(), err error) {
	ns, stop, err := userNS(s.UIDs, s.GIDs)
	if err != nil {
		return "", "", nil, err
	}
	defer stop()
	var attached []string
	undo = func() {
		for _, p := range attached {
			unix.Unmount(p, unix.MNT_DETACH)
		}
	}
	for _, l := range []struct{ src, dst string }{{s.Lower, s.Stage + "/lower"}, {s.Layers, s.Stage + "/layers"}} {
		if err := os.MkdirAll(l.dst, 0o700); err != nil {
			undo()
			return "", "", nil, err
		}
		if err := attachIDMapped(l.src, l.dst, ns); err != nil {
			undo()
			return "", "", nil, err
		}
		attached = append(attached, l.dst)
	}
	return attached[0], attached[1], undo, nil
}

// attachIDMapped attaches an idmapped, non-recursive, private clone of src
// at dst.
func attachIDMapped(src, dst string, usernsFD int) error {
	mfd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return &fs.PathError{Op: "open_tree", Path: src, Err: err}
	}
	defer unix.Close(mfd)
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV,
		Userns_fd: uint64(usernsFD), Propagation: unix.MS_PRIVATE}
	if err := unix.MountSetattr(mfd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		return &fs.PathError{Op: "mount_setattr idmap", Path: src, Err: err}
	}
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return &fs.PathError{Op: "move_mount", Path: dst, Err: err}
	}
	return nil
}

// userNS returns a descriptor of a user namespace with the given
// mappings, held by a short-lived child (a multi-threaded Go process
// cannot unshare one), and how to let it go.
func userNS(uids, gids []IDMap) (int, func(), error) {
	cat, err := exec.LookPath("cat")
	if err != nil {
		return -1, nil, fmt.Errorf("making a user namespace for the idmapped layers: %w", err)
	}
	conv := func(ms []IDMap) []syscall.SysProcIDMap {
		var out []syscall.SysProcIDMap
		for _, m := range ms {
			out = append(out, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		return out
	}
	c := exec.Command(cat)
	in, err := c.StdinPipe()
	if err != nil {
		return -1, nil, err
	}
	c.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER,
		UidMappings: conv(uids), GidMappings: conv(gids), Pdeathsig: unix.SIGKILL}
	if err := c.Start(); err != nil {
		return -1, nil, fmt.Errorf("making a user namespace for the idmapped layers: %w", err)
	}
	stop := func() { in.Close(); c.Wait() }
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", c.Process.Pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		stop()
		return -1, nil, fmt.Errorf("opening the user namespace of the idmapped layers: %w", err)
	}
	return fd, func() { unix.Close(fd); stop() }, nil
}

// Unmount unmounts the overlay at target.
func Unmount(target string) error {
	if err := unix.Unmount(target, 0); err != nil {
		return fmt.Errorf("unmounting %s: %w", target, err)
	}
	return nil
}

// ErrNoOverlay is a kernel without overlayfs.
var ErrNoOverlay = errors.New("the kernel has no overlay file system")

// Check tells whether the kernel knows overlayfs (the module may load on
// first mount, so an absent /proc/filesystems line is not final).
func Check() error {
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil || strings.Contains(string(b), "\toverlay\n") {
		return nil
	}
	if _, err := os.Stat("/sys/module/overlay"); err == nil {
		return nil
	}
	if out, err := exec.Command("modprobe", "overlay").CombinedOutput(); err != nil {
		return fmt.Errorf("%w (modprobe overlay: %s)", ErrNoOverlay, strings.TrimSpace(string(out)))
	}
	return nil
}
