package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	criu "github.com/checkpoint-restore/go-criu/v7"
	"github.com/checkpoint-restore/go-criu/v7/rpc"
	"golang.org/x/sys/unix"

	"govz/ct/vzerror"
)

func target() *Target {
	return &Target{
		ID: "101", InitPID: 4000, Rootfs: "/vz/root/101",
		Console: Device{Rdev: 0x8800, Dev: 0x19},
		Freezer: "/sys/fs/cgroup/freezer/govz/101/ct",
		Procs: []Proc{
			{PID: 4000, Comm: "init", PidNS: 7, UserNS: 9, UTSNS: 11, IPCNS: 12},
			{PID: 4010, Comm: "sh", PidNS: 7, UserNS: 9, UTSNS: 11, IPCNS: 12},
		},
	}
}

func TestPreflightAcceptsPlainContainer(t *testing.T) {
	if err := Preflight(target()); err != nil {
		t.Fatal(err)
	}
}

// A container with venet and a bridged veth is saved: their host side is
// rebuilt on restore.
func TestPreflightAcceptsGovzInterfaces(t *testing.T) {
	tg := target()
	tg.Ifaces = []string{"lo", "venet0", "eth0"}
	tg.Veths = []Veth{{"venet0", "venet101"}, {"eth0", "veth101.0"}}
	if err := Preflight(tg); err != nil {
		t.Fatal(err)
	}
}

func TestPreflightRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Target)
		want   error
		words  string
	}{
		{"not running", func(t *Target) { t.InitPID = 0 }, vzerror.ErrNotRunning, "not running"},
		{"init not in the cgroup", func(t *Target) { t.Procs = t.Procs[1:] }, vzerror.ErrChkpnt, "init 4000"},
		{"nested pid namespace", func(t *Target) {
			t.Procs = append(t.Procs, Proc{PID: 4020, Comm: "unshare", PidNS: 8, UserNS: 9, UTSNS: 11, IPCNS: 12})
		}, vzerror.ErrChkpnt, "process 4020 (unshare) runs in a nested PID namespace"},
		{"nested user namespace", func(t *Target) {
			t.Procs = append(t.Procs, Proc{PID: 4030, Comm: "bwrap", PidNS: 7, UserNS: 10, UTSNS: 11, IPCNS: 12})
		}, vzerror.ErrChkpnt, "process 4030 (bwrap) runs in a nested user namespace"},
		{"nested uts namespace", func(t *Target) {
			t.Procs = append(t.Procs, Proc{PID: 4040, Comm: "systemd-logind", PidNS: 7, UserNS: 9, UTSNS: 13, IPCNS: 12})
		}, vzerror.ErrChkpnt, "process 4040 (systemd-logind) runs in a nested UTS namespace"},
		{"nested ipc namespace", func(t *Target) {
			t.Procs = append(t.Procs, Proc{PID: 4050, Comm: "svc", PidNS: 7, UserNS: 9, UTSNS: 11, IPCNS: 14})
		}, vzerror.ErrChkpnt, "process 4050 (svc) runs in a nested IPC namespace"},
		{"nested uts namespace of a systemd unit", func(t *Target) {
			t.Procs = append(t.Procs, Proc{PID: 4060, Comm: "systemd-logind", PidNS: 7, UserNS: 9, UTSNS: 13, IPCNS: 12, Cgroup: "/govz/101/ct/system.slice/systemd-logind.service"})
			t.CgroupRoot = "/govz/101/ct"
		}, vzerror.ErrChkpnt, "process 4060 (systemd-logind) of systemd-logind.service runs in a nested UTS namespace, which CRIU cannot checkpoint (a drop-in with ProtectHostname=no for systemd-logind.service"},
		{"nested ipc namespace of a systemd unit", func(t *Target) {
			t.Procs = append(t.Procs, Proc{PID: 4070, Comm: "svc", PidNS: 7, UserNS: 9, UTSNS: 11, IPCNS: 14, Cgroup: "/govz/101/ct/system.slice/svc.service/sub"})
			t.CgroupRoot = "/govz/101/ct"
		}, vzerror.ErrChkpnt, "PrivateIPC=no for svc.service"},
		{"no console", func(t *Target) { t.Console = Device{} }, vzerror.ErrChkpnt, "console"},
		{"foreign interface", func(t *Target) {
			t.Ifaces = []string{"lo", "venet0", "eth0", "tun0"}
			t.Veths = []Veth{{"venet0", "venet101"}, {"eth0", "veth101.0"}}
		}, vzerror.ErrChkpnt, "network interface tun0 is not one govz made"},
		{"nested net namespace with interfaces", func(t *Target) {
			t.Ifaces = []string{"lo", "venet0"}
			t.Veths = []Veth{{"venet0", "venet101"}}
			t.Procs = append(t.Procs, Proc{PID: 4060, Comm: "ip", PidNS: 7, UserNS: 9, UTSNS: 11, IPCNS: 12, NetNS: 15})
		}, vzerror.ErrChkpnt, "process 4060 (ip) runs in a nested network namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := target()
			tc.change(tg)
			err := Preflight(tg)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.words) {
				t.Fatalf("Preflight = %v; want %v mentioning %q", err, tc.want, tc.words)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

func TestDumpOptions(t *testing.T) {
	tg := target()
	tg.Veths = []Veth{{Inside: "venet0", Outside: "venet0.101"}}
	tg.CgroupRoot = "/govz/101/ct"
	tg.Masks = []string{"/proc/acpi", "/sys/firmware"}
	o := DumpOptions(tg, 7)
	if o.GetPid() != 4000 || o.GetImagesDirFd() != 7 || o.GetRoot() != "/vz/root/101" {
		t.Fatalf("pid/images/root = %d/%d/%q", o.GetPid(), o.GetImagesDirFd(), o.GetRoot())
	}
	if o.GetLeaveRunning() {
		t.Fatal("chkpnt stops the container: LeaveRunning must be off")
	}
	if !o.GetTcpEstablished() || !o.GetFileLocks() || !o.GetManageCgroups() {
		t.Fatal("tcp-established, file locks and cgroups must be saved")
	}
	if o.GetManageCgroupsMode() != rpc.CriuCgMode_SOFT {
		t.Fatalf("cgroup mode %v", o.GetManageCgroupsMode())
	}
	if o.GetFreezeCgroup() != tg.Freezer {
		t.Fatalf("freeze cgroup %q", o.GetFreezeCgroup())
	}
	// The whole cgroup tree, empty cgroups included (systemd watches
	// them), and no host binds guessed from shared mounts (systemd's
	// binds of the root in a service's mount namespace).
	if len(o.GetCgRoot()) != 1 || o.GetCgRoot()[0].GetPath() != "/govz/101/ct" || o.GetCgRoot()[0].Ctrl != nil {
		t.Fatalf("cgroup root %v", o.GetCgRoot())
	}
	if o.GetExtSharing() || !o.GetAutoExtMnt() {
		t.Fatalf("ext sharing %v, auto ext mounts %v", o.GetExtSharing(), o.GetAutoExtMnt())
	}
	for _, want := range []string{"tty[8800:19]", "veth[venet0]:venet0.101", "mnt[/dev]:govz-dev", "mnt[/dev/console]:govz-console", "mnt[/sys/firmware]:govz-mask"} {
		if !slices.Contains(o.GetExternal(), want) {
			t.Fatalf("external %v lacks %q", o.GetExternal(), want)
		}
	}
	// vzctl chkpnt --dump: the same dump, the tasks left frozen.
	tg.LeaveRunning = true
	if o := DumpOptions(tg, 7); !o.GetLeaveRunning() || o.GetFreezeCgroup() != tg.Freezer {
		t.Fatalf("leave running %v, freeze cgroup %q", o.GetLeaveRunning(), o.GetFreezeCgroup())
	}
}

func TestRestoreOptions(t *testing.T) {
	tg := target()
	tg.Veths = []Veth{{Inside: "venet0", Outside: "venet0.101"}}
	tg.CgroupRoot = "/govz/101/ct"
	o := RestoreOptions(tg, 7, 12, Device{Rdev: 0x8801, Dev: 0x19}, "/run/dev", "/proc/9/fd/12", "/run/mask", "")
	for _, want := range []string{"mnt[govz-dev]:/run/dev", "mnt[govz-console]:/proc/9/fd/12", "mnt[govz-mask]:/run/mask"} {
		if !slices.Contains(o.GetExternal(), want) {
			t.Fatalf("external %v lacks %q", o.GetExternal(), want)
		}
	}
	if r := o.GetCgRoot(); len(r) != 1 || r[0].GetCtrl() != "" || r[0].GetPath() != "/govz/101/ct" {
		t.Fatalf("cgroup root %v: want every controller's at /govz/101/ct", r)
	}
	if !o.GetRstSibling() {
		t.Fatal("the restored init must be the caller's (the supervisor's) child: rst_sibling")
	}
	if len(o.GetInheritFd()) != 1 || o.GetInheritFd()[0].GetKey() != "tty[8801:19]" || o.GetInheritFd()[0].GetFd() != 12 {
		t.Fatalf("inherit fd %v", o.GetInheritFd())
	}
	// CRIU cannot make the pairs from inside the user namespace: the
	// namespace comes back empty for govz to fill.
	if len(o.GetVeths()) != 0 || o.GetEmptyNs() != unix.CLONE_NEWNET {
		t.Fatalf("veths %v, empty namespaces %#x: want none and the network's", o.GetVeths(), o.GetEmptyNs())
	}
	// Nor without, when the dump has one network namespace: govz restores
	// its state itself, cheaper. With nested ones (a systemd service's
	// PrivateNetwork=), CRIU restores them all.
	for _, c := range []struct {
		nets int
		want uint32
	}{{1, unix.CLONE_NEWNET}, {2, 0}} {
		tt := target()
		tt.NetNamespaces = c.nets
		if o := RestoreOptions(tt, 7, 12, Device{Rdev: 0x8801, Dev: 0x19}, "/run/dev", "/proc/9/fd/12", "", ""); o.GetEmptyNs() != c.want {
			t.Fatalf("no veth, %d network namespaces: empty namespaces %#x, want %#x", c.nets, o.GetEmptyNs(), c.want)
		}
	}
	if o.GetLogFile() != "restore.log" || !o.GetTcpEstablished() {
		t.Fatal("restore must log to restore.log and restore established TCP")
	}
}

type fakeEngine struct {
	version int
	err     error
}

func (f *fakeEngine) Version() (int, error)                    { return f.version, f.err }
func (f *fakeEngine) Dump(*rpc.CriuOpts) error                 { return nil }
func (f *fakeEngine) Restore(*rpc.CriuOpts, criu.Notify) error { return nil }
func (f *fakeEngine) Path() string                             { return "/usr/sbin/criu" }

func TestCheckVersion(t *testing.T) {
	old := &fakeEngine{version: 31701}
	err := CheckVersion(old, vzerror.ErrChkpnt)
	if !errors.Is(err, vzerror.ErrChkpnt) || !strings.Contains(err.Error(), "CRIU 3.17.1 at /usr/sbin/criu is too old: need 4.0.0 or newer") {
		t.Fatalf("old criu: %v", err)
	}
	if err := CheckVersion(&fakeEngine{version: 40101}, vzerror.ErrRestore); err != nil {
		t.Fatalf("4.1.1: %v", err)
	}
}

func TestReadMasks(t *testing.T) {
	mi := `21 20 0:19 / / rw,relatime - overlay overlay rw
30 21 0:30 / /proc/acpi ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=555
31 21 0:31 / /sys/firmware ro,nosuid,nodev,noexec shared:5 - tmpfs tmpfs ro,mode=555
32 21 0:32 / /run rw,nosuid,nodev - tmpfs tmpfs rw,mode=755
33 21 0:33 / /proc/kcore rw - devtmpfs udev rw
`
	p := filepath.Join(t.TempDir(), "mountinfo")
	if err := os.WriteFile(p, []byte(mi), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readMasks(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/proc/acpi", "/sys/firmware"}; !slices.Equal(got, want) {
		t.Fatalf("masks %v, want %v", got, want)
	}
}

// countingEngine counts the workers asked for a version.
type countingEngine struct {
	fakeEngine
	path  string
	asked int
}

func (c *countingEngine) Version() (int, error) { c.asked++; return c.fakeEngine.Version() }
func (c *countingEngine) Path() string          { return c.path }

func TestVersionCache(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "criu")
	if err := os.WriteFile(bin, []byte("v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "criu.version")
	inner := &countingEngine{fakeEngine: fakeEngine{version: 40101}, path: bin}
	e := WithVersionCache(inner, cache)
	for i := 0; i < 3; i++ {
		if v, err := e.Version(); err != nil || v != 40101 {
			t.Fatalf("version %d, %v", v, err)
		}
	}
	if inner.asked != 1 {
		t.Fatalf("CRIU asked %d times for three versions, want once", inner.asked)
	}
	// Another executable at the same path (an upgrade): asked again.
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("v2, longer"), 0o755); err != nil {
		t.Fatal(err)
	}
	inner.version = 31701
	if err := CheckVersion(e, vzerror.ErrChkpnt); err == nil || !strings.Contains(err.Error(), "3.17.1") {
		t.Fatalf("replaced executable: %v", err)
	}
	if inner.asked != 2 {
		t.Fatalf("CRIU asked %d times after its executable changed, want 2", inner.asked)
	}
	// A failure is not remembered.
	inner.err = errors.New("broken")
	if err := os.WriteFile(bin, []byte("v3, longer still"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Version(); err == nil {
		t.Fatal("a broken CRIU answered from the cache")
	}
	if _, err := e.Version(); err == nil || inner.asked != 4 {
		t.Fatalf("a failure was cached: %v, asked %d", err, inner.asked)
	}
	// A missing executable is asked (and fails there), never cached.
	gone := WithVersionCache(&countingEngine{fakeEngine: fakeEngine{err: os.ErrNotExist}, path: filepath.Join(dir, "none")}, cache)
	if _, err := gone.Version(); err == nil {
		t.Fatal("missing executable answered")
	}
}
