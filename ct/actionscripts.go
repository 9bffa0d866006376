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
	"govz/ct/vzlog"
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
	return actionScriptsIn(n.Paths.ConfDir(), id, phase)
}

func actionScriptsIn(confDir string, id int, phase string) []string {
	var names []string
	if phase != phaseStart && phase != phaseStop {
		names = append(names, "vps."+phase)
	}
	names = append(names, strconv.Itoa(id)+"."+phase)
	var out []string
	for _, nm := range names {
		p := filepath.Join(confDir, nm)
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

// scriptEnv is what a host action script is told of its container.
type scriptEnv struct {
	ID       int    `json:"id"`
	ConfDir  string `json:"conf_dir"`
	ConfFile string `json:"conf_file"`
	Root     string `json:"root"`
	Private  string `json:"private"`
	VZRoot   string `json:"vz_root"`
}

func (c *Container) scriptEnv() scriptEnv {
	return scriptEnv{ID: c.ID, ConfDir: c.ConfDir, ConfFile: c.ConfFile, Root: c.Root, Private: c.Private, VZRoot: c.VZRoot}
}

// runHostScripts runs the host-side scripts of phase for container c.
func (n *Node) runHostScripts(c *Container, phase string) error {
	return c.scriptEnv().run(n.Log, phase)
}

func (e scriptEnv) run(log *vzlog.Logger, phase string) error {
	for _, p := range actionScriptsIn(e.ConfDir, e.ID, phase) {
		cmd := exec.Command(p)
		cmd.Dir = "/"
		cmd.Env = []string{
			"VEID=" + strconv.Itoa(e.ID),
			"VE_CONFFILE=" + e.ConfFile,
			"VE_ROOT=" + e.Root,
			"VE_PRIVATE=" + e.Private,
			conf.RootEnv + "=" + e.VZRoot,
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		}
		cmd.Stdout, cmd.Stderr = log.Out, log.Err
		log.Debugf(1, "Running action script %s", p)
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s action script %s: %w: %w", phase, p, err, vzerror.ErrActionScript)
		}
	}
	return nil
}

// runInsideScript runs ID.start or ID.stop inside running container id.
func (n *Node) runInsideScript(id int, phase string) error {
	for _, p := range n.actionScripts(id, phase) {
		n.Log.Debugf(1, "Running action script %s inside the container", p)
		st, err := attach.Runscript(n.RunDir(id), p, nil, attach.Options{Env: []string{"VEID=" + strconv.Itoa(id)}, Debug: n.debugf})
		if err == nil && st != 0 {
			err = fmt.Errorf("exit status %d", st)
		}
		if errors.Is(err, vzerror.ErrNoScript) {
			continue // removed meanwhile
		}
		if err != nil {
			return fmt.Errorf("%s action script %s: %w: %w", phase, p, err, vzerror.ErrActionScript)
		}
	}
	return nil
}
