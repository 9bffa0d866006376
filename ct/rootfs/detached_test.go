package rootfs

import (
	"errors"
	"strings"
	"testing"

	"govz/internal/roottest"
)

// A container in a user namespace gets procfs, sysfs and its device nodes
// as detached mounts: the plan attaches them where it would otherwise
// mount or mknod, in the same order, and leaves the rest as it is.
func TestPlanDetached(t *testing.T) {
	tun := DevNode{Path: "net/tun", Type: 'c', Major: 10, Minor: 200, Mode: 0o666}
	detached := map[string]int{"/proc": 20, "/sys": 21, "/dev/net/tun": 22}
	for i, d := range DefaultNodes {
		detached["/dev/"+d.Path] = 30 + i
	}
	steps, err := Plan(Config{ConsoleFD: -1, NotifyFD: -1, ReadyFD: -1, DevNodes: []DevNode{tun}, Detached: detached})
	if err != nil {
		t.Fatal(err)
	}
	text := render(steps)
	if strings.Contains(text, "mknod") || strings.Contains(text, "-t proc ") || strings.Contains(text, "-t sysfs ") {
		t.Fatalf("plan still mounts or makes what came detached:\n%s", text)
	}
	proc := indexOf(t, text, "move_mount fd:20 /proc")
	sys := indexOf(t, text, "move_mount fd:21 /sys")
	dev := indexOf(t, text, "mount -t tmpfs -o nosuid,strictatime,mode=755,size=4m tmpfs /dev")
	file := indexOf(t, text, "write /dev/null (0 bytes, mode 600)")
	null := indexOf(t, text, "move_mount fd:30 /dev/null")
	indexOf(t, text, "mkdir -p -m 755 /dev/net")
	indexOf(t, text, "move_mount fd:22 /dev/net/tun")
	mask := indexOf(t, text, "mask /proc/kcore")
	if !(proc < sys && sys < dev && dev < file && file < null && null < mask) {
		t.Errorf("order: proc %d sys %d dev %d file %d null %d mask %d\n%s", proc, sys, dev, file, null, mask, text)
	}
	// Without Detached nothing changes: the privileged plan.
	plain, err := Plan(Config{ConsoleFD: -1, NotifyFD: -1, ReadyFD: -1})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(render(plain), "move_mount") {
		t.Errorf("plain plan attaches something:\n%s", render(plain))
	}
}

// TestProbeIDMap: a tmpfs takes an idmapped mount on this kernel (6.3+)
// or not, and the probe agrees with what the kernel says for a real
// attempt; a file system that never does (procfs) is refused.
func TestProbeIDMap(t *testing.T) {
	roottest.Require(t, "idmapped mounts")
	dir := t.TempDir()
	if err := ProbeIDMap(dir); err != nil {
		t.Logf("temp dir %s: %v", dir, err)
	}
	if err := ProbeIDMap("/proc"); !errors.Is(err, ErrNoIDMap) {
		t.Fatalf("procfs: %v, want ErrNoIDMap", err)
	}
}
