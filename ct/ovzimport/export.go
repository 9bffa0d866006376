package ovzimport

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"govz/conf"
	"govz/conf/atomicfile"
	"govz/conf/ovzconf"
	"govz/ct"
	"govz/ct/storage"
	"govz/ct/vzerror"
)

// Export writes stopped container id as an OpenVZ node's files under dir,
// so that a move can be undone: DIR/etc/vz/conf/CTID.conf (vzctl 4.x
// syntax), its action scripts and name link, and the private area as a
// simfs directory at DIR/vz/private/CTID. The files keep the container's
// own IDs (govz maps them at mount), as a simfs area has them. The config
// is written last: an export that stops half way leaves no config.
func Export(n *ct.Node, id int, dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("export to %s: %w: %w", dir, err, vzerror.ErrInvalidValue)
	}
	cdir := filepath.Join(dir, confDir)
	cfg := filepath.Join(cdir, strconv.Itoa(id)+".conf")
	private := filepath.Join(dir, "vz", "private", strconv.Itoa(id))
	for _, p := range []string{cfg, private} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists already: %w", p, vzerror.ErrPrivateExists)
		}
	}
	return n.WithLock(id, "export", func(layer *conf.Config) error {
		eff := n.Effective(layer)
		src := filepath.Clean(n.Paths.Expand(conf.Str(eff.VEPrivate), id))
		for _, d := range []string{cdir, filepath.Dir(private)} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("creating %s: %w: %w", d, err, vzerror.ErrCreatePrivate)
			}
		}
		n.Log.Infof("Exporting container %d to %s", id, private)
		if err := exportFiles(n, id, conf.Str(eff.VELayout), src, private); err != nil {
			return err
		}
		for _, ph := range Phases {
			s := filepath.Join(n.Paths.ConfDir(), strconv.Itoa(id)+"."+ph)
			if data, err := os.ReadFile(s); err == nil {
				if err := atomicfile.WriteFile(filepath.Join(cdir, strconv.Itoa(id)+"."+ph), data, 0o755); err != nil {
					return fmt.Errorf("exporting action script %s: %w: %w", s, err, vzerror.ErrConfigSave)
				}
			}
		}
		if nm := conf.Str(layer.Name); nm != "" {
			nd := filepath.Join(dir, namesDir)
			if err := os.MkdirAll(nd, 0o755); err == nil {
				os.Remove(filepath.Join(nd, nm))
				os.Symlink(filepath.Join("..", "conf", strconv.Itoa(id)+".conf"), filepath.Join(nd, nm))
			}
		}
		body := "# Exported by govz from " + n.Paths.CTConfig(id) + "\n" + ovzconf.Format(ovzconf.FromConfig(layer))
		if err := atomicfile.WriteFile(cfg, []byte(body), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w: %w", cfg, err, vzerror.ErrConfigSave)
		}
		n.Log.Infof("CT configuration saved to %s", cfg)
		return nil
	})
}

// exportFiles copies the container's tree into private (through a
// temporary): from the directory itself for dir and btrfs, from the
// image mounted on a scratch mount point for image.
func exportFiles(n *ct.Node, id int, layout, src, private string) error {
	if layout != "image" {
		return copyTree(src, private)
	}
	lay, err := storage.Open(layout, n.Log)
	if err != nil {
		return err
	}
	mnt, err := os.MkdirTemp(filepath.Dir(private), ".export-mnt-")
	if err != nil {
		return fmt.Errorf("creating a mount point: %w: %w", err, vzerror.ErrMountPoint)
	}
	defer os.Remove(mnt)
	c := storage.CT{ID: id, Private: src, Root: mnt}
	if err := lay.Mount(c); err != nil {
		return err
	}
	err = copyTree(mnt, private)
	if uerr := lay.Umount(c); uerr != nil && err == nil {
		err = uerr
	}
	return err
}
