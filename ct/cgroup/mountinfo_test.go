package cgroup

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// describe renders hierarchies one per line: name mountpoint root options.
func describe(hs []hierarchy) string {
	var b strings.Builder
	for _, h := range hs {
		fmt.Fprintf(&b, "%s %s %s [%s]\n", h.name, h.mountPoint, h.root, strings.Join(h.options, ","))
	}
	return b.String()
}

func TestParseMountinfo(t *testing.T) {
	for _, tc := range []struct {
		sample string
		layout Layout
		want   string
	}{
		{"mountinfo-v1-hybrid", V1, lines(
			"cpu /sys/fs/cgroup/cpu / [cpu]",
			"cpuacct /sys/fs/cgroup/cpuacct / [cpuacct]",
			"cpuset /sys/fs/cgroup/cpuset / [cpuset]",
			"memory /sys/fs/cgroup/memory / [memory]",
			"devices /sys/fs/cgroup/devices / [devices]",
			"freezer /sys/fs/cgroup/freezer / [freezer]",
			"blkio /sys/fs/cgroup/blkio / [blkio]",
			"pids /sys/fs/cgroup/pids / [pids]",
			"name=systemd /sys/fs/cgroup/systemd / [name=systemd]",
			"unified /sys/fs/cgroup/unified / []",
			"")},
		// Co-mounted controllers keep the kernel's order; flags worth
		// repeating stay, release_agent goes; the second mount of the
		// memory hierarchy (a sub-tree view) is ignored.
		{"mountinfo-v1-comount", V1, lines(
			"unified /sys/fs/cgroup/unified / []",
			"name=systemd /sys/fs/cgroup/systemd / [name=systemd,xattr]",
			"cpu,cpuacct /sys/fs/cgroup/cpu,cpuacct / [cpu,cpuacct]",
			"net_cls,net_prio /sys/fs/cgroup/net_cls,net_prio / [net_cls,net_prio]",
			"memory /sys/fs/cgroup/memory / [memory]",
			"cpuset /sys/fs/cgroup/cpuset / [cpuset,clone_children]",
			"freezer /sys/fs/cgroup/freezer / [freezer]",
			"pids /sys/fs/cgroup/pids / [pids]",
			"blkio /sys/fs/cgroup/blkio / [blkio]",
			"devices /sys/fs/cgroup/devices / [devices]",
			"perf_event /sys/fs/cgroup/perf_event / [perf_event]",
			"hugetlb /sys/fs/cgroup/hugetlb / [hugetlb]",
			"rdma /sys/fs/cgroup/rdma / [rdma]",
			"")},
		{"mountinfo-v2", V2, "unified /sys/fs/cgroup / []\n"},
	} {
		t.Run(tc.sample, func(t *testing.T) {
			b, err := os.ReadFile("testdata/" + tc.sample)
			if err != nil {
				t.Fatal(err)
			}
			hs, err := parseMountinfo(string(b))
			if err != nil {
				t.Fatal(err)
			}
			diff(t, "hierarchies", describe(hs), tc.want)
			l, err := layoutOf(hs)
			if err != nil || l != tc.layout {
				t.Errorf("layout = %v, %v; want %v", l, err, tc.layout)
			}
		})
	}
}

func TestParseMountinfoEdges(t *testing.T) {
	// Escaped mount point; a sub-tree view first, then the full mount,
	// which wins; a named-only v1 hierarchy next to cgroup2 is still V2.
	mi := lines(
		`50 1 0:40 /lxc/c1 /srv/my\040cg rw - cgroup cgroup rw,memory`,
		`51 1 0:40 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory`,
		`52 1 0:41 / /sys/fs/cgroup rw shared:9 master:3 - cgroup2 cgroup2 rw,nsdelegate`,
		`53 1 0:42 / /run/elogind rw - cgroup cgroup rw,xattr,release_agent=/x,name=elogind`,
		`54 1 0:43 / /srv/a\134b rw - cgroup cgroup rw,rdma`,
	)
	hs, err := parseMountinfo(mi)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "hierarchies", describe(hs), lines(
		"memory /sys/fs/cgroup/memory / [memory]",
		"unified /sys/fs/cgroup / []",
		"name=elogind /run/elogind / [name=elogind,xattr]",
		`rdma /srv/a\b / [rdma]`,
		""))

	named := []hierarchy{hs[1], hs[2]}
	if l, err := layoutOf(named); err != nil || l != V2 {
		t.Errorf("layout with named-only v1 = %v, %v; want v2", l, err)
	}
	if _, err := layoutOf(nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("layout without cgroups: %v; want ErrBadKernel", err)
	}

	for _, bad := range []string{
		"1 2 0:3 / /x rw cgroup cgroup rw,cpu",        // no separator
		"1 2 0:3 / /x rw - cgroup",                    // truncated
		"1 2 0:3 / /x rw - cgroup cgroup rw,xattr,ro", // no controller, no name
		"1 2 0:3 / /x rw - cgroup cgroup rw,release_agent=/y",
	} {
		if _, err := parseMountinfo(bad); err == nil {
			t.Errorf("parseMountinfo(%q) accepted", bad)
		}
	}
}

// The real table on this machine must parse and classify; the layout
// itself depends on the host, so check it against what /sys/fs/cgroup is.
func TestDetectLayoutHost(t *testing.T) {
	l, err := DetectLayout()
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ v2 bool }
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == "/sys/fs/cgroup" && strings.Contains(line, " - cgroup2 ") {
			st.v2 = true
		}
	}
	if want := map[bool]Layout{true: V2, false: V1}[st.v2]; l != want {
		t.Errorf("DetectLayout = %v; /sys/fs/cgroup says %v", l, want)
	}
}
