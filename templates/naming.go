package templates

import (
	"fmt"
	"runtime"
	"strings"

	"govz/ct/vzerror"
)

// arch is one machine architecture under its three names.
type arch struct {
	goarch string // runtime.GOARCH
	ovz    string // OpenVZ template names (uname -m style)
	deb    string // dpkg --print-architecture
}

var arches = [...]arch{
	{"amd64", "x86_64", "amd64"},
	{"386", "x86", "i386"},
	{"arm64", "aarch64", "arm64"},
	{"arm", "armhf", "armhf"},
	{"ppc64le", "ppc64le", "ppc64el"},
	{"s390x", "s390x", "s390x"},
	{"riscv64", "riscv64", "riscv64"},
	{"loong64", "loongarch64", "loong64"},
}

// HostArch is this machine's architecture as OpenVZ template names spell
// it (centos-6-x86_64); GOARCH when the table has no entry.
func HostArch() string {
	if a, err := archFor(runtime.GOARCH); err == nil {
		return a.ovz
	}
	return runtime.GOARCH
}

// archFor maps a Go architecture to its OpenVZ and Debian names.
func archFor(goarch string) (arch, error) {
	for _, a := range arches {
		if a.goarch == goarch {
			return a, nil
		}
	}
	return arch{}, fmt.Errorf("no template architecture name for GOARCH %s: %w", goarch, vzerror.ErrInvalidValue)
}

// release is one Debian or Ubuntu suite and the version its template is
// named after.
type release struct {
	distro, suite, version string
}

// releases lists the suites the debian recipe knows how to name. Aliases
// (stable, testing) are refused: a template name must not change meaning
// when Debian releases.
var releases = [...]release{
	{"debian", "buster", "10"},
	{"debian", "bullseye", "11"},
	{"debian", "bookworm", "12"},
	{"debian", "trixie", "13"},
	{"debian", "forky", "14"},
	{"debian", "duke", "15"},
	{"debian", "sid", "sid"},
	{"debian", "unstable", "sid"},
	{"ubuntu", "focal", "20.04"},
	{"ubuntu", "jammy", "22.04"},
	{"ubuntu", "noble", "24.04"},
	{"ubuntu", "plucky", "25.04"},
	{"ubuntu", "questing", "25.10"},
}

// DefaultSuite is the suite the debian recipe builds when none is given.
const DefaultSuite = "bookworm"

// releaseFor returns the release of a suite code name.
func releaseFor(suite string) (release, error) {
	for _, r := range releases {
		if r.suite == suite {
			return r, nil
		}
	}
	known := make([]string, 0, len(releases))
	for _, r := range releases {
		known = append(known, r.suite)
	}
	return release{}, fmt.Errorf("unknown suite %q (known: %s): %w",
		suite, strings.Join(known, ", "), vzerror.ErrInvalidValue)
}

// templateName returns the cache name of a build: distro-version-arch.
func (r release) templateName(a arch) string {
	return r.distro + "-" + r.version + "-" + a.ovz
}
