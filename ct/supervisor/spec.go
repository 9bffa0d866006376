package supervisor

import (
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"govz/ct/caps"
	"govz/ct/cgroup"
	"govz/ct/rootfs"
	"govz/ct/vzerror"
)

// Spec is one container as the supervisor boots it. The ct package builds
// it from the configuration; Start writes it to the run directory, where
// the supervisor reads it. A reboot from inside rebuilds it through the
// SpecLoader (and writes it again), so it picks up the current
// configuration.
type Spec struct {
	ID       string   `json:"id"`       // container ID, used for the cgroup name and container_uuid
	Rootfs   string   `json:"rootfs"`   // host path of the mounted root ($VZ_ROOT/root/101)
	RunDir   string   `json:"run_dir"`  // $VZ_ROOT/run/101: sockets, runstate, log
	Hostname string   `json:"hostname"` // UTS name; "" = none
	Init     []string `json:"init"`     // default /sbin/init
	Env      []string `json:"env"`      // added to init's environment (KEY=value; overrides the defaults)
	// CgroupParent is the cgroup below which the container's group is made
	// in every hierarchy (cgroup.DefaultParent by default).
	CgroupParent string `json:"cgroup_parent"`
	// Capabilities are vzctl --capability items, "name:on" / "name:off",
	// applied over caps.Default in order.
	Capabilities []string         `json:"capabilities"`
	DevNodes     []rootfs.DevNode `json:"dev_nodes"`    // extra device nodes, granted as their Access says
	Binds        []rootfs.Bind    `json:"binds"`        // host paths bound in (bindmount)
	ShmSize      string           `json:"shm_size"`     // tmpfs size of /dev/shm; "" = kernel default (rootfs.TmpfsSizes)
	RunSize      string           `json:"run_size"`     // tmpfs size of /run; "" = rootfs.DefaultRunSize
	StopTimeout  time.Duration    `json:"stop_timeout"` // graceful stop before the kill; 0 = DefaultStopTimeout
	// Devices are device cgroup grants without a node (vzctl --devices):
	// for nodes the admin made in the container's tree.
	Devices []rootfs.Rule `json:"devices,omitempty"`
	// ConsoleLog, when set, is a host file that gets a copy of everything
	// the container writes to its console (appended).
	ConsoleLog string `json:"console_log"`
	// NoSeccomp turns the syscall filter off (debugging only).
	NoSeccomp bool `json:"no_seccomp"`
	// UIDMappings and GIDMappings put the container in a user namespace of
	// its own (vzctl's LOCAL_UID/LOCAL_GID): one range each, starting at
	// container ID 0, so that the guest's root is an unprivileged host ID.
	// Both or neither. Neither means a privileged container: Validate
	// gives it IdentityMap (see Identity).
	UIDMappings []IDMap `json:"uid_mappings,omitempty"`
	GIDMappings []IDMap `json:"gid_mappings,omitempty"`
	// RootMapped says Rootfs is mounted with the mappings already (the
	// overlay layout: overlayfs cannot be idmapped, its layers are), so
	// the root is cloned as it is, not idmapped again.
	RootMapped bool `json:"root_mapped,omitempty"`
	// UnlockedMounts runs a privileged container as before mount locking:
	// no user namespace, its masks plain mounts that its root may remove
	// (userns.go). No config key sets it yet: it keeps the pre-lock code
	// path reachable for a guest that needs real host-root mounts (NFS).
	UnlockedMounts bool `json:"unlocked_mounts,omitempty"`

	// Prestart and Poststop are the boot's hook plan: named steps with
	// their data, run in order through the registered Executors (plan.go).
	Prestart []Step `json:"prestart,omitempty"`
	Poststop []Step `json:"poststop,omitempty"`
	// Restorer is the step whose executor's Restore brings the container
	// back from a dump instead of booting its init (vzctl restore).
	Restorer *Step `json:"restorer,omitempty"`

	// Hooks are the steps bound to their executors in this process.
	Hooks Hooks `json:"-"`
}

// IDMap is one line of /proc/PID/uid_map.
type IDMap struct {
	ContainerID, HostID, Size uint32
}

// Hooks let other subsystems act at fixed points of a boot. They run in the
// supervisor process.
type Hooks struct {
	// Prestart runs once the container's namespaces and filesystem exist,
	// before its init is exec'd; initPID is the host PID that will be init
	// (networking moves interfaces into /proc/initPID/ns/net). An error
	// aborts the boot.
	Prestart func(initPID int) error
	// Poststop runs after a boot whose Prestart succeeded has ended and its
	// processes and cgroups are gone. reboot is true when a new boot follows
	// at once (the guest rebooted); false when the container stays down.
	Poststop func(reboot bool)
	// Restore recreates the container's processes from the dump in dir
	// instead of booting its init (vzctl restore), once its cgroups exist;
	// console is the supervisor's end of the new console pty slave. It
	// returns the restored init's host PID, which must be the calling
	// process's child.
	// uids and gids are the mappings the root is to be idmapped with; nil
	// when it is not (identity-mapped and privileged containers).
	Restore func(dir string, console *os.File, uids, gids []IDMap) (initPID int, err error)
}

// SpecLoader returns the container's current Spec, built from its
// configuration: Start's, and the supervisor's on a reboot from inside.
type SpecLoader func() (*Spec, error)

// DefaultStopTimeout is vzctl's STOP_TIMEOUT default.
const DefaultStopTimeout = 120 * time.Second

// DefaultInit is the guest's init when Spec.Init is empty.
var DefaultInit = []string{"/sbin/init"}

// Validate checks s and fills defaults.
func (s *Spec) Validate() error {
	if s.ID == "" || strings.ContainsAny(s.ID, "/\x00\n") || s.ID == "." || s.ID == ".." {
		return fmt.Errorf("container id %q: %w", s.ID, vzerror.ErrInvalidValue)
	}
	if !filepath.IsAbs(s.Rootfs) || !filepath.IsAbs(s.RunDir) {
		return fmt.Errorf("container %s: root %q and run directory %q must be absolute paths: %w", s.ID, s.Rootfs, s.RunDir, vzerror.ErrInvalidValue)
	}
	// sun_path is 108 bytes; the longest socket name is "control".
	if len(filepath.Join(s.RunDir, controlName)) >= 108 {
		return fmt.Errorf("container %s: run directory %s is too long for a unix socket path: %w", s.ID, s.RunDir, vzerror.ErrInvalidValue)
	}
	if len(s.Init) == 0 {
		s.Init = append([]string(nil), DefaultInit...)
	}
	if !filepath.IsAbs(s.Init[0]) {
		return fmt.Errorf("container %s: init %q must be an absolute path: %w", s.ID, s.Init[0], vzerror.ErrInvalidValue)
	}
	if s.CgroupParent == "" {
		s.CgroupParent = cgroup.DefaultParent
	}
	if s.StopTimeout <= 0 {
		s.StopTimeout = DefaultStopTimeout
	}
	if err := validMappings(s.UIDMappings, s.GIDMappings); err != nil {
		return fmt.Errorf("container %s: %w", s.ID, err)
	}
	if len(s.UIDMappings) == 0 && !s.UnlockedMounts {
		s.UIDMappings, s.GIDMappings = IdentityMap(), IdentityMap()
	}
	if s.UnlockedMounts && s.UserNS() {
		return fmt.Errorf("container %s: unlocked mounts are only for privileged containers: %w", s.ID, vzerror.ErrInvalidValue)
	}
	if len(s.Hostname) > 64 {
		return fmt.Errorf("container %s: hostname %q is longer than 64 bytes: %w", s.ID, s.Hostname, vzerror.ErrBadHostname)
	}
	for _, d := range s.DevNodes {
		if err := d.Validate(); err != nil {
			return fmt.Errorf("container %s: %w", s.ID, err)
		}
	}
	for _, r := range s.Devices {
		if r.Type != 'c' && r.Type != 'b' || r.Major < 0 || r.Access == "" || strings.Trim(r.Access, "rwm") != "" {
			return fmt.Errorf("container %s: device rule %q: want c or b, a major and access r, w, m: %w", s.ID, r.String(), vzerror.ErrInvalidValue)
		}
	}
	for _, e := range s.Env {
		if !strings.Contains(e, "=") {
			return fmt.Errorf("container %s: environment entry %q is not KEY=value: %w", s.ID, e, vzerror.ErrInvalidValue)
		}
	}
	if _, err := caps.ParseChanges(s.Capabilities); err != nil {
		return fmt.Errorf("container %s: %w", s.ID, err)
	}
	return nil
}

// ContainerUUID is the stable container_uuid of container id: an RFC 4122
// version 5 (SHA-1, name-based) UUID of the id in a govz namespace, so it
// is the same on every boot. systemd in the guest uses it as the machine ID
// when /etc/machine-id is empty (CONTAINER_INTERFACE.md).
func ContainerUUID(id string) string {
	ns := [16]byte{0x5c, 0x0e, 0x1f, 0x3a, 0x8b, 0x44, 0x4d, 0x52, 0x9a, 0x61, 0x2f, 0x47, 0x6f, 0x76, 0x7a, 0x00}
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(id))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// initEnv is PID 1's environment: what the kernel gives init (HOME, TERM),
// a PATH, the CONTAINER_INTERFACE.md variables, then s.Env, which replaces
// a default of the same name.
func initEnv(s *Spec, notify bool) []string {
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/",
		"TERM=linux",
		"container=" + managerName,
		"container_uuid=" + ContainerUUID(s.ID),
	}
	if notify {
		env = append(env, "NOTIFY_SOCKET="+rootfs.NotifyPath)
	}
	for _, e := range s.Env {
		k, _, _ := strings.Cut(e, "=")
		kept := env[:0]
		for _, d := range env {
			if !strings.HasPrefix(d, k+"=") {
				kept = append(kept, d)
			}
		}
		env = append(kept, e)
	}
	return env
}

// managerName is what the guest sees as $container and in
// /run/host/container-manager.
const managerName = "govz"
