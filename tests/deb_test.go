package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// make deb builds a package whose control data, file list and maintainer
// scripts are what docs/PACKAGING.md promises, and whose extracted files
// work: the binaries run, the man page renders, the completion sources.
// Installing it on the machine is make deb-check's job (CI).
func TestDebPackage(t *testing.T) {
	tmp := t.TempDir()
	mk := exec.Command("make", "-C", "..", "deb", "BIN="+filepath.Join(tmp, "bin"), "DEB_OUT="+tmp, "DEB_VERSION=0.0~test-1")
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "govz_0.0~test-1_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb made %v", debs)
	}
	deb := debs[0]
	// dpkg-deb ACTION DEB [ARG...]
	dpkgDeb := func(action string, args ...string) string {
		t.Helper()
		out, err := exec.Command("dpkg-deb", append([]string{action, deb}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg-deb %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	field := func(name string) string { return strings.TrimSpace(dpkgDeb("-f", name)) }
	if got := field("Package"); got != "govz" {
		t.Errorf("Package %q", got)
	}
	depends := field("Depends")
	for _, d := range []string{"iproute2", "iptables", "nftables", "btrfs-progs", "e2fsprogs", "util-linux"} {
		if !strings.Contains(depends, d) {
			t.Errorf("Depends %q lacks %s", depends, d)
		}
	}
	if r := field("Recommends"); !strings.Contains(r, "lxcfs") {
		t.Errorf("Recommends %q lacks lxcfs", r)
	}
	if s := field("Suggests"); !strings.Contains(s, "criu") {
		t.Errorf("Suggests %q lacks criu", s)
	}

	files := dpkgDeb("-c")
	for _, f := range []string{
		"./usr/sbin/vzctl", "./usr/sbin/vzlist", "./usr/sbin/vztmpl", "./usr/sbin/vzifup-post", "./usr/sbin/vzmigrate",
		"./usr/share/man/man8/vzctl.8.gz", "./usr/share/man/man8/vzlist.8.gz", "./usr/share/man/man8/vztmpl.8.gz",
		"./usr/share/man/man8/vzifup-post.8.gz", "./usr/share/man/man8/vzmigrate.8.gz", "./usr/share/man/man5/vz.toml.5.gz",
		"./usr/share/bash-completion/completions/vzctl", "./usr/share/zsh/vendor-completions/_vzctl",
		"./usr/share/bash-completion/completions/vzmigrate", "./usr/share/zsh/vendor-completions/_vzmigrate",
		"./lib/systemd/system/vz.service", "./lib/systemd/system/vzifup-post.service",
		"./etc/logrotate.d/govz", "./etc/network/if-up.d/vzifup-post", "./usr/share/doc/govz/copyright",
	} {
		if !strings.Contains(files, " "+f+"\n") {
			t.Errorf("package lacks %s", f)
		}
	}
	if strings.Contains(files, " ./vz/") {
		t.Errorf("package ships files under /vz (the admin's, made by postinst):\n%s", files)
	}

	ctl := filepath.Join(tmp, "control")
	dpkgDeb("-e", ctl)
	conffiles, err := os.ReadFile(filepath.Join(ctl, "conffiles"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(conffiles)); strings.Join(got, " ") != "/etc/logrotate.d/govz /etc/network/if-up.d/vzifup-post" {
		t.Errorf("conffiles %q", got)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		body, err := os.ReadFile(filepath.Join(ctl, s))
		if err != nil {
			t.Fatalf("maintainer script %s: %v", s, err)
		}
		if out, err := exec.Command("sh", "-n", filepath.Join(ctl, s)).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", s, err, out)
		}
		// Stopping or restarting vz.service runs shutdown-node (every
		// container halts); nothing may delete under /vz.
		for _, l := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "#") {
				continue
			}
			if strings.Contains(l, "invoke") && strings.Contains(l, "vz.service") || strings.Contains(l, "rm ") && strings.Contains(l, "/vz") {
				t.Errorf("%s touches the containers: %s", s, l)
			}
		}
	}

	// The extracted files work.
	root := filepath.Join(tmp, "root")
	dpkgDeb("-x", root)
	if out, err := exec.Command(filepath.Join(root, "usr/sbin/vzctl"), "--version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "vzctl version") {
		t.Errorf("vzctl --version: %v %q", err, out)
	}
	man := exec.Command("man", "-l", filepath.Join(root, "usr/share/man/man8/vzctl.8.gz"))
	man.Env = append(os.Environ(), "MANPAGER=cat", "MANWIDTH=80")
	if out, err := man.CombinedOutput(); err != nil || !strings.Contains(string(out), "EXIT STATUS") || !strings.Contains(string(out), "--ostemplate") {
		t.Errorf("man -l vzctl.8.gz: %v\n%.400s", err, out)
	}
	src := exec.Command("bash", "--norc", "-c", `source "$1" && complete -p vzctl`, "bash", filepath.Join(root, "usr/share/bash-completion/completions/vzctl"))
	if out, err := src.CombinedOutput(); err != nil || !strings.Contains(string(out), "_vzctl") {
		t.Errorf("sourcing the bash completion: %v %q", err, out)
	}
}
