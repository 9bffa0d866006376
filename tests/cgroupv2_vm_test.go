package tests

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/cgroup"
	"govz/internal/mountinfo"
	"govz/tests/testvm"
)

// Most production hosts are cgroup v2-only, this machine is v1 hybrid, and
// the two layouts take different paths through ct/cgroup and ct/ubc. So
// TestCgroupV2InVM boots Debian's stock kernel under qemu (package testvm)
// with nothing but cgroup2 at /sys/fs/cgroup, its controllers enabled at
// the root as a v2 host's systemd delegates them, and runs end-to-end
// tests of this package there, with the binaries and the busybox template
// TestMain built on the host (GOVZ_E2E_PREBUILT; the VM's root is the
// host's, read-only).

// cgroupV2Env is set in the VM's environment.
const cgroupV2Env = "GOVZ_CGROUP_V2_VM"

// cgroupV2Tests run in the VM after TestCgroupV2InVM checked the layout.
// TestResCPULimit is left out: it reads v1's cpu.cfs_quota_us, and a 25%
// share measured over 2.5 s is not dependable on emulated CPUs sharing
// CI's two cores. TestResIOLimit is left out: the VM's installation is on
// a tmpfs, with no block device to throttle.
var cgroupV2Tests = []string{
	"TestBusyboxStartExecStop",    // start/exec/stop, cycles, leftovers
	"TestRebootAndPoweroffInside", // reboot, poweroff, init killed
	"TestResLiveSetAndSave",       // live --ram, --save, --reset_ub, --applyconfig
	"TestResMemoryHog",            // OOM inside, physpages failcnt, oom kills
	"TestResForkBomb",             // pids.max, numproc failcnt
	"TestChkpntRestoreBusybox",    // CRIU dump/restore with the v2 tree, same PIDs, counter, stop
}

// v2Controllers are what a v2 host's systemd enables at the root.
var v2Controllers = []string{"cpu", "memory", "pids", "io", "cpuset"}

func TestCgroupV2InVM(t *testing.T) {
	if os.Getenv(cgroupV2Env) != "" {
		assertCgroupV2Only(t)
		return
	}
	if reason := testvm.Available(); reason != "" {
		t.Skip(reason + ": the cgroup v2-only path is untested")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run := "^(" + strings.Join(append([]string{t.Name()}, cgroupV2Tests...), "|") + ")$"
	out := testvm.Run(t, testvm.Options{
		// CRIU probes /dev/net/tun, which devtmpfs has once the module is
		// loaded, and TCP repair over the host's loopback, which no init
		// brought up here; it makes its restore's mount roots in /tmp
		// ("/tmp/.criu.mntns.XXXXXX"), read-only here: an overlay over it
		// keeps the host's files there (this binary, binDir) in view.
		Script: fmt.Sprintf(`mount -t cgroup2 cgroup2 /sys/fs/cgroup || exit 1
modprobe -a tun nf_tables || exit 1
ip link set lo up || exit 1
mkdir -p /mnt/.tmp-up /mnt/.tmp-work || exit 1
mount -t overlay overlay -o lowerdir=/tmp,upperdir=/mnt/.tmp-up,workdir=/mnt/.tmp-work /tmp || exit 1
for c in %s; do echo +$c >/sys/fs/cgroup/cgroup.subtree_control || exit 1; done
%s=1 %s=%s %s=%s %s -test.run '%s' -test.v -test.count=1 -test.timeout 12m`,
			strings.Join(v2Controllers, " "), cgroupV2Env, prebuiltEnv, binDir, idModeEnv, idMode(), self, run),
		Timeout: 14 * time.Minute,
	})
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "cgroupv2_vm_test.go:") {
			t.Log("vm: " + l)
			lines = append(lines, l)
		}
	}
	// Each must have run and passed: a renamed test must not drop out
	// silently, nor may a skip count as a pass.
	for _, name := range append([]string{t.Name()}, cgroupV2Tests...) {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "--- PASS: "+name+" ") }) {
			t.Errorf("%s did not pass in the VM", name)
		}
	}
}

// assertCgroupV2Only fails unless this is a pure cgroup v2 host: cgroup2
// at /sys/fs/cgroup, no v1 hierarchy anywhere, the controllers enabled at
// the root, and govz's own detection agreeing. Otherwise the tests after
// it could silently exercise the v1 path.
func assertCgroupV2Only(t *testing.T) {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Fatalf("/sys/fs/cgroup is not cgroup2 (magic %#x, %v)", st.Type, err)
	}
	ms, err := mountinfo.Read(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.FSType == "cgroup" {
			t.Errorf("cgroup v1 hierarchy mounted at %s", m.MountPoint)
		}
	}
	on, err := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range v2Controllers {
		if !slices.Contains(strings.Fields(string(on)), c) {
			t.Errorf("controller %s not enabled at the root: %q", c, on)
		}
	}
	if l, err := cgroup.DetectLayout(); err != nil || l != cgroup.V2 {
		t.Fatalf("govz detects layout %v (%v), want v2", l, err)
	}
	t.Logf("cgroup2 only; root controllers: %s", strings.TrimSpace(string(on)))
}
