package conf

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultRoot is where an installation lives unless VZ_ROOT says otherwise.
const DefaultRoot = "/vz"

// RootEnv names the environment variable that relocates the whole
// installation, the global config included, so tests and a second "node" on
// one machine never touch /vz.
const RootEnv = "VZ_ROOT"

// Paths is the directory layout of one installation. Every path govz uses
// derives from Root, either directly or through the global config, whose
// defaults are themselves under Root.
type Paths struct {
	Root string
}

// PathsFromEnv returns the layout rooted at $VZ_ROOT, or /vz.
func PathsFromEnv() Paths {
	r := os.Getenv(RootEnv)
	if r == "" {
		r = DefaultRoot
	}
	return Paths{Root: filepath.Clean(r)}
}

// ConfDir holds vz.toml, CTID.toml files, samples/ and names/.
func (p Paths) ConfDir() string { return filepath.Join(p.Root, "conf") }

// GlobalConfig is the global configuration file (vzctl's /etc/vz/vz.conf).
func (p Paths) GlobalConfig() string { return filepath.Join(p.ConfDir(), "vz.toml") }

// CTConfig is the configuration file of container id.
func (p Paths) CTConfig(id int) string {
	return filepath.Join(p.ConfDir(), strconv.Itoa(id)+".toml")
}

// SamplesDir holds admin-provided config samples (NAME.toml); they take
// precedence over the samples built into the binary.
func (p Paths) SamplesDir() string { return filepath.Join(p.ConfDir(), "samples") }

// NamesDir holds one symlink per container name, pointing at the config
// (vzctl's /etc/vz/names): symlink creation is atomic, which makes names
// unique without a global lock.
func (p Paths) NamesDir() string { return filepath.Join(p.ConfDir(), "names") }

// Expand replaces $VZ_ROOT and $VEID in a configured path. id < 0 leaves
// $VEID alone.
func (p Paths) Expand(s string, id int) string {
	s = strings.ReplaceAll(s, "$VZ_ROOT", p.Root)
	s = strings.ReplaceAll(s, "${VZ_ROOT}", p.Root)
	if id >= 0 {
		s = strings.ReplaceAll(s, "$VEID", strconv.Itoa(id))
		s = strings.ReplaceAll(s, "${VEID}", strconv.Itoa(id))
	}
	return s
}
