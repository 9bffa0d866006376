package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The peers run on copies of our own templates, so every tool boots the
// same guest. The busybox copy gets the readiness marker below; the peers
// bind-mount a host directory of their own on /bench.

// rcLocal is run by the busybox template's rcS just before its readiness
// hook (the one `vzctl start --wait` listens to): it marks "boot finished"
// in /bench, which the host polls. BENCH_ID tells the bare-namespace
// containers of the bound apart, which share one tree.
const rcLocal = `#!/bin/sh
# govz bench: readiness marker, polled from the host
touch /bench/ready${BENCH_ID:+.$BENCH_ID}
`

// osRelease lets systemd-nspawn --boot accept the busybox tree.
const osRelease = "ID=busybox\nNAME=busybox (govz bench)\n"

// addMarker installs rcLocal and /bench into an unpacked busybox tree.
func addMarker(root string) error {
	if err := os.WriteFile(filepath.Join(root, "etc/rc.local"), []byte(rcLocal), 0o755); err != nil {
		return err
	}
	return os.MkdirAll(filepath.Join(root, "bench"), 0o755)
}

// peerTree unpacks template (once per run) with GNU tar for the peers.
func (b *bench) peerTree(name, template string) (string, error) {
	dir := filepath.Join(b.work, "rootfs", name)
	if _, err := os.Stat(filepath.Join(dir, "etc")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if _, err := b.run("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpzf", template, "-C", dir); err != nil {
		return "", err
	}
	if name == "busybox" {
		if err := addMarker(dir); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "etc/os-release"), []byte(osRelease), 0o644); err != nil {
			return "", err
		}
	} else if err := os.MkdirAll(filepath.Join(dir, "bench"), 0o755); err != nil {
		return "", err
	}
	return dir, nil
}

// markerDir makes an empty host directory for one container's marker.
func (b *bench) markerDir(name string) (string, error) {
	d := filepath.Join(b.work, "markers", name)
	os.RemoveAll(d)
	return d, os.MkdirAll(d, 0o755)
}

// ---- our containers

// createCT creates one of our containers from template; busybox ones get
// the readiness marker.
func (b *bench) createCT(template string) (string, error) {
	id := b.newCT()
	name := strings.TrimSuffix(filepath.Base(template), ".tar.gz")
	if _, _, err := b.vzctl("--quiet", "create", id, "--ostemplate", name); err != nil {
		return "", err
	}
	if strings.HasPrefix(name, "busybox") {
		if err := addMarker(b.privateDir(id)); err != nil {
			return "", err
		}
	}
	return id, nil
}

func (b *bench) privateDir(id string) string { return filepath.Join(b.vzRoot, "private", id) }

// ctState is the part of $VZ_ROOT/run/CTID/state.json the bench reads.
type ctState struct {
	SupervisorPID int               `json:"supervisor_pid"`
	InitPID       int               `json:"init_pid"`
	CgroupPaths   map[string]string `json:"cgroup_paths"`
}

func (b *bench) ctState(id string) (*ctState, error) {
	data, err := os.ReadFile(filepath.Join(b.vzRoot, "run", id, "state.json"))
	if err != nil {
		return nil, err
	}
	var s ctState
	return &s, json.Unmarshal(data, &s)
}

// ---- LXC

const lxcCommonConf = "/usr/share/lxc/config/common.conf"

func (b *bench) lxcPath() string { return filepath.Join(b.work, "lxc") }

// lxcDefine writes lxcpath/NAME/config like the baseline's lib.sh:
// Debian's common.conf (seccomp, device allow-list, cap drops) as
// lxc-create templates include it, minus lxcfs's hooks (its post-stop hook
// is `sleep 0.5s`), an empty network namespace, no ttys, no console.
func (b *bench) lxcDefine(name, rootfs string, extra ...string) error {
	dir := filepath.Join(b.lxcPath(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	lines := []string{
		"lxc.include = " + lxcCommonConf,
		"lxc.hook.mount =",
		"lxc.hook.post-stop =",
		"lxc.uts.name = " + name,
		"lxc.rootfs.path = dir:" + rootfs,
		"lxc.net.0.type = empty",
		"lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed",
		"lxc.autodev = 1",
		"lxc.tty.max = 0",
		"lxc.tty.dir =",
		"lxc.pty.max = 16",
		"lxc.console.path = none",
		"lxc.apparmor.profile = unconfined",
		"lxc.cap.drop = sys_module mac_admin mac_override sys_time",
		"lxc.log.level = ERROR",
		"lxc.log.file = " + filepath.Join(dir, "lxc.log"),
		"lxc.init.cmd = /sbin/init",
	}
	lines = append(lines, extra...)
	return os.WriteFile(filepath.Join(dir, "config"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// lxcBusybox defines a busybox-init LXC container with a private /run and
// the marker directory mark on /bench.
func (b *bench) lxcBusybox(name, rootfs, mark string) error {
	return b.lxcDefine(name, rootfs,
		"lxc.mount.entry = tmpfs run tmpfs rw,nosuid,nodev,mode=755,size=1m 0 0",
		"lxc.mount.entry = "+mark+" bench none bind 0 0")
}

// lxc runs an LXC tool on our lxcpath, timed.
func (b *bench) lxc(tool string, args ...string) (time.Duration, string, error) {
	return b.timed(tool, append([]string{"-P", b.lxcPath()}, args...)...)
}

func (b *bench) lxcInitPID(name string) (int, error) {
	_, out, err := b.lxc("lxc-info", "-n", name, "-pH")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(out))
}

// lxcRemove kills (if running) and forgets one container.
func (b *bench) lxcRemove(name string) error {
	out, _ := exec.Command("lxc-info", "-P", b.lxcPath(), "-n", name, "-sH").Output()
	if st := strings.TrimSpace(string(out)); st != "" && st != "STOPPED" {
		b.cleanupRun(nil, "lxc-stop", "-P", b.lxcPath(), "-n", name, "-k")
	}
	for _, hier := range cgroupHierarchies() {
		for _, pre := range []string{"lxc.payload.", "lxc.monitor."} {
			if p := filepath.Join(hier, pre+name); exists(p) {
				removeCgroupTree(p)
			}
		}
	}
	return os.RemoveAll(filepath.Join(b.lxcPath(), name))
}

// cleanLXC removes every container of our lxcpath.
func (b *bench) cleanLXC() error {
	ents, _ := os.ReadDir(b.lxcPath())
	var errs []error
	for _, e := range ents {
		if err := b.lxcRemove(e.Name()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ---- runc / crun

// ociBundle writes an OCI bundle for the busybox tree: the runtime's
// default spec (`runc spec`), root rw, no terminal, args, a private tmpfs
// /run and mark bound on /bench (when mark != "").
func (b *bench) ociBundle(name, rootfs, mark string, args ...string) (string, error) {
	dir := filepath.Join(b.work, "bundles", name)
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tool := "runc"
	if b.peerErr[peerRunc] != "" {
		tool = "crun"
	}
	gen := exec.Command(tool, "spec")
	gen.Dir = dir
	if out, err := gen.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s spec: %w: %s", tool, err, tail(string(out)))
	}
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		return "", err
	}
	spec["root"] = map[string]any{"path": rootfs, "readonly": false}
	spec["hostname"] = name
	proc := spec["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = args
	mounts, _ := spec["mounts"].([]any)
	mounts = append(mounts, map[string]any{
		"destination": "/run", "type": "tmpfs", "source": "tmpfs",
		"options": []string{"nosuid", "nodev", "mode=755", "size=1m"},
	})
	if mark != "" {
		mounts = append(mounts, map[string]any{
			"destination": "/bench", "type": "bind", "source": mark, "options": []string{"rbind", "rw"},
		})
	}
	spec["mounts"] = mounts
	out, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return "", err
	}
	return dir, os.WriteFile(path, out, 0o644)
}

// ociStatus is `RUNTIME state ID`'s status ("" when there is no such
// container).
func (b *bench) ociStatus(rt, id string) string {
	out, err := b.run(rt, "state", id)
	if err != nil {
		return ""
	}
	var st struct {
		Status string `json:"status"`
	}
	jsonUnmarshal(out, &st)
	return st.Status
}

// ociTrack remembers a container for cleanup.
func (b *bench) ociTrack(rt, id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ociIDs == nil {
		b.ociIDs = map[string]string{}
	}
	b.ociIDs[id] = rt
}

func (b *bench) ociDelete(rt, id string) {
	if b.ociStatus(rt, id) != "" {
		b.cleanupRun(nil, rt, "delete", "-f", id)
	}
}

func (b *bench) cleanOCI() {
	b.mu.Lock()
	ids := b.ociIDs
	b.ociIDs = nil
	b.mu.Unlock()
	for id, rt := range ids {
		b.ociDelete(rt, id)
	}
}

// ---- systemd-nspawn

// nspawnArgs are the options the host needs: it has no systemd as PID 1
// and no machined, hence --register=no --keep-unit; the network namespace
// is empty.
func nspawnArgs(root, mark string, extra ...string) []string {
	a := []string{"-q", "-D", root, "--private-network", "--register=no", "--keep-unit",
		"--boot", "--console=read-only", "--bind=" + mark + ":/bench"}
	return append(a, extra...)
}

// bgStart starts a long-running tool (nspawn, unshare) in the background,
// output to a memfd, tracked for cleanup. env, when not nil, is the whole
// environment.
func (b *bench) bgStart(env []string, name string, args ...string) (*cmd, error) {
	c, err := b.prepare(b.ctx, nil, name, args...)
	if err != nil {
		return nil, err
	}
	if env != nil {
		c.c.Env = env
	}
	// On interrupt ask nicely first: nspawn then stops its container.
	c.c.Cancel = func() error { return c.c.Process.Signal(unix.SIGTERM) }
	c.c.WaitDelay = 10 * time.Second
	if err := c.start(); err != nil {
		c.out.Close()
		return nil, err
	}
	b.procs.add(c.c.Process)
	return c, nil
}

// bgWait waits for a background tool and forgets it.
func (b *bench) bgWait(c *cmd) (string, error) {
	err := c.c.Wait()
	b.procs.done(c.c.Process)
	return c.output(), err
}

// bgKill ends a background tool at once and returns its output.
func (b *bench) bgKill(c *cmd) string {
	c.c.Process.Signal(unix.SIGKILL)
	out, _ := b.bgWait(c)
	return out
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
