package templates

import (
	"debug/elf"
	"embed"
	"fmt"
	"slices"
	"strings"

	"govz/ct/vzerror"
)

//go:embed recipes/*.sh
var recipeFiles embed.FS

// busyboxPath is where Debian's busybox-static installs its binary.
const busyboxPath = "/bin/busybox"

// Recipes returns the names Build accepts.
func Recipes() []string {
	return []string{"busybox", "debian"}
}

// recipe is a resolved build: the script to run, the template it makes and
// the environment the script gets (see the package documentation).
type recipe struct {
	name     string
	template string
	// stem is the template name without its flavour (debian-12-x86_64):
	// what a base template's name must start with.
	stem   string
	script []byte
	env    []string
}

// resolveRecipe checks a build request and turns it into a recipe for the
// machine architecture goarch. aptDir (/etc/apt) supplies the default mirror.
func resolveRecipe(name string, opt BuildOptions, goarch, aptDir string) (recipe, error) {
	a, err := archFor(goarch)
	if err != nil {
		return recipe{}, err
	}
	r := recipe{name: name}
	switch name {
	case "busybox":
		if opt.Suite != "" || opt.Mirror != "" || opt.Init != "" || opt.Network != "" {
			return recipe{}, fmt.Errorf("recipe busybox takes no suite, mirror, init or network: %w", vzerror.ErrInvalidValue)
		}
		r.template = "busybox-" + a.ovz
		r.env = []string{"BUSYBOX=" + busyboxPath}
	case "debian":
		suite := opt.Suite
		if suite == "" {
			suite = DefaultSuite
		}
		rel, err := releaseFor(suite)
		if err != nil {
			return recipe{}, err
		}
		mirror := opt.Mirror
		if mirror == "" {
			mirror = defaultMirror(hostAptSources(aptDir), rel.distro, a)
		}
		err = checkMirror(mirror)
		if err != nil {
			return recipe{}, err
		}
		v, err := variantFor(opt.Init, opt.Network)
		if err != nil {
			return recipe{}, err
		}
		r.stem = rel.templateName(a)
		r.template = r.stem + v.flavour()
		r.env = []string{"DISTRO=" + rel.distro, "SUITE=" + suite, "MIRROR=" + mirror,
			"INIT=" + v.init, "NETWORK=" + v.network}
	default:
		return recipe{}, fmt.Errorf("unknown recipe %q (known: %s): %w",
			name, strings.Join(Recipes(), ", "), vzerror.ErrInvalidValue)
	}
	prelude, err := recipeFiles.ReadFile("recipes/prelude.sh")
	if err != nil {
		return recipe{}, fmt.Errorf("reading embedded prelude: %w", err)
	}
	body, err := recipeFiles.ReadFile("recipes/" + name + ".sh")
	if err != nil {
		return recipe{}, fmt.Errorf("reading embedded recipe %s: %w", name, err)
	}
	r.script = append(append(prelude, '\n'), body...)
	r.env = append(r.env, "ARCH="+a.ovz, "DEB_ARCH="+a.deb, "TEMPLATE="+r.template)
	return r, nil
}

// checkStatic fails unless path is a statically linked ELF executable: the
// busybox template has no libc, so a dynamic busybox would not run in it.
// Debian's "busybox" package is dynamic; "busybox-static" is not.
func checkStatic(path string) error {
	hint := "apt-get install busybox-static"
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("checking %s (%s): %w: %w", path, hint, err, vzerror.ErrSystem)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked, the template needs a static busybox: %s: %w",
				path, hint, vzerror.ErrSystem)
		}
	}
	libs, err := f.ImportedLibraries()
	if err == nil && len(libs) > 0 {
		return fmt.Errorf("%s needs shared libraries %v, the template needs a static busybox: %s: %w",
			path, libs, hint, vzerror.ErrSystem)
	}
	return nil
}

// withBase makes r start from the cached template base instead of a fresh
// tree. The base must be of the same distribution, release and architecture
// (its name is r's stem, or the stem and a flavour) and must not be the
// template being built.
func withBase(r recipe, c Cache, base string) (recipe, error) {
	if r.stem == "" {
		return recipe{}, fmt.Errorf("recipe %s takes no base template: %w", r.name, vzerror.ErrInvalidValue)
	}
	if base == r.template {
		return recipe{}, fmt.Errorf("base template %s is the template being built: %w", base, vzerror.ErrInvalidValue)
	}
	if base != r.stem && !strings.HasPrefix(base, r.stem+"-") {
		return recipe{}, fmt.Errorf("base template %q is not a %s template: %w", base, r.stem, vzerror.ErrInvalidValue)
	}
	path, err := c.Find(base)
	if err != nil {
		return recipe{}, fmt.Errorf("base template: %w", err)
	}
	r.env = append(slices.Clip(r.env), "BASE="+path)
	return r, nil
}
