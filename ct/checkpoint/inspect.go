package checkpoint

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"govz/ct/rootfs"
	"govz/ct/vzerror"
	"govz/internal/mountinfo"
)

// Inspect gathers t's processes and console from /proc: pids are the
// container's cgroup members, initPID its init.
func Inspect(id string, initPID int, rootfs string, pids []int) (*Target, error) {
	t := &Target{ID: id, InitPID: initPID, Rootfs: rootfs}
	for _, pid := range pids {
		p, err := readProc(pid)
		if err != nil {
			continue // exited meanwhile
		}
		t.Procs = append(t.Procs, p)
	}
	// /dev/console inside is a bind mount of the supervisor's pty slave
	// from the host's devpts (ct/supervisor/console.go): its st_rdev and
	// st_dev are what CRIU's external tty key names.
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/root/dev/console", initPID), &st); err != nil {
		return nil, fmt.Errorf("container %s: console: %w: %w", id, err, vzerror.ErrChkpnt)
	}
	t.Console = Device{Rdev: st.Rdev, Dev: st.Dev}
	if err := unix.Stat(fmt.Sprintf("/proc/%d/root/dev", initPID), &st); err != nil {
		return nil, fmt.Errorf("container %s: /dev: %w: %w", id, err, vzerror.ErrChkpnt)
	}
	t.DevOwner = [2]int{int(st.Uid), int(st.Gid)}
	ifs, err := readIfaces(fmt.Sprintf("/proc/%d/net/dev", initPID))
	if err != nil {
		return nil, fmt.Errorf("container %s: network interfaces: %w: %w", id, err, vzerror.ErrChkpnt)
	}
	t.Ifaces = ifs
	masks, err := readMasks(fmt.Sprintf("/proc/%d/mountinfo", initPID))
	if err != nil {
		return nil, fmt.Errorf("container %s: mounts: %w: %w", id, err, vzerror.ErrChkpnt)
	}
	t.Masks = masks
	cg, err := readCgroupFS(fmt.Sprintf("/proc/%d/mountinfo", initPID), fmt.Sprintf("/proc/%d/root", initPID))
	if err != nil {
		return nil, fmt.Errorf("container %s: /sys/fs/cgroup: %w: %w", id, err, vzerror.ErrChkpnt)
	}
	t.CgroupFS = cg
	return t, nil
}

// readMasks lists the masked directories (rootfs.Masked) that are tmpfs
// mounts in a /proc/PID/mountinfo, as PID's root sees them.
func readMasks(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ms, err := mountinfo.Parse(string(b))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms {
		if m.FSType == "tmpfs" && slices.Contains(rootfs.Masked, m.MountPoint) && !slices.Contains(out, m.MountPoint) {
			out = append(out, m.MountPoint)
		}
	}
	return out, nil
}

// readIfaces lists the interfaces of a /proc/PID/net/dev: the network
// namespace of PID, whatever the reader's is.
func readIfaces(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	// Two header lines, then "  name: counters...".
	for i, l := range strings.Split(string(b), "\n") {
		if name, _, ok := strings.Cut(l, ":"); ok && i >= 2 {
			out = append(out, strings.TrimSpace(name))
		}
	}
	return out, nil
}

func readProc(pid int) (Proc, error) {
	p := Proc{PID: pid}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return p, err
	}
	p.Comm = strings.TrimSpace(string(comm))
	for _, ns := range []struct {
		name string
		ino  *uint64
	}{{"pid", &p.PidNS}, {"user", &p.UserNS}, {"uts", &p.UTSNS}, {"ipc", &p.IPCNS}, {"net", &p.NetNS}} {
		var st unix.Stat_t
		if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, ns.name), &st); err != nil {
			return p, err
		}
		*ns.ino = st.Ino
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid)); err == nil {
		p.Cgroup = systemdCgroup(string(b))
	}
	return p, nil
}

// systemdCgroup returns the path of the systemd hierarchy (cgroup v2's, or
// v1's name=systemd) in a /proc/PID/cgroup.
func systemdCgroup(cgroup string) string {
	for _, l := range strings.Split(cgroup, "\n") {
		if f := strings.SplitN(l, ":", 3); len(f) == 3 && f[1] == "name=systemd" {
			return f[2]
		}
	}
	for _, l := range strings.Split(cgroup, "\n") {
		if f := strings.SplitN(l, ":", 3); len(f) == 3 && f[0] == "0" && f[1] == "" {
			return f[2]
		}
	}
	return ""
}

// unitOf returns the systemd unit holding the process in cgroup below the
// container's root cgroup: the outermost service or scope there, as
// systemd names its cgroups after its units (systemd.special(7)); a
// delegated service's sub-cgroups (user@0.service/init.scope) belong to
// it. "" for a guest without systemd.
func unitOf(cgroup, root string) string {
	rel, ok := strings.CutPrefix(cgroup, root)
	if root == "" || !ok || (rel != "" && rel[0] != '/') {
		return ""
	}
	for _, part := range strings.Split(rel, "/") {
		if strings.HasSuffix(part, ".service") || strings.HasSuffix(part, ".scope") {
			return part
		}
	}
	return ""
}

// metaName is govz's own record in a dump directory: what a restore
// needs that CRIU's images do not say in a form we can use.
const metaName = "govz.json"

// Meta is the record.
type Meta struct {
	ID      string `json:"id"`
	Console Device `json:"console"` // the pty the dump left out
	Veths   []Veth `json:"veths,omitempty"`
	// Masks are the masked directories the dump left out (maskKey).
	Masks []string `json:"masks,omitempty"`
	// CgroupFS is the content of the /sys/fs/cgroup tmpfs the dump left
	// out (cgroupFSKey), nil when it saved it.
	CgroupFS []CgroupEntry `json:"cgroupfs,omitempty"`
	// DevOwner owns the restored /dev tmpfs (prepareDev).
	DevOwner [2]int `json:"dev_owner"`
}

func writeMeta(dir string, m *Meta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, metaName), append(b, '\n'), 0o600)
}

// ReadMeta reads the record of the dump in dir.
func ReadMeta(dir string) (*Meta, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaName))
	if err != nil {
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, metaName), err)
	}
	return &m, nil
}
