package conf

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"govz/ct/cgroup"
	"govz/ct/idmap"
	"govz/templates"
)

// Defaults is the built-in bottom layer: what an installation uses when
// vz.toml is missing or leaves a key unset.
func Defaults() *Config {
	s := func(v string) *string { return &v }
	b := func(v bool) *bool { return &v }
	i := func(v int) *int { return &v }
	return &Config{
		Template:      s("$VZ_ROOT/template"),
		LockDir:       s("$VZ_ROOT/lock"),
		DumpDir:       s("$VZ_ROOT/dump"),
		RunDir:        s("$VZ_ROOT/run"),
		DefOSTemplate: s("busybox-" + templates.HostArch()),
		ConfigFile:    s("vswap-256m"),
		Logging:       b(true),
		LogFile:       s("$VZ_ROOT/log/vzctl.log"),
		LogLevel:      i(0),
		Verbose:       i(0),
		CgroupParent:  s(cgroup.DefaultParent),
		NeighbourDevs: s("detect"),
		IPv6:          b(true),
		VERoot:        s("$VZ_ROOT/root/$VEID"),
		VEPrivate:     s("$VZ_ROOT/private/$VEID"),
		VELayout:      s("auto"),
		StopTimeout:   i(120),
		LocalIDPool:   s(idmap.DefaultPool),
		ShutdownTime:  i(300),
	}
}

// LoadGlobal returns the defaults overlaid with vz.toml, when it exists.
// The file is optional: an installation works with the built-in defaults.
func LoadGlobal(p Paths) (*Config, error) {
	g, err := LoadFile(p.GlobalConfig(), Global)
	if errors.Is(err, os.ErrNotExist) {
		return Defaults(), nil
	}
	if err != nil {
		return nil, err
	}
	m := Merge(Defaults(), g)
	// Kept for the warnings only: vz.toml is never written back.
	m.Extra = g.Extra
	return m, nil
}

//go:embed samples/*.toml
var builtinSamples embed.FS

// LoadSample returns config sample name: $VZ_ROOT/conf/samples/NAME.toml
// when the admin provides one, else the sample built into the binary.
func LoadSample(p Paths, name string) (*Config, error) {
	if err := ValidateFileName(name); err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	path := filepath.Join(p.SamplesDir(), name+".toml")
	c, err := LoadFile(path, CT)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return c, err
	}
	data, err := builtinSamples.ReadFile("samples/" + name + ".toml")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sample %q not found in %s or built in: %w", name, p.SamplesDir(), ErrNoSample)
	}
	if err != nil {
		return nil, err
	}
	return Parse("built-in sample "+name, data, CT)
}

// SampleNames lists the built-in samples.
func SampleNames() []string {
	ents, _ := builtinSamples.ReadDir("samples")
	var out []string
	for _, e := range ents {
		out = append(out, e.Name()[:len(e.Name())-len(".toml")])
	}
	return out
}

// Str returns the value of a string key, "" when unset.
func Str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Int returns the value of an integer key, def when unset.
func Int(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

// Bool returns the value of a boolean key, def when unset.
func Bool(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// YesNo renders a boolean the way vzctl prints it.
func YesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// Itoa formats an int.
func Itoa(i int) string { return strconv.Itoa(i) }
