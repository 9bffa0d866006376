package supervisor

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"govz/internal/roottest"
)

// debianTemplate is the Debian 12 systemd template another part of the
// project builds (templates/recipes/debian.sh) on development machines.
const debianTemplate = "/var/cache/govz-dev/template/cache/debian-12-x86_64.tar.gz"

// inCT runs a command in all of init's namespaces with util-linux nsenter
// (a test tool here; govz's own exec/enter lives elsewhere).
func inCT(pid int, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(pid), "-a", "--"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestSystemdGuest(t *testing.T) {
	roottest.Require(t, "namespaces, cgroups, mounts")
	if testing.Short() {
		t.Skip("unpacks and boots a Debian tree")
	}
	if _, err := os.Stat(debianTemplate); err != nil {
		t.Skip("no Debian template: ", err)
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("no nsenter: ", err)
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	os.Mkdir(root, 0o755)
	t0 := time.Now()
	if out, err := exec.Command("tar", "--numeric-owner", "-xpzf", debianTemplate, "-C", root).CombinedOutput(); err != nil {
		t.Fatalf("unpacking: %v\n%s", err, out)
	}
	t.Logf("unpacked the template in %v", time.Since(t0))
	c := &ct{t: t, root: root, spec: &Spec{
		ID: "deb12", Rootfs: root, RunDir: filepath.Join(dir, "run"), Hostname: "deb12",
		CgroupParent: testCgroupParent(), StopTimeout: 30 * time.Second,
		ConsoleLog: filepath.Join(dir, "console.log"),
	}}
	t.Cleanup(c.cleanup)
	before := snapshot(t, c)

	t0 = time.Now()
	st := c.mustStart(true)
	t.Logf("start --wait (systemd READY=1): %v", time.Since(t0))
	state, _ := inCT(st.InitPID, "systemctl", "is-system-running", "--wait")
	t.Logf("is-system-running: %s after %v", strings.TrimSpace(state), time.Since(t0))
	if strings.TrimSpace(state) != "running" {
		failed, _ := inCT(st.InitPID, "systemctl", "--failed", "--no-legend", "--no-pager")
		jobs, _ := inCT(st.InitPID, "systemctl", "list-jobs", "--no-pager")
		journal, _ := inCT(st.InitPID, "journalctl", "-b", "--no-pager", "-p", "warning")
		t.Errorf("systemctl is-system-running = %q\nfailed units:\n%s\njobs:\n%s\nwarnings:\n%s\n%s", state, failed, jobs, journal, c.logs())
	}
	for _, check := range []struct{ args []string }{
		{[]string{"systemd-detect-virt", "--container"}},
		{[]string{"cat", "/etc/machine-id"}},
		{[]string{"hostname"}},
		{[]string{"systemd-analyze"}},
		{[]string{"sh", "-c", "systemd-analyze blame | head -8"}},
	} {
		out, err := inCT(st.InitPID, check.args...)
		t.Logf("%s: %s (%v)", strings.Join(check.args, " "), strings.TrimSpace(out), err)
	}
	if out, _ := inCT(st.InitPID, "systemd-detect-virt", "--container"); strings.TrimSpace(out) != "container-other" && strings.TrimSpace(out) != "govz" {
		t.Errorf("systemd-detect-virt --container = %q", out)
	}
	if out, _ := inCT(st.InitPID, "cat", "/etc/machine-id"); strings.TrimSpace(out) != strings.ReplaceAll(ContainerUUID("deb12"), "-", "") {
		t.Errorf("machine-id %q, want container_uuid %s", out, ContainerUUID("deb12"))
	}

	t0 = time.Now()
	if err := Stop(c.spec.RunDir, 30*time.Second, false); err != nil {
		t.Fatalf("stop: %v\n%s", err, c.logs())
	}
	t.Logf("graceful stop (SIGRTMIN+3): %v", time.Since(t0))
	if !strings.Contains(c.logs(), "SIGRTMIN+3 blocked (systemd)") || !strings.Contains(c.logs(), "halted or powered off") {
		t.Errorf("stop was not systemd's clean halt:\n%s", c.logs())
	}
	checkNoLeaks(t, c, before)
	t.Logf("machine-id on disk after the first boot: %q", c.read("etc/machine-id"))

	// Second boot: no longer a first boot.
	t0 = time.Now()
	st = c.mustStart(true)
	t.Logf("second start --wait: %v", time.Since(t0))
	state, _ = inCT(st.InitPID, "systemctl", "is-system-running", "--wait")
	out, _ := inCT(st.InitPID, "systemd-analyze")
	t.Logf("second boot: %s; %s", strings.TrimSpace(state), out)
	if strings.TrimSpace(state) != "running" {
		t.Errorf("second boot: is-system-running = %q", state)
	}
	if err := Stop(c.spec.RunDir, 30*time.Second, false); err != nil {
		t.Fatalf("stop: %v\n%s", err, c.logs())
	}
	checkNoLeaks(t, c, before)
	if t.Failed() {
		t.Log(c.read("../console.log"))
	}
}
