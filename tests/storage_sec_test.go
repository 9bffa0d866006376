package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// Storage isolation: what root in a container on the btrfs layout must
// not be able to do to the file system it shares with the host and its
// neighbours (ct/caps/seccomp.go says why for each), and what the layouts
// say they cannot do.

// buildFSProbe builds tests/testdata/fsprobe, static, for goarch.
func buildFSProbe(t *testing.T, goarch string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "fsprobe-"+goarch)
	cmd := exec.Command("go", "build", "-o", out, "./testdata/fsprobe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building fsprobe for %s: %v: %s", goarch, err, b)
	}
	return out
}

func TestStorageSecBtrfs(t *testing.T) {
	mnt := scratchFS(t, "btrfs", 1<<30)
	n := newNodeOn(t, mnt)
	probe := buildFSProbe(t, runtime.GOARCH)
	r := n.ok("vzctl", "create", "101", "--layout", "btrfs", "--diskspace", "64M")
	if !strings.Contains(r.out+r.err, "df inside the container shows the whole file system") {
		t.Errorf("create --diskspace on btrfs does not say what df shows:\n%s", r)
	}
	n.ok("vzctl", "start", "101")
	copyFile(t, probe, n.path("root/101/fsprobe"))
	os.Chmod(n.path("root/101/fsprobe"), 0o755)
	probes := map[string]string{"/fsprobe": probe}
	// An x86-64 kernel also takes i386 calls, with their own syscall
	// numbers: the filter must know them too.
	if runtime.GOARCH == "amd64" {
		p32 := buildFSProbe(t, "386")
		if out, err := exec.Command(p32, "thaw", mnt).CombinedOutput(); err != nil {
			t.Logf("i386 binaries do not run on this host (%v: %s): the compat path is untested", err, out)
		} else {
			copyFile(t, p32, n.path("root/101/fsprobe32"))
			os.Chmod(n.path("root/101/fsprobe32"), 0o755)
			probes["/fsprobe32"] = p32
		}
	}
	subvolsBefore, qgroupsBefore := subvolumes(t, mnt), qgroups(t, mnt)

	// btrfs subvolume, quota and metadata requests answer as off btrfs
	// (ENOTTY), requests on the whole file system as to a caller without
	// the privilege (EPERM).
	inside := [][3]string{
		{"subvol", "/sv", "ENOTTY"}, {"subvol-high", "/sv", "ENOTTY"}, {"subvol-v2", "/sv", "ENOTTY"},
		{"snap", "/snap", "ENOTTY"}, {"rescan-status", "/", "ENOTTY"}, {"tree-search", "/", "ENOTTY"},
		{"thaw", "/", "EPERM"}, {"fssetxattr", "/", "EPERM"},
	}
	for bin := range probes {
		for _, c := range inside {
			if bin == "/fsprobe32" && c[0] == "subvol-high" {
				continue // a 32-bit caller has no upper half to set
			}
			r := n.ok("vzctl", "exec2", "101", bin+" "+c[0]+" "+c[1])
			if got := strings.TrimSpace(r.out); got != c[0]+"="+c[2] {
				t.Errorf("%s %s %s inside the container: %q, want %s", bin, c[0], c[1], got, c[2])
			}
		}
	}
	if after := subvolumes(t, mnt); !slices.Equal(after, subvolsBefore) {
		t.Errorf("subvolumes before the probes %v, after %v", subvolsBefore, after)
	}
	if after := qgroups(t, mnt); !slices.Equal(after, qgroupsBefore) {
		t.Errorf("qgroups before the probes %v, after %v", qgroupsBefore, after)
	}

	// The control: the same calls without the container's filter reach
	// the kernel and do what they say. A subvolume made in the private
	// area (what the container would have made) has a qgroup of its own;
	// the upper 32 bits of the request make no difference to the kernel.
	priv := n.path("private/101")
	for _, c := range [][3]string{
		{"subvol", priv + "/hostsv", "ok"}, {"subvol-high", priv + "/hostsv-high", "ok"},
		{"snap", priv + "/hostsnap", "ok"}, {"tree-search", priv, "ok"},
		{"thaw", priv, "EINVAL"}, {"fssetxattr", priv, "ok"},
	} {
		out, err := exec.Command(probe, c[0], c[1]).CombinedOutput()
		if got := strings.TrimSpace(string(out)); err != nil || got != c[0]+"="+c[2] {
			t.Errorf("control on the host: fsprobe %s %s: %q, %v; want %s", c[0], c[1], got, err, c[2])
		}
	}
	if q := qgroups(t, mnt); len(q) != len(qgroupsBefore)+3 {
		t.Errorf("qgroups after the host made 3 subvolumes: %v (before %v)", q, qgroupsBefore)
	}

	// quotaugidlimit is taken, stored, and said once to be unenforced.
	r = n.ok("vzctl", "set", "101", "--quotaugidlimit", "100", "--save")
	if strings.Count(r.err, "quotaugidlimit") != 1 || !strings.Contains(r.err, "quotaugidlimit 100 is not enforced") {
		t.Errorf("set --quotaugidlimit 100 on a running container:\n%s", r)
	}
	if cfg, _ := os.ReadFile(n.path("conf/101.toml")); !strings.Contains(string(cfg), "quotaugidlimit = 100") {
		t.Errorf("quotaugidlimit not saved:\n%s", cfg)
	}
	if r := n.ok("vzctl", "set", "101", "--quotaugidlimit", "100", "--save"); strings.Contains(r.err, "quotaugidlimit") {
		t.Errorf("an unchanged quotaugidlimit is said again:\n%s", r)
	}

	// A live change of the limit says what df inside shows, and df does
	// show the whole file system.
	r = n.ok("vzctl", "set", "101", "--diskspace", "96M", "--save")
	if !strings.Contains(r.out+r.err, "df inside the container shows the whole file system") {
		t.Errorf("set --diskspace on btrfs:\n%s", r)
	}
	if total, _, _, _ := n.dfInside("101"); total < 512<<10 {
		t.Errorf("df inside shows %dK; the message says it shows the whole 1G file system", total)
	}

	n.ok("vzctl", "stop", "101")
	n.ok("vzctl", "destroy", "101")
	for _, s := range subvolumes(t, mnt) {
		if !strings.Contains(s, "/.tmplcache/") {
			t.Errorf("subvolume left after destroy: %s", s)
		}
	}
}

// A systemd guest on the btrfs layout boots clean under the filter:
// systemd takes its btrfs paths there (tmpfiles' subvolume lines fall back
// to directories on ENOTTY, not on EPERM; journald's chattr +C stays
// allowed).
func TestStorageSecDebianOnBtrfs(t *testing.T) {
	mnt := scratchFS(t, "btrfs", 2<<30)
	n := newNodeOn(t, mnt)
	src := debianTemplate(t)
	copyFile(t, src, n.path("template/cache/"+filepath.Base(src)))
	name := strings.TrimSuffix(filepath.Base(src), ".tar.gz")
	n.ok("vzctl", "create", "101", "--ostemplate", name, "--layout", "btrfs", "--diskspace", "1G")
	if r := n.run("vzctl", "start", "101", "--wait"); r.code != 0 {
		log, _ := os.ReadFile(n.path("run/101/supervisor.log"))
		t.Fatalf("start:\n%s\nsupervisor log:\n%s", r, log)
	}
	r := n.run("vzctl", "exec2", "101", "systemctl", "is-system-running", "--wait")
	if strings.TrimSpace(r.out) != "running" {
		failed := n.run("vzctl", "exec2", "101", "systemctl", "--failed", "--no-legend", "--no-pager")
		t.Fatalf("is-system-running: %q; failed units:\n%s", r.out, failed.out)
	}
	// tmpfiles' "v" (subvolume) lines made directories, not subvolumes.
	n.ok("vzctl", "exec2", "101", "printf 'v /srv/sv 0755 - - -\\n' > /etc/tmpfiles.d/sv.conf")
	n.ok("vzctl", "exec2", "101", "systemd-tmpfiles --create /etc/tmpfiles.d/sv.conf && test -d /srv/sv")
	for _, s := range subvolumes(t, mnt) {
		if !strings.Contains(s, "/.tmplcache/") && !strings.HasSuffix(s, "private/101") {
			t.Errorf("a subvolume the guest made: %s", s)
		}
	}
	n.ok("vzctl", "stop", "101")
	n.ok("vzctl", "destroy", "101")
}
