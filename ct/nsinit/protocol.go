// Package nsinit creates a container's namespaces and turns into its init.
//
// The supervisor starts a sealed in-memory copy of its own executable
// (internal/exeseal, passed as the child's fd 4: the guest must never reach
// the file on disk through the child's /proc/PID/exe) with the hidden
// first argument Verb, in new mount, PID, UTS, IPC and network namespaces,
// and with Options.UIDMappings in a new user namespace that owns them all;
// main must call Main for that verb before doing anything else.
// That child builds the container (cgroup namespace, root, mounts,
// hostname, syscall filter, capabilities) and execs the guest's init, which
// keeps PID 1 and the supervisor as its parent. Start is the parent's half.
//
// Why a re-exec and not a fork: Go cannot fork without exec, and clone(2)
// with namespace flags through os.StartProcess gives a fresh single-purpose
// process inside the new namespaces from its first instruction; everything
// that needs to happen inside them happens in Go in that process.
package nsinit

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"govz/conf"
	"govz/ct/caps"
	"govz/ct/cgroup"
	"govz/ct/grants"
	"govz/ct/idmap"
	"govz/ct/vzerror"
	"govz/internal/reexec"
)

// Verb is the hidden first argument that makes the executable run Main.
const Verb = reexec.NSInit

// The parent (supervisor) and the child (nsinit, PID 1 of the new PID
// namespace) talk over a SOCK_SEQPACKET socketpair, the child's fd 3, one
// JSON message per packet. The child's end is close-on-exec, so a
// successful execve of the guest's init shows up in the parent as EOF.
// The config message carries the parent's detached mounts (open_tree(2)
// descriptors, SCM_RIGHTS) named by Config.Mounts; with
// Config.LockMounts the run message carries the locked mount namespace.
//
// Every container the supervisor starts has a user namespace (NEWUSER):
// LOCAL_UID's, or for a privileged container one that maps every ID to
// itself (0 0 4294967295). Without NEWUSER (supervisor.Spec's
// UnlockedMounts, an escape hatch) the bracketed steps are skipped and the
// child binds the root by path, mounts /proc and /sys after the pivot and
// does the seccomp filter and capabilities itself before execve(init).
//
//	   supervisor (parent)                      nsinit (child, PID 1)
//	   clone(NEWNS|NEWPID|NEWUTS|NEWIPC|NEWNET
//	         [|NEWUSER: uid_map, gid_map written,
//	          setgroups allowed, then uid/gid 0
//	          inside before the execve])
//	          ------------------------------------> starts, blocks reading fd 3
//	   Place(pid): cgroup.AddProc
//	   [NEWUSER: raise RLIMIT_NOFILE's max]
//	   open_tree: console, notify, ready
//	   [NEWUSER: root (idmapped through
//	    /proc/pid/ns/user for LOCAL_UID,
//	    a plain recursive bind for identity),
//	    host /dev nodes]
//	   config {Config} + fds -------------------->
//	                                               unshare(CLONE_NEWCGROUP)
//	                                               rslave /, then either
//	                                               bind the root by path, or
//	                                               [NEWUSER: fsmount proc and
//	                                               sysfs; root fd onto /]
//	                                               pivot_root, detach old root
//	                                               /proc /sys /dev /run, masks,
//	                                               cgroup view, hostname,
//	                                               readiness hook, find init
//	                                               (this is mount namespace M1)
//	          <------------------------------------ prestart {Kind, Hooks}
//	   Prestart(pid): e.g. move
//	   veths into /proc/pid/ns/net
//	   [LockMounts: helper nsexec.c __govz_nslock
//	    (the same sealed copy):
//	    setns(U1 = pid's user ns), setns(M1),
//	    setresgid(0), setresuid(OWNER),
//	    unshare(NEWUSER|NEWNS) = U2, M2, a
//	    copy of M1 with every mount locked;
//	    open /proc/HELPER/ns/mnt, helper exits]
//	   run [+ fd of M2] ------------------------>
//	          <------------------------------------ exec
//	                                               without LockMounts: seccomp
//	                                               filter, capabilities,
//	                                               execve(init); or
//	                                               [LockMounts, on the main
//	                                               thread: unshare(CLONE_FS),
//	                                               setns(M2) (root and cwd =
//	                                               the container's root), new
//	                                               session keyring, seccomp,
//	                                               capabilities, execve(init)]
//	          <------------------------------------ EOF (fd 3 closed on exec)
//	   init is running (PID 1 all along)
//
//	Any step in the child may fail instead:
//	          <------------------------------------ error {Code, Msg}; exit 1
//	   Start returns it (errors.Is matches the vzerror sentinel of Code);
//	   a failure in the parent (Place, Prestart, the lock helper, a timeout)
//	   kills the child.
const (
	msgConfig   = "config"
	msgPrestart = "prestart"
	msgRun      = "run"
	msgExec     = "exec"
	msgError    = "error"
)

type message struct {
	Type   string       `json:"type"`
	Config *Config      `json:"config,omitempty"`
	Kind   string       `json:"kind,omitempty"`
	Hooks  []string     `json:"hooks,omitempty"`
	Error  *RemoteError `json:"error,omitempty"`
}

// maxMessage bounds one packet; a Config is a few KiB.
const maxMessage = 1 << 20

func encode(m *message) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > maxMessage {
		return nil, fmt.Errorf("%s message of %d bytes is too big", m.Type, len(b))
	}
	return b, nil
}

func decode(b []byte) (*message, error) {
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parsing message from the other side: %w", err)
	}
	return &m, nil
}

// RemoteError is an error that crossed a process boundary (child to
// supervisor, supervisor to vzctl): its text, and the identity of the
// sentinels and the exact exit status its chain carried, outermost first.
// Unwrap gives those back, so that errors.Is and the command layer's exit
// code see what they would have seen in the process that failed: "missing
// init" stays vzerror.ErrBadTemplate all the way up.
type RemoteError struct {
	Msg string `json:"msg"`
	// Chain names, outermost first, the sentinels of wireSentinels found
	// in the error tree, and "exit:N" for a *vzerror.ExitError.
	Chain []string `json:"chain,omitempty"`
}

// NewRemoteError captures err for sending.
func NewRemoteError(err error) *RemoteError {
	r := &RemoteError{Msg: err.Error()}
	known := wireSentinels()
	// In the order the command layer meets them (vzerror.Walk).
	vzerror.Walk(err, func(e error) bool {
		if ee, ok := any(e).(*vzerror.ExitError); ok { // this node only
			r.Chain = append(r.Chain, "exit:"+strconv.Itoa(ee.Status))
		}
		is, _ := any(e).(interface{ Is(error) bool })
		for _, k := range known {
			// This node only (errors.Is would descend into e); its own Is
			// method counts (rootfs.StepError is a mount failure).
			if any(e) == any(k.err) || is != nil && is.Is(k.err) {
				r.Chain = append(r.Chain, k.name)
			}
		}
		return false
	})
	return r
}

func (e *RemoteError) Error() string { return e.Msg }

// Unwrap returns the sentinels of Chain, and a *vzerror.ExitError for an
// exact status. Names this binary does not know (a supervisor of another
// version) are dropped: the error then only has its text.
func (e *RemoteError) Unwrap() []error {
	known := wireSentinels()
	var out []error
	for _, name := range e.Chain {
		if n, ok := strings.CutPrefix(name, "exit:"); ok {
			if st, err := strconv.Atoi(n); err == nil {
				out = append(out, &vzerror.ExitError{Status: st, Err: errors.New(e.Msg)})
			}
			continue
		}
		for _, k := range known {
			if k.name == name {
				out = append(out, k.err)
			}
		}
	}
	return out
}

type wireSentinel struct {
	name string
	err  error
}

// wireSentinels are the errors whose identity crosses a process boundary:
// the lifecycle classes and the sentinels of the kernel and data packages
// that the supervisor and the child use. A sentinel is named by its
// package and its text, which stay put across versions.
func wireSentinels() []wireSentinel {
	var out []wireSentinel
	for _, p := range []struct {
		pkg  string
		errs []error
	}{
		{"vzerror", vzerror.Sentinels()},
		{"conf", []error{conf.ErrUnknownKey, conf.ErrBadValue, conf.ErrBadHostname, conf.ErrBadIP,
			conf.ErrBadNameserver, conf.ErrBadSearchDomain, conf.ErrBadName, conf.ErrBadFile,
			conf.ErrNoSample, conf.ErrSave}},
		{"caps", []error{caps.ErrBadCapability, caps.ErrUnsupported}},
		{"grants", []error{grants.ErrBadValue}},
		{"idmap", []error{idmap.ErrBadPool, idmap.ErrExhausted}},
		{"cgroup", []error{cgroup.ErrUnsupported, cgroup.ErrBadPath, cgroup.ErrNoResource,
			cgroup.ErrPopulated, cgroup.ErrKillTimeout}},
	} {
		for _, e := range p.errs {
			out = append(out, wireSentinel{p.pkg + ": " + e.Error(), e})
		}
	}
	return out
}
