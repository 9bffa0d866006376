// Package tests holds the end-to-end tests: they build vzctl, vzlist and
// vztmpl, and drive the binaries the way an admin or a hosting script
// would, each test in its own relocated installation (VZ_ROOT under a
// temporary directory), so nothing touches /vz.
package tests

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"govz/internal/mountinfo"
)

// prebuiltEnv names a directory laid out as TestMain builds binDir (the
// binaries, and the busybox template in its cache/): TestMain then uses it
// instead of building.
const prebuiltEnv = "GOVZ_E2E_PREBUILT"

// binDir holds the binaries built once for the whole run; busyboxTmpl is
// the busybox template built once with vztmpl.
var (
	binDir      string
	busyboxTmpl string
)

func TestMain(m *testing.M) {
	fmt.Fprintf(os.Stderr, "tests: new containers are created in %s mode (%s)\n", idMode(), idModeEnv)
	if os.Getuid() != 0 {
		fmt.Fprintln(os.Stderr, "tests: end-to-end tests need root (mounts, namespaces, cgroups)")
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "govz-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		binDir = dir
		if prebuilt := os.Getenv(prebuiltEnv); prebuilt != "" {
			// Inside the cgroup v2 VM (cgroupv2_vm_test.go) the root is
			// read-only and a build would crawl: use the host's binaries,
			// and a copy of its template on the temp dir's file system,
			// which newNode hard-links from.
			binDir = prebuilt
			busyboxTmpl = filepath.Join(dir, "busybox-"+arch()+".tar.gz")
			src := filepath.Join(prebuilt, "cache", filepath.Base(busyboxTmpl))
			if out, err := exec.Command("cp", src, busyboxTmpl).CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "copying the prebuilt busybox template: %v\n%s", err, out)
				return 1
			}
			return m.Run()
		}
		build := exec.Command("go", "build", "-o", dir+"/", "govz/cmd/vzctl", "govz/cmd/vzlist", "govz/cmd/vztmpl", "govz/cmd/vzmigrate")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building binaries:", err)
			return 1
		}
		cache := filepath.Join(dir, "cache")
		out, err := exec.Command(filepath.Join(dir, "vztmpl"), "build", "busybox", "--cache", cache).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building busybox template: %v\n%s", err, out)
			return 1
		}
		busyboxTmpl = filepath.Join(cache, "busybox-"+arch()+".tar.gz")
		if _, err := os.Stat(busyboxTmpl); err != nil {
			fmt.Fprintln(os.Stderr, "busybox template missing after build:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func arch() string {
	if runtime.GOARCH == "amd64" {
		return "x86_64"
	}
	return runtime.GOARCH
}

// node is one relocated installation.
type node struct {
	t        *testing.T
	root     string
	cgParent string
	// netns, when set, is the named network namespace the binaries run
	// in (entered with nsenter --net, which keeps the host's mount
	// namespace, unlike ip netns exec).
	netns string
}

// baseVZConf is the global config every test node starts from: its
// private cgroup parent, a short stop timeout, the dir layout, and the
// user namespace mode of new containers (idMode). The product's default
// layout (auto) would put every test container on a loop-mounted ext4
// image when the temp dir is not on btrfs; the layouts have tests of
// their own (storage_test.go), the default included.
func (n *node) baseVZConf() string {
	c := fmt.Sprintf("cgroup_parent = %q\nstop_timeout = 10\nve_layout = \"dir\"\n", n.cgroupParent())
	if idMode() == "identity" {
		c += "local_uid = 0\n"
	}
	return c
}

// idModeEnv chooses how the containers the tests create are mapped: auto
// (the product's default, each its own host ID range) or identity (vz.toml
// local_uid = 0, root inside is host root). `make test` runs the suite in
// auto and the key groups again in identity (Makefile: IDENTITY_GROUPS).
const idModeEnv = "GOVZ_E2E_IDMODE"

// idMode is the mode of this run: "auto" unless GOVZ_E2E_IDMODE says
// identity. Any other value stops the run: a typo must not quietly test
// the other mode.
func idMode() string {
	switch m := os.Getenv(idModeEnv); m {
	case "", "auto":
		return "auto"
	case "identity":
		return "identity"
	default:
		panic(idModeEnv + " must be auto or identity, not " + strconv.Quote(m))
	}
}

// uniqueCgroupParent is a cgroup parent no other test or installation on
// the machine uses: containers with the same CTID under one parent would
// share (and kill) each other's cgroups.
func uniqueCgroupParent() string {
	return fmt.Sprintf("govz-test-%d-%x", os.Getpid(), rand.Uint64())
}

// newNode makes an installation under a temp dir with the busybox template
// in its cache and a global config using a test-private cgroup parent.
func newNode(t *testing.T) *node {
	t.Helper()
	root := t.TempDir()
	n := &node{t: t, root: root, cgParent: uniqueCgroupParent()}
	cache := filepath.Join(root, "template", "cache")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(busyboxTmpl, filepath.Join(cache, filepath.Base(busyboxTmpl))); err != nil {
		t.Fatal(err)
	}
	n.writeFile("conf/vz.toml", n.baseVZConf())
	t.Cleanup(n.cleanup)
	return n
}

func (n *node) path(rel string) string { return filepath.Join(n.root, rel) }

func (n *node) writeFile(rel, content string) {
	n.t.Helper()
	p := n.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		n.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		n.t.Fatal(err)
	}
}

// result of one command.
type result struct {
	out, err string
	code     int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
}

func (n *node) cmd(name string, args ...string) *exec.Cmd {
	c := exec.Command(filepath.Join(binDir, name), args...)
	if n.netns != "" {
		c = exec.Command("nsenter", append([]string{"--net=/run/netns/" + n.netns, "--", filepath.Join(binDir, name)}, args...)...)
	}
	c.Env = append(os.Environ(), "VZ_ROOT="+n.root)
	return c
}

// run runs a binary and returns its output and exit code.
func (n *node) run(name string, args ...string) result {
	n.t.Helper()
	return n.result(n.cmd(name, args...))
}

// result runs c and returns its output and exit code; a command that does
// not start at all fails the test.
func (n *node) result(c *exec.Cmd) result {
	n.t.Helper()
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	err := c.Run()
	r := result{out: o.String(), err: e.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		n.t.Fatalf("running %v: %v", c.Args, err)
	}
	return r
}

// ok runs a command that must succeed.
func (n *node) ok(name string, args ...string) result {
	n.t.Helper()
	r := n.run(name, args...)
	if r.code != 0 {
		n.t.Fatalf("%s %s failed:\n%s", name, strings.Join(args, " "), r)
	}
	return r
}

// fails runs a command that must fail with exit code want.
func (n *node) fails(want int, name string, args ...string) result {
	n.t.Helper()
	r := n.run(name, args...)
	if r.code != want {
		n.t.Fatalf("%s %s: want exit %d, got:\n%s", name, strings.Join(args, " "), want, r)
	}
	if strings.Count(strings.TrimSpace(r.err), "\n") > 0 {
		n.t.Errorf("%s %s: error is not one line:\n%s", name, strings.Join(args, " "), r.err)
	}
	return r
}

// cgroupParent is the node's test-private cgroup parent, unique on the
// machine (t.TempDir's base name is not: every test's first one is "001").
func (n *node) cgroupParent() string { return n.cgParent }

// cleanup stops every container the test left running, unmounts whatever
// is mounted under the node's root and removes the test's cgroup parent,
// so a failing test leaves nothing behind.
func (n *node) cleanup() {
	ents, _ := os.ReadDir(n.path("conf"))
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".toml"); ok && id != "vz" {
			n.cmd("vzctl", "stop", "--fast", id).Run()
		}
	}
	defer removeCgroupParent(n.cgroupParent())
	mps := n.mounts()
	for i := len(mps) - 1; i >= 0; i-- {
		exec.Command("umount", "-l", mps[i]).Run()
	}
}

// mounts lists mount points under the node's root.
func (n *node) mounts() []string {
	ms, _ := mountinfo.Read(0)
	var out []string
	for _, m := range ms {
		if strings.HasPrefix(m.MountPoint, n.root+"/") {
			out = append(out, m.MountPoint)
		}
	}
	return out
}

// removeCgroupParent removes a test's cgroup parent from every hierarchy
// (depth-first: a failed test may leave a container's groups in it).
func removeCgroupParent(parent string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	for _, r := range roots {
		dir := filepath.Join(r, parent)
		var dirs []string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Remove(dirs[i])
		}
	}
}

// cgroupDirs lists the directories of a cgroup parent in every hierarchy.
func cgroupDirs(parent string) []string {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup") // cgroup v2-only
	var out []string
	for _, r := range roots {
		filepath.WalkDir(filepath.Join(r, parent), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && p != filepath.Join(r, parent) {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}
