package cgroup

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// render shows mounts one per line in mount(8)-like form.
func render(ms []Mount) string {
	flag := func(f uintptr) string {
		var out []string
		for _, n := range []struct {
			bit  uintptr
			name string
		}{{unix.MS_REMOUNT, "remount"}, {unix.MS_RDONLY, "ro"}, {unix.MS_NOSUID, "nosuid"},
			{unix.MS_NODEV, "nodev"}, {unix.MS_NOEXEC, "noexec"}, {unix.MS_RELATIME, "relatime"}} {
			if f&n.bit != 0 {
				out = append(out, n.name)
				f &^= n.bit
			}
		}
		if f != 0 {
			out = append(out, fmt.Sprintf("%#x", f))
		}
		return strings.Join(out, ",")
	}
	var b strings.Builder
	for _, m := range ms {
		if m.Symlink != "" {
			fmt.Fprintf(&b, "symlink %s -> %s\n", m.Target, m.Symlink)
			continue
		}
		fmt.Fprintf(&b, "mount -t %s %s %s -o %s data=%s\n", m.FSType, m.Source, m.Target, flag(m.Flags), m.Data)
	}
	return b.String()
}

func TestGuestMountsV2(t *testing.T) {
	k := newFake(t, "mountinfo-v2", v2RootAvail, v2RootOn)
	g := openFake(t, k, "govz", "101")
	diff(t, "GuestMounts", render(g.GuestMounts()),
		"mount -t cgroup2 cgroup2 /sys/fs/cgroup -o nosuid,nodev,noexec,relatime data=\n")
}

func TestGuestMountsV1Hybrid(t *testing.T) {
	k := newFake(t, "mountinfo-v1-hybrid", "hugetlb\n", "")
	g := openFake(t, k, "govz", "101")
	var want []string
	want = append(want, "mount -t tmpfs tmpfs /sys/fs/cgroup -o nosuid,nodev,noexec data=mode=755")
	for _, c := range []string{"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"} {
		want = append(want, "mount -t cgroup cgroup /sys/fs/cgroup/"+c+" -o nosuid,nodev,noexec,relatime data="+c)
	}
	want = append(want,
		"mount -t cgroup cgroup /sys/fs/cgroup/systemd -o nosuid,nodev,noexec,relatime data=name=systemd",
		"mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified -o nosuid,nodev,noexec,relatime data=",
		"mount -t tmpfs tmpfs /sys/fs/cgroup -o remount,ro,nosuid,nodev,noexec data=mode=755",
		"")
	diff(t, "GuestMounts", render(g.GuestMounts()), lines(want...))
}

func TestGuestMountsV1Comount(t *testing.T) {
	k := newFake(t, "mountinfo-v1-comount", "\n", "")
	for l, target := range map[string]string{
		"cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct", "net_cls": "net_cls,net_prio", "net_prio": "net_cls,net_prio",
		"stray": "/elsewhere", "old": "gone",
	} {
		k.links["/sys/fs/cgroup/"+l] = target
	}
	g := openFake(t, k, "govz", "101")
	mnt := func(name, data string) string {
		return "mount -t cgroup cgroup /sys/fs/cgroup/" + name + " -o nosuid,nodev,noexec,relatime data=" + data
	}
	diff(t, "GuestMounts", render(g.GuestMounts()), lines(
		"mount -t tmpfs tmpfs /sys/fs/cgroup -o nosuid,nodev,noexec data=mode=755",
		"mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified -o nosuid,nodev,noexec,relatime data=",
		mnt("systemd", "name=systemd,xattr"),
		mnt("cpu,cpuacct", "cpu,cpuacct"),
		mnt("net_cls,net_prio", "net_cls,net_prio"),
		mnt("memory", "memory"),
		mnt("cpuset", "cpuset,clone_children"),
		mnt("freezer", "freezer"),
		mnt("pids", "pids"), // no release_agent
		mnt("blkio", "blkio"),
		mnt("devices", "devices"),
		mnt("perf_event", "perf_event"),
		mnt("hugetlb", "hugetlb"),
		mnt("rdma", "rdma"),
		"symlink /sys/fs/cgroup/cpu -> cpu,cpuacct",
		"symlink /sys/fs/cgroup/cpuacct -> cpu,cpuacct",
		"symlink /sys/fs/cgroup/net_cls -> net_cls,net_prio",
		"symlink /sys/fs/cgroup/net_prio -> net_cls,net_prio",
		"mount -t tmpfs tmpfs /sys/fs/cgroup -o remount,ro,nosuid,nodev,noexec data=mode=755",
		""))
}
