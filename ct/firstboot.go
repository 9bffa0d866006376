package ct

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"govz/ct/storage"
	"govz/ct/vzerror"
	"govz/internal/inroot"
)

// freshIdentity gives a new container what OpenVZ's postcreate and cloud
// images' first boot give: nothing a template froze that must be unique
// per machine. It runs at create, before the config is written, on the
// private area mounted the way its layout mounts it (no action scripts:
// the container does not exist yet).
//
//   - /etc/machine-id (and a /var/lib/dbus/machine-id copy that is not a
//     link to it): a fresh random ID. An empty or "uninitialized" one is
//     left: systemd then generates one at first boot (machine-id(5)),
//     which is what govz's own templates ship.
//   - SSH host keys: replaced by fresh ones of the same types, made by the
//     host's ssh-keygen (a host binary; no guest binary runs as host
//     root). Debian's ssh.service does not regenerate missing keys (its
//     ExecStartPre is `sshd -t`, which fails without them), so removing
//     them alone would break sshd; without ssh-keygen on the host they are
//     removed with a warning naming the guest command that makes them.
//   - Random seeds (systemd's and sysvinit's): fresh bytes, so two
//     containers' kernels' pools are not credited the same seed.
//   - systemd drop-ins turning off the few sandboxing settings that would
//     make the container uncheckpointable (checkpointDropIns).
func (n *Node) freshIdentity(lay storage.Layout, c storage.CT) error {
	if err := lay.Mount(c); err != nil {
		return err
	}
	defer func() {
		if err := lay.Umount(c); err != nil {
			n.Log.Warnf("unmounting container %d after create: %v", c.ID, err)
		}
	}()
	r, err := inroot.Open(c.Root, inroot.SameMount)
	if err != nil {
		return fmt.Errorf("container %d root: %w: %w", c.ID, err, vzerror.ErrCreatePrivate)
	}
	defer r.Close()
	if err := freshMachineID(r); err != nil {
		return fmt.Errorf("container %d machine-id: %w: %w", c.ID, err, vzerror.ErrCreatePrivate)
	}
	if err := n.freshSSHKeys(r, c.ID); err != nil {
		return fmt.Errorf("container %d ssh host keys: %w: %w", c.ID, err, vzerror.ErrCreatePrivate)
	}
	if err := checkpointDropIns(r); err != nil {
		return fmt.Errorf("container %d systemd drop-ins: %w: %w", c.ID, err, vzerror.ErrCreatePrivate)
	}
	for _, p := range []string{"/var/lib/systemd/random-seed", "/var/lib/urandom/random-seed"} {
		if _, ok := readOwn(r, p); !ok {
			continue
		}
		seed := make([]byte, 512)
		rand.Read(seed)
		if err := r.WriteFile(p, seed, 0o600); err != nil {
			return fmt.Errorf("container %d random seed: %w: %w", c.ID, err, vzerror.ErrCreatePrivate)
		}
	}
	return nil
}

// readOwn reads the regular file p, refusing a symlink at p (a link to
// another file is that file's business) and anything not small.
func readOwn(r *inroot.Root, p string) ([]byte, bool) {
	f, err := r.OpenFile(p, unix.O_RDONLY|unix.O_NOFOLLOW, inroot.Regular)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	return b, err == nil
}

func freshMachineID(r *inroot.Root) error {
	cur, ok := readOwn(r, "/etc/machine-id")
	if !ok {
		return nil
	}
	if s := strings.TrimSpace(string(cur)); s == "" || s == "uninitialized" {
		return nil
	}
	b := make([]byte, 16)
	rand.Read(b)
	// A v4 UUID's bits, as systemd's sd_id128_randomize() makes them.
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	id := hex.EncodeToString(b) + "\n"
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if _, ok := readOwn(r, p); !ok {
			continue
		}
		if err := r.WriteFile(p, []byte(id), 0o444); err != nil {
			return err
		}
	}
	return nil
}

// sshKeyTypes are the host key types OpenSSH has made (ssh-keygen -A).
var sshKeyTypes = []string{"rsa", "ecdsa", "ed25519", "dsa"}

func (n *Node) freshSSHKeys(r *inroot.Root, id int) error {
	var found []string
	for _, t := range sshKeyTypes {
		if r.Exists("/etc/ssh/ssh_host_" + t + "_key") {
			found = append(found, t)
		}
	}
	if len(found) == 0 {
		return nil
	}
	keygen, lookErr := exec.LookPath("ssh-keygen")
	tmp, err := os.MkdirTemp("", "govz-hostkeys-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, t := range found {
		key := "/etc/ssh/ssh_host_" + t + "_key"
		if lookErr != nil {
			for _, p := range []string{key, key + ".pub"} {
				if err := r.Remove(p); err != nil {
					return err
				}
			}
			continue
		}
		out := filepath.Join(tmp, t)
		cmd := exec.Command(keygen, "-q", "-t", t, "-N", "", "-C", fmt.Sprintf("root@ct%d", id), "-f", out)
		if msg, err := cmd.CombinedOutput(); err != nil {
			// A type this OpenSSH no longer makes (DSA since 9.8): the
			// template's key goes, not a shared one stays.
			n.Log.Warnf("container %d: removing the template's %s host key: ssh-keygen -t %s: %v: %s", id, t, t, err, strings.TrimSpace(string(msg)))
			for _, p := range []string{key, key + ".pub"} {
				if err := r.Remove(p); err != nil {
					return err
				}
			}
			continue
		}
		for _, f := range []struct {
			src, dst string
			perm     os.FileMode
		}{{out, key, 0o600}, {out + ".pub", key + ".pub", 0o644}} {
			b, err := os.ReadFile(f.src)
			if err != nil {
				return err
			}
			if err := r.WriteFile(f.dst, b, f.perm); err != nil {
				return err
			}
		}
	}
	if lookErr != nil {
		n.Log.Warnf("container %d: the template's SSH host keys were removed and no ssh-keygen on this node makes new ones: run `ssh-keygen -A` in the container before starting sshd", id)
	}
	return nil
}
