package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/internal/mountinfo"
)

// hostDisk returns the major:minor of the host's root disk: the device of
// "/" in mountinfo, or the first real block device in /sys/block when the
// root is not on one.
func hostDisk(t *testing.T) (uint32, uint32) {
	t.Helper()
	ms, err := mountinfo.Read(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.MountPoint == "/" {
			ma, mi, _ := strings.Cut(m.Dev, ":")
			maj, _ := strconv.Atoi(ma)
			min, _ := strconv.Atoi(mi)
			if maj != 0 {
				return uint32(maj), uint32(min)
			}
		}
	}
	es, _ := os.ReadDir("/sys/block")
	for _, e := range es {
		n := e.Name()
		if strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") || strings.HasPrefix(n, "zram") {
			continue
		}
		d, err := os.ReadFile(filepath.Join("/sys/block", n, "dev"))
		if err == nil {
			var maj, min uint32
			fmt.Sscanf(strings.TrimSpace(string(d)), "%d:%d", &maj, &min)
			return maj, min
		}
	}
	t.Skip("no host block device found")
	return 0, 0
}

const securityScript = `#!/bin/sh
try() { name=$1; shift; "$@" >/results/$name 2>&1; echo "rc=$?" >>/results/$name; }
printf 'not a module' >/tmp/x.ko
try insmod insmod /tmp/x.ko
try sysrq sh -c 'echo h >/proc/sysrq-trigger'
try remount mount -o remount,rw /sys
grep ' /sys ' /proc/mounts >>/results/remount
try syswrite sh -c 'echo 1000 >/sys/class/net/lo/tx_queue_len'
mkdir -p /tmp/sys2
try sysfs2 mount -t sysfs sysfs /tmp/sys2
try sysfs2write sh -c 'echo 1000 >/tmp/sys2/class/net/lo/tx_queue_len'
umount /tmp/sys2 2>/dev/null
try mknod mknod /tmp/disk b MAJOR MINOR
try hostdisk dd if=/hostdisk of=/dev/null bs=512 count=1
# Write back the current value: a failed protection changes nothing.
try procsys sh -c 'v=$(cat /proc/sys/kernel/panic); echo $v >/proc/sys/kernel/panic'
try netsys sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
try uts sh -c 'echo other >/proc/sys/kernel/hostname && hostname'
try unmaskkmsg sh -c 'head -c 16 /proc/kmsg | wc -c'
try devnull sh -c 'echo x >/dev/null && head -c 4 /dev/zero | wc -c'
try forceumount umount -f /tmp
ls /proc | grep -cE '^[0-9]+$' >/results/nprocs
echo ok >/results/done
`

func TestSecurity(t *testing.T) {
	c := newCT(t, "sec")
	maj, min := hostDisk(t)
	// A node for the host's disk, made from the host side: the device
	// cgroup must refuse to open it.
	if err := unix.Mknod(filepath.Join(c.root, "hostdisk"), unix.S_IFBLK|0o600, int(unix.Mkdev(maj, min))); err != nil {
		t.Fatal(err)
	}
	script := strings.NewReplacer("MAJOR", strconv.Itoa(int(maj)), "MINOR", strconv.Itoa(int(min))).Replace(securityScript)
	c.write("test.sh", script, 0o755)
	before := snapshot(t, c)
	c.mustStart(true)
	c.waitFile("results/done", 10*time.Second)
	res := func(name string) (string, bool) {
		s := c.read("results/" + name)
		return s, strings.Contains(s, "rc=0\n")
	}
	refused := func(name, why string) {
		t.Helper()
		out, ok := res(name)
		if ok || !strings.Contains(out, why) {
			t.Errorf("%s: want failure with %q, got:\n%s", name, why, out)
		}
	}
	// This CI kernel has no module support at all (ENOSYS on the host);
	// EPERM inside means the container's policy refused first.
	refused("insmod", "Operation not permitted")
	if fileExists("/proc/sysrq-trigger") {
		refused("sysrq", "Read-only file system")
	} else if _, ok := res("sysrq"); ok {
		t.Errorf("writing /proc/sysrq-trigger worked: %s", c.read("results/sysrq"))
	}
	// busybox mount words EPERM as "permission denied (are you root?)".
	refused("remount", "permission denied")
	if out, _ := res("remount"); !strings.Contains(out, "/sys sysfs ro,") {
		t.Errorf("/sys after the remount attempt:\n%s", out)
	}
	refused("syswrite", "Read-only file system")
	// A second sysfs mount shares the container's read-only superblock.
	if _, mounted := res("sysfs2"); mounted {
		refused("sysfs2write", "Read-only file system")
	}
	refused("mknod", "Operation not permitted")
	refused("hostdisk", "Operation not permitted")
	refused("procsys", "Read-only file system")
	refused("forceumount", "Operation not permitted")
	for _, ok := range []string{"netsys", "uts", "devnull"} {
		if out, good := res(ok); !good {
			t.Errorf("%s should work inside:\n%s", ok, out)
		}
	}
	if out, _ := res("uts"); !strings.HasPrefix(out, "other\n") {
		t.Errorf("hostname via /proc/sys/kernel/hostname: %q", out)
	}
	if host, _ := os.Hostname(); host == "other" {
		t.Error("the container renamed the host")
	}
	if out, _ := res("unmaskkmsg"); !strings.HasPrefix(out, "0\n") {
		t.Errorf("/proc/kmsg is not masked: %q", out)
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(c.read("results/nprocs"))); n == 0 || n > 8 {
		t.Errorf("%d processes visible inside", n)
	}
	if err := Stop(c.spec.RunDir, 5*time.Second, true); err != nil {
		t.Fatal(err)
	}
	checkNoLeaks(t, c, before)
}
