package ubc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"govz/ct/cgroup"
)

// HostFS is the real cgroupfs.
type HostFS struct{}

// ReadFile reads a whole file.
func (HostFS) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

// WriteFile writes data in one write(2) to an existing file.
func (HostFS) WriteFile(path, data string) error { return cgroup.WriteFile(path, data) }

// SubDirs lists every directory below dir, parents first. Groups that
// vanish meanwhile (the guest removing its own) are skipped.
func (HostFS) SubDirs(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != dir {
				return nil
			}
			return err
		}
		if d.IsDir() && p != dir {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// controllersOf lists the controllers Plan may use per layout.
func controllersOf(l cgroup.Layout) []string {
	if l == cgroup.V1 {
		return []string{"memory", "pids", "cpu", "cpuacct", "cpuset", "blkio"}
	}
	return []string{"memory", "pids", "cpu", "cpuset", "io"}
}

// ProbeEnv describes this host for a container whose private area is
// private. g should exist (a running or starting container); for a
// stopped one the nearest existing ancestor stands in, which is good
// enough to describe enforcement but not to plan writes.
func ProbeEnv(g Group, fsys FS, private string) Env {
	env := Env{Layout: g.Layout(), PageSize: int64(os.Getpagesize()), Controllers: map[string]bool{}, NodeCPUs: map[int]string{}}
	exists := func(p string) bool { _, err := fsys.ReadFile(p); return err == nil || !errors.Is(err, fs.ErrNotExist) }
	for _, c := range controllersOf(env.Layout) {
		if env.Layout == cgroup.V1 {
			if _, err := g.OuterPath(c); err == nil {
				env.Controllers[c] = true
			}
			continue
		}
		if _, err := g.OuterPath(c); err == nil {
			env.Controllers[c] = true
		} else if u, err := g.OuterPath(cgroup.UnifiedName); err == nil {
			// Not created yet: what the nearest ancestor offers is what
			// Create will enable.
			if d := existingDir(u); d != "" {
				if b, err := fsys.ReadFile(d + "/cgroup.controllers"); err == nil && hasWord(string(b), c) {
					env.Controllers[c] = true
				}
			}
		}
	}
	dir := func(ctrl string) string {
		d, err := g.OuterPath(ctrl)
		if err != nil {
			if u, uerr := g.OuterPath(cgroup.UnifiedName); uerr == nil {
				d = u
			}
		}
		return existingDir(d)
	}
	if d := dir("memory"); d != "" {
		if env.Layout == cgroup.V1 {
			env.Swap = exists(d + "/memory.memsw.limit_in_bytes")
			env.KmemTCP = exists(d + "/memory.kmem.tcp.limit_in_bytes")
		} else {
			env.Swap = exists(d+"/memory.swap.max") || !exists(d+"/memory.max") // the root has neither
		}
	}
	ioCtrl, weights := "io", []string{"io.weight", "io.bfq.weight"}
	if env.Layout == cgroup.V1 {
		ioCtrl, weights = "blkio", []string{"blkio.bfq.weight", "blkio.weight"}
	}
	if d := dir(ioCtrl); d != "" && env.Controllers[ioCtrl] {
		for _, w := range weights {
			if exists(d + "/" + w) {
				env.IOWeightFile = w
				break
			}
		}
	}
	if env.Layout == cgroup.V1 {
		if d, err := g.OuterPath("cpuset"); err == nil {
			if p := existingDir(filepath.Dir(d)); p != "" {
				if b, err := fsys.ReadFile(p + "/cpuset.cpus"); err == nil {
					env.ParentCPUs = strings.TrimSpace(string(b))
				}
				if b, err := fsys.ReadFile(p + "/cpuset.mems"); err == nil {
					env.ParentMems = strings.TrimSpace(string(b))
				}
			}
		}
	}
	nodes, _ := filepath.Glob("/sys/devices/system/node/node[0-9]*")
	for _, n := range nodes {
		id, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(n), "node"))
		if b, rerr := os.ReadFile(n + "/cpulist"); err == nil && rerr == nil {
			env.NodeCPUs[id] = strings.TrimSpace(string(b))
		}
	}
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		env.NrOpen, _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	}
	env.BlockDev = BlockDevice(private)
	return env
}

// existingDir returns d or its nearest existing ancestor; "" for "".
func existingDir(d string) string {
	for d != "" && d != "/" {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
		d = filepath.Dir(d)
	}
	return ""
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

// BlockDevice returns "MAJ:MIN" of the whole disk holding path, or "" when
// it is not on a block device: tmpfs, overlayfs and btrfs report an
// anonymous device (major 0) that I/O throttling cannot name. A partition
// is mapped to its disk, because blk-throttle takes whole disks only
// (block/blk-cgroup.c blkg_conf_open_bdev refuses partitions).
func BlockDevice(path string) string {
	var st unix.Stat_t
	if path == "" || unix.Stat(path, &st) != nil {
		return ""
	}
	maj, min := unix.Major(st.Dev), unix.Minor(st.Dev)
	if maj == 0 {
		return ""
	}
	dev := fmt.Sprintf("%d:%d", maj, min)
	sys := "/sys/dev/block/" + dev
	if _, err := os.Stat(sys + "/partition"); err == nil {
		if b, err := os.ReadFile(sys + "/../dev"); err == nil {
			return strings.TrimSpace(string(b))
		}
		return ""
	}
	if _, err := os.Stat(sys); err != nil {
		return ""
	}
	return dev
}
