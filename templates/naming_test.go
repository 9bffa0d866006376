package templates

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"govz/ct/vzerror"
)

func TestResolveRecipeNames(t *testing.T) {
	noApt := t.TempDir()
	cases := []struct {
		recipe, suite, goarch string
		want                  string
		env                   []string
	}{
		{"busybox", "", "amd64", "busybox-x86_64", []string{"BUSYBOX=/bin/busybox", "ARCH=x86_64", "DEB_ARCH=amd64"}},
		{"busybox", "", "arm64", "busybox-aarch64", []string{"ARCH=aarch64", "DEB_ARCH=arm64"}},
		{"busybox", "", "386", "busybox-x86", []string{"DEB_ARCH=i386"}},
		{"debian", "", "amd64", "debian-12-x86_64", []string{"DISTRO=debian", "SUITE=bookworm", "MIRROR=http://deb.debian.org/debian"}},
		{"debian", "bookworm", "amd64", "debian-12-x86_64", nil},
		{"debian", "trixie", "amd64", "debian-13-x86_64", []string{"SUITE=trixie"}},
		{"debian", "sid", "ppc64le", "debian-sid-ppc64le", []string{"DEB_ARCH=ppc64el"}},
		{"debian", "jammy", "amd64", "ubuntu-22.04-x86_64", []string{"DISTRO=ubuntu", "MIRROR=http://archive.ubuntu.com/ubuntu"}},
		{"debian", "noble", "arm64", "ubuntu-24.04-aarch64", []string{"MIRROR=http://ports.ubuntu.com/ubuntu-ports"}},
		{"debian", "", "amd64", "debian-12-x86_64", []string{"INIT=systemd", "NETWORK=ifupdown"}},
		{"debian", "", "amd64", "debian-12-x86_64-sysvinit", []string{"INIT=sysvinit", "NETWORK=ifupdown"}},
		{"debian", "", "amd64", "debian-12-x86_64-openrc", []string{"INIT=openrc"}},
		{"debian", "", "amd64", "debian-12-x86_64-netplan", []string{"INIT=systemd", "NETWORK=netplan"}},
		{"debian", "", "amd64", "debian-12-x86_64-networkmanager", []string{"NETWORK=networkmanager"}},
		{"debian", "", "amd64", "debian-12-x86_64-networkd", []string{"NETWORK=networkd"}},
	}
	variants := map[string][2]string{
		"debian-12-x86_64-sysvinit": {"sysvinit", ""}, "debian-12-x86_64-openrc": {"openrc", "ifupdown"},
		"debian-12-x86_64-netplan": {"", "netplan"}, "debian-12-x86_64-networkmanager": {"systemd", "networkmanager"},
		"debian-12-x86_64-networkd": {"", "networkd"},
	}
	for _, c := range cases {
		v := variants[c.want]
		r, err := resolveRecipe(c.recipe, BuildOptions{Suite: c.suite, Init: v[0], Network: v[1]}, c.goarch, noApt)
		if err != nil {
			t.Errorf("%s %s %s: %v", c.recipe, c.suite, c.goarch, err)
			continue
		}
		if r.template != c.want {
			t.Errorf("%s %s %s: template %s, want %s", c.recipe, c.suite, c.goarch, r.template, c.want)
		}
		env := strings.Join(r.env, "\n") + "\n"
		for _, e := range append(c.env, "TEMPLATE="+c.want) {
			if !strings.Contains(env, e+"\n") {
				t.Errorf("%s %s %s: env %q lacks %s", c.recipe, c.suite, c.goarch, r.env, e)
			}
		}
		if !strings.Contains(string(r.script), "phase()") || !strings.Contains(string(r.script), "ROOTFS") {
			t.Errorf("%s: script lacks the prelude", c.recipe)
		}
	}
}

func TestResolveRecipeRejects(t *testing.T) {
	noApt := t.TempDir()
	cases := []struct {
		recipe string
		opt    BuildOptions
		goarch string
	}{
		{"alpine", BuildOptions{}, "amd64"},
		{"", BuildOptions{}, "amd64"},
		{"../busybox", BuildOptions{}, "amd64"},
		{"debian", BuildOptions{Suite: "stable"}, "amd64"},
		{"debian", BuildOptions{Suite: "hamm"}, "amd64"},
		{"debian", BuildOptions{Mirror: "deb.debian.org/debian"}, "amd64"},
		{"debian", BuildOptions{Mirror: "gopher://x/debian"}, "amd64"},
		{"debian", BuildOptions{Mirror: "http://x/debian main"}, "amd64"},
		{"busybox", BuildOptions{Suite: "bookworm"}, "amd64"},
		{"busybox", BuildOptions{}, "mips64"},
		{"busybox", BuildOptions{Init: "openrc"}, "amd64"},
		{"debian", BuildOptions{Init: "runit"}, "amd64"},
		{"debian", BuildOptions{Network: "wicked"}, "amd64"},
		{"debian", BuildOptions{Init: "sysvinit", Network: "netplan"}, "amd64"},
		{"debian", BuildOptions{Init: "openrc", Network: "networkmanager"}, "amd64"},
	}
	for _, c := range cases {
		_, err := resolveRecipe(c.recipe, c.opt, c.goarch, noApt)
		if !errors.Is(err, vzerror.ErrInvalidValue) {
			t.Errorf("resolveRecipe(%q, %+v, %s) = %v, want ErrInvalidValue", c.recipe, c.opt, c.goarch, err)
		}
	}
}

func TestEmbeddedRecipesParse(t *testing.T) {
	for _, name := range Recipes() {
		r, err := resolveRecipe(name, BuildOptions{}, "amd64", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), name+".sh")
		err = os.WriteFile(p, r.script, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		out, err := runCmd("bash", "-n", p)
		if err != nil {
			t.Errorf("bash -n %s: %v\n%s", name, err, out)
		}
	}
}

func TestCheckStatic(t *testing.T) {
	err := checkStatic(busyboxPath)
	if err != nil {
		t.Fatalf("%s (busybox-static) rejected: %v", busyboxPath, err)
	}
	err = checkStatic("/bin/ls")
	if err == nil || !strings.Contains(err.Error(), "busybox-static") {
		t.Errorf("dynamic /bin/ls: %v, want an error telling to install busybox-static", err)
	}
	notELF := filepath.Join(t.TempDir(), "busybox")
	err = os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755)
	if err != nil {
		t.Fatal(err)
	}
	err = checkStatic(notELF)
	if err == nil || !strings.Contains(err.Error(), "busybox-static") {
		t.Errorf("script: %v, want an error telling to install busybox-static", err)
	}
}

func TestWithBase(t *testing.T) {
	noApt := t.TempDir()
	c := Cache{Dir: t.TempDir()}
	for _, n := range []string{"debian-12-x86_64.tar.gz", "debian-12-x86_64-netplan.tar.zst", "debian-13-x86_64.tar.gz"} {
		if err := os.WriteFile(filepath.Join(c.Dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	resolve := func(recipe string, opt BuildOptions) recipe {
		t.Helper()
		r, err := resolveRecipe(recipe, opt, "amd64", noApt)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	sysv := resolve("debian", BuildOptions{Init: "sysvinit"})
	for base, file := range map[string]string{"debian-12-x86_64": "debian-12-x86_64.tar.gz", "debian-12-x86_64-netplan": "debian-12-x86_64-netplan.tar.zst"} {
		r, err := withBase(sysv, c, base)
		if err != nil {
			t.Fatalf("base %s: %v", base, err)
		}
		if want := "BASE=" + filepath.Join(c.Dir, file); !slices.Contains(r.env, want) {
			t.Errorf("base %s: env %q lacks %s", base, r.env, want)
		}
	}
	bad := []struct {
		r    recipe
		base string
		want error
	}{
		{sysv, "debian-13-x86_64", vzerror.ErrInvalidValue},          // another release
		{sysv, "debian-12-x86_64x", vzerror.ErrInvalidValue},         // not a flavour of the stem
		{sysv, "debian-12-x86_64-sysvinit", vzerror.ErrInvalidValue}, // itself
		{sysv, "debian-12-x86_64-openrc", vzerror.ErrTemplateMissing},
		{sysv, "../debian-12-x86_64", vzerror.ErrInvalidValue},
		{resolve("busybox", BuildOptions{}), "busybox-x86_64", vzerror.ErrInvalidValue},
		{resolve("debian", BuildOptions{Suite: "trixie"}), "debian-12-x86_64", vzerror.ErrInvalidValue},
	}
	for _, b := range bad {
		if _, err := withBase(b.r, c, b.base); !errors.Is(err, b.want) {
			t.Errorf("%s from %s: %v, want %v", b.r.template, b.base, err, b.want)
		}
	}
}
