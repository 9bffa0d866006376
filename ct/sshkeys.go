package ct

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"govz/conf"
	"govz/ct/authkeys"
	"govz/ct/inventory"
	"govz/ct/vzerror"
	"govz/internal/inroot"
)

// maxKeyFile caps what is read of a host key file or of the guest's
// authorized_keys.
const maxKeyFile = 1 << 20

// ParseSSHKey reads one --ssh-key value: a public key line when it holds
// a blank ("ssh-ed25519 AAAA... comment"), else a host file of them (an
// id_*.pub). Bad keys are ErrInvalidValue, an unreadable file
// ErrInvalidValue too (the value names it).
func ParseSSHKey(v string) ([]authkeys.Key, error) {
	if strings.ContainsAny(v, " \t") {
		k, err := authkeys.Parse(v)
		if err != nil {
			return nil, fmt.Errorf("--ssh-key: %w: %w", err, vzerror.ErrInvalidValue)
		}
		return []authkeys.Key{k}, nil
	}
	data, err := readKeyFile(v)
	if err != nil {
		return nil, fmt.Errorf("--ssh-key %s: %w: %w", v, err, vzerror.ErrInvalidValue)
	}
	keys, err := authkeys.ParseList(data, v)
	if err != nil {
		return nil, fmt.Errorf("--ssh-key: %w: %w", err, vzerror.ErrInvalidValue)
	}
	return keys, nil
}

// readKeyFile reads a regular file only: a FIFO would block the command.
func readKeyFile(p string) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err == nil && len(b) > maxKeyFile {
		err = fmt.Errorf("larger than %d bytes", maxKeyFile)
	}
	return b, err
}

// withGuestRoot runs fn on container id's root tree, running or not: a
// stopped container is mounted for it (and unmounted after); what names
// the option in a warning.
func (n *Node) withGuestRoot(id int, eff *conf.Config, what string, fn func(*inroot.Root) error) error {
	root := n.path(eff.VERoot, id)
	if !n.running(id, eff) {
		mp, err := inventory.IsMountPoint(root)
		if err != nil {
			return fmt.Errorf("reading mount table: %w: %w", err, vzerror.ErrSystem)
		}
		if !mp {
			if err := n.mount(id); err != nil {
				return err
			}
			defer func() {
				if err := n.umount(id); err != nil {
					n.Log.Warnf("unmounting container %d after %s: %v", id, what, err)
				}
			}()
		}
	}
	r, err := inroot.Open(root, inroot.SameMount)
	if err != nil {
		return fmt.Errorf("container %d root: %w: %w", id, err, vzerror.ErrSystem)
	}
	defer r.Close()
	return fn(r)
}

// setSSHKeys appends keys to the guest root's /root/.ssh/authorized_keys,
// running or not, from the host through internal/inroot: every path
// resolves inside the container's tree; a symlink at /root/.ssh or at
// authorized_keys is refused (even one that stays inside: the admin's
// keys go where sshd's StrictModes expects them, not where the guest
// points); a new .ssh is 0700 and a new file 0600, owned by the guest's
// root (0 on disk, which the idmapped root shows as the guest's root in
// a user-namespaced container); a key the file holds already is not
// added again.
func (n *Node) setSSHKeys(id int, eff *conf.Config, keys []authkeys.Key) error {
	if len(keys) == 0 {
		return nil
	}
	// The guest's root is UID and GID 0 on disk in both modes: a
	// user-namespaced container's root is an idmapped mount of the
	// private area that shows host 0 as its root (README, Unprivileged).
	const uid, gid = 0, 0
	return n.withGuestRoot(id, eff, "--ssh-key", func(r *inroot.Root) error {
		added, err := addAuthorizedKeys(r, keys, uid, gid)
		if err != nil {
			return fmt.Errorf("container %d: --ssh-key: %w", id, err)
		}
		n.Log.Infof("Added %d of %d SSH key(s) to /root/.ssh/authorized_keys in CT %d", added, len(keys), id)
		return nil
	})
}

const (
	sshDir         = "/root/.ssh"
	authorizedKeys = sshDir + "/authorized_keys"
)

func addAuthorizedKeys(r *inroot.Root, keys []authkeys.Key, uid, gid int) (int, error) {
	if st, err := r.Stat("/root"); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return 0, fmt.Errorf("the guest has no /root directory: %w", vzerror.ErrPermission)
	}
	if err := r.Mkdir(sshDir, 0o700, uid, gid); err != nil {
		return 0, fmt.Errorf("%w: %w", err, vzerror.ErrPermission)
	}
	st, err := r.Lstat(authorizedKeys)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return 0, fmt.Errorf("%w: %w", err, vzerror.ErrPermission)
	case inroot.Type(st.Mode&unix.S_IFMT) != inroot.Regular:
		return 0, fmt.Errorf("%w: %w", &inroot.TypeError{Path: r.Show(authorizedKeys), Got: inroot.Type(st.Mode & unix.S_IFMT), Want: inroot.Regular}, vzerror.ErrPermission)
	}
	var old []byte
	if err == nil {
		if old, err = r.ReadFile(authorizedKeys, maxKeyFile); err != nil {
			return 0, fmt.Errorf("%w: %w", err, vzerror.ErrPermission)
		}
	}
	out, added := authkeys.Add(old, keys)
	if added == 0 {
		return 0, nil
	}
	if err := r.WriteFileAs(authorizedKeys, out, 0o600, uid, gid); err != nil {
		return 0, fmt.Errorf("%w: %w", err, vzerror.ErrPermission)
	}
	return added, nil
}
