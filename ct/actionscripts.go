package ct

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"govz/conf"
	"govz/ct/attach"
	"govz/ct/vzerror"
)

// Action scripts, as vzctl runs them (vzctl(8) ACTION SCRIPTS), from the
// config directory ($VZ_ROOT/conf):
//
//	vps.premount  ID.premount    host, before the private area is mounted
//	vps.mount     ID.mount       host, right after it is mounted
//	              ID.start       inside the container, right after it started
//	              ID.stop        inside the container, right before it stops
//	vps.umount    ID.umount      host, before the private area is unmounted
//	vps.postumount ID.postumount host, after it was unmounted
//
// The global script runs first. Host scripts are executed as they are (they
// must be executable) with VEID, VE_CONFFILE, VE_ROOT, VE_PRIVATE, VZ_ROOT
// and PATH: vzctl's scripts sourced the shell configs to learn the paths,
// which a TOML config does not allow. The in-container ones are fed to the
// container's shell like `vzctl runscript`, with VEID set. A host script
// that fails makes the command fail with 79; a failing mount script undoes
// the mount.

const (
	phasePremount   = "premount"
	phaseMount      = "mount"
	phaseUmount     = "umount"
	phasePostumount = "postumount"
	phaseStart      = "start"
	phaseStop       = "stop"
)

// actionScripts returns the scripts of phase that exist, global first.
func (n *Node) actionScripts(id int, phase string) []string {
	var names []string
	if phase != phaseStart && phase != phaseStop {
		names = append(names, "vps."+phase)
	}
	names = append(names, strconv.Itoa(id)+"."+phase)
	var out []string
	for _, nm := range names {
		p := filepath.Join(n.Paths.ConfDir(), nm)
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// retireActionScripts renames a destroyed container's own scripts with a
// .destroyed suffix, as vzctl does: a new container with the same ID must
// not inherit them.
func (n *Node) retireActionScripts(id int) {
	for _, ph := range []string{phasePremount, phaseMount, phaseStart, phaseStop, phaseUmount, phasePostumount} {
		p := filepath.Join(n.Paths.ConfDir(), strconv.Itoa(id)+"."+ph)
		if err := os.Rename(p, p+".destroyed"); err != nil && !errors.Is(err, os.ErrNotExist) {
			n.Log.Warnf("retiring action script %s: %v", p, err)
		}
	}
}

// runHostScripts runs the host-side scripts of phase for container id.
func (n *Node) runHostScripts(id int, eff *conf.Config, phase string) error {
	for _, p := range n.actionScripts(id, phase) {
		cmd := exec.Command(p)
		cmd.Dir = "/"
		cmd.Env = []string{
			"VEID=" + strconv.Itoa(id),
			"VE_CONFFILE=" + n.Paths.CTConfig(id),
			"VE_ROOT=" + n.path(eff.VERoot, id),
			"VE_PRIVATE=" + n.path(eff.VEPrivate, id),
			conf.RootEnv + "=" + n.Paths.Root,
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		}
		cmd.Stdout, cmd.Stderr = n.Log.Out, n.Log.Err
		n.Log.Debugf(1, "Running action script %s", p)
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s action script %s: %v: %w", phase, p, err, vzerror.ErrActionScript)
		}
	}
	return nil
}

// runInsideScript runs ID.start or ID.stop inside running container id.
func (n *Node) runInsideScript(id int, phase string) error {
	for _, p := range n.actionScripts(id, phase) {
		n.Log.Debugf(1, "Running action script %s inside the container", p)
		st, err := attach.Runscript(n.RunDir(id), p, nil, attach.Options{Env: []string{"VEID=" + strconv.Itoa(id)}})
		if err == nil && st != 0 {
			err = fmt.Errorf("exit status %d", st)
		}
		if errors.Is(err, vzerror.ErrNoScript) {
			continue // removed meanwhile
		}
		if err != nil {
			return fmt.Errorf("%s action script %s: %v: %w", phase, p, err, vzerror.ErrActionScript)
		}
	}
	return nil
}
