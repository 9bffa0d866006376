// Package migrate is vzmigrate: a container moves to another node over
// SSH with its config and private area, keeping its CTID, name, addresses
// and limits.
//
// Offline migration stops the container, streams a backup (ct/backup: the
// config, the tar of the private area, zstd, a SHA-256 trailer) through
// ssh into `vzctl receive CTID` on the destination, which builds the
// private area at its temporary path and commits it (config last) only
// when the trailer matches; then it starts the container there if it ran,
// and only then removes it here. Up to that switch every failure leaves
// the container here, started again if it ran, and nothing on the
// destination: receive rolls back its own failures (a cut stream is a
// damaged one), and a failed start there is undone with destroy.
//
// Live migration (--online, online.go) moves a running container with its
// processes: a copy while it runs, memory pre-dumps, a short freeze for
// the final dump and the last changes, a restore there. What checkpoint
// cannot save is refused up front, the container untouched; a stopped
// container migrates offline.
package migrate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"time"

	"govz/conf"
	"govz/ct"
	"govz/ct/backup"
	"govz/ct/idmap"
	"govz/ct/vzerror"
)

// vzmigrate's exit codes (vzmigrate(8)).
const (
	ExitUsage       = 1
	ExitConnect     = 4
	ExitCopy        = 6
	ExitDestStart   = 7
	ExitSourceStop  = 8
	ExitExistsOnDst = 9
	ExitNoSource    = 10
	ExitIPInUse     = 12
	ExitNoDiskSpace = 13
	// ExitNoCheckpoint: OpenVZ's code for "OpenVZ is not running" on a
	// node, the nearest to "this node cannot checkpoint".
	ExitNoCheckpoint = 14
	ExitName         = 15
	ExitLocked       = 20
)

// Code is one of vzmigrate's exit codes with what it means, the source
// of vzmigrate(8)'s EXIT STATUS section.
type Code struct {
	Code int
	Text string
}

// Codes lists the exit codes vzmigrate uses.
func Codes() []Code {
	return []Code{
		{0, "The container was migrated."},
		{ExitUsage, "Bad command line or option value."},
		{ExitConnect, "The destination cannot be reached over ssh, or its vzctl failed before the copy."},
		{ExitCopy, "Copying the config and private area failed (ssh cut, damaged stream), the container's host ID range is taken on the destination (refused before the stop), or cleaning up the source after the switch failed."},
		{ExitDestStart, "The container was copied but does not start on the destination."},
		{ExitSourceStop, "The container could not be stopped on the source."},
		{ExitExistsOnDst, "The destination already has a container with this CTID."},
		{ExitNoSource, "The container does not exist on the source."},
		{ExitIPInUse, "An address of the container is already in use on the destination."},
		{ExitNoDiskSpace, "The destination ran out of disk space or quota."},
		{ExitNoCheckpoint, "Live migration (--online) is refused before anything happens: CRIU is missing or too old here, rsync is missing, or the container has what checkpointing cannot save (the message says what); or a memory pre-dump failed (the container runs on here)."},
		{ExitName, "The container's name is taken on the destination."},
		{ExitLocked, "The container is locked by another command."},
	}
}

// Suffixes of a retired container's files: the source's with -r no, the
// destination's set aside with --keep-dst.
const (
	MigratedSuffix = ".migrated"
	KeptSuffix     = ".kept"
)

// Error is a migration failure with vzmigrate's exit code.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ExitCode is vzmigrate's exit status for e.
func (e *Error) ExitCode() int { return e.Code }

func fail(code int, format string, a ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, a...)}
}

// Options are vzmigrate's.
type Options struct {
	Dest   string   // [user@]host
	SSH    []string // extra ssh options (--ssh)
	Online bool
	// KeepDst (--keep-dst) keeps the destination's copy when the start
	// there fails: instead of destroying it, the destination sets it aside
	// (CTID.toml.kept, PRIVATE.kept), unregistered, so that the container
	// is only here and a retry finds the CTID free. OpenVZ keeps the
	// synced area for rsync to resume from; a stream copy does not resume,
	// so what is kept is for the admin to inspect or recover. A cut or
	// damaged stream is never kept: receive rolls it back either way.
	KeepDst bool
	// KeepSrc is -r no: the source's private area stays, its config is
	// renamed CTID.toml.migrated and its name released (ct.Node.Retire),
	// so the container is not registered twice.
	KeepSrc bool
	// RemoteVzctl is the command run on the destination ("vzctl").
	RemoteVzctl string
	// Progress gets stages: check, stop, copy (bytes), start, cleanup;
	// online: check, copy, predump (each round), sync, freeze, restore,
	// cleanup.
	Progress func(stage string, done, total int64)
}

// Result is what a migration did.
type Result struct {
	CTID       int     `json:"ctid"`
	Dest       string  `json:"dest"`
	WasRunning bool    `json:"was_running"`
	Bytes      int64   `json:"bytes"`
	Seconds    float64 `json:"seconds"`
	// Downtime is from the stop here to the start there (0 when it did
	// not run); online from the freeze to the restore there.
	Downtime float64 `json:"downtime_seconds"`
	Online   bool    `json:"online"`
	// PreDumps counts the memory pre-dumps sent before the freeze.
	PreDumps int `json:"predumps"`
	// Freeze splits an online migration's downtime, so that an operator
	// sees which step a slow switch spent its time in.
	Freeze *Freeze `json:"freeze,omitempty"`
}

// Freeze is where an online migration's downtime went, in seconds: the
// final dump, then at once the last sync of the private area and the
// images sent, then the restore on the destination.
type Freeze struct {
	Dump    float64 `json:"dump_seconds"`
	Sync    float64 `json:"sync_seconds"`
	Images  float64 `json:"images_seconds"`
	Restore float64 `json:"restore_seconds"`
}

type migration struct {
	n  *ct.Node
	id int
	o  Options
	// ctl is the ssh master connection's socket, when there is one.
	ctl string
}

func (m *migration) stage(s string) {
	if m.o.Progress != nil {
		m.o.Progress(s, 0, 0)
	}
}

// ssh returns the ssh command running args (one remote command line) on
// the destination.
func (m *migration) ssh(remote ...string) *exec.Cmd {
	args := []string{"-o", "BatchMode=yes"}
	args = append(args, m.o.SSH...)
	if m.ctl != "" {
		args = append(args, "-o", "ControlPath="+m.ctl)
	}
	args = append(args, m.o.Dest, "--")
	args = append(args, remote...)
	return exec.Command("ssh", args...)
}

// remote runs a vzctl command on the destination and returns its exit
// code (255: ssh itself failed) and output.
func (m *migration) remote(args ...string) (int, string, error) {
	c := m.ssh(append([]string{m.o.RemoteVzctl}, args...)...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out.String() + lastLine(errb.String()), nil
	}
	if err != nil {
		return -1, "", err
	}
	return 0, out.String(), nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// Migrate moves container id to o.Dest.
func Migrate(n *ct.Node, id int, o Options) (*Result, error) {
	start := time.Now()
	if o.RemoteVzctl == "" {
		o.RemoteVzctl = "vzctl"
	}
	m := &migration{n: n, id: id, o: o}
	layer, err := n.LoadCT(id)
	if err != nil {
		if errors.Is(err, vzerror.ErrNoConfig) {
			return nil, &Error{Code: ExitNoSource, Err: err}
		}
		return nil, err
	}
	st, err := n.Status(id)
	if err != nil {
		return nil, err
	}
	// Before anything happens: what a checkpoint would refuse.
	online := o.Online && st.Running
	if online {
		if err := n.CheckChkpnt(id); err != nil {
			if errors.Is(err, vzerror.ErrLocked) {
				return nil, &Error{Code: ExitLocked, Err: err}
			}
			return nil, fail(ExitNoCheckpoint, "live migration of container %d refused: %w", id, err)
		}
	}
	m.stage("check")
	code, out, err := m.remote("status", strconv.Itoa(id))
	switch {
	case err != nil:
		return nil, fail(ExitConnect, "running ssh: %v", err)
	case code == 255:
		return nil, fail(ExitConnect, "cannot connect to %s: %s", o.Dest, strings.TrimSpace(out))
	case code != 0 && code != 3:
		return nil, fail(ExitConnect, "%s on %s: status exit %d: %s", o.RemoteVzctl, o.Dest, code, strings.TrimSpace(out))
	case strings.Contains(out, " exist "):
		return nil, fail(ExitExistsOnDst, "container %d already exists on %s", id, o.Dest)
	}
	// Before the stop, so that a conflict costs no downtime; receive
	// checks again under the destination's lock.
	if err := m.checkConflicts(want{name: conf.Str(layer.Name), ips: layer.IPAddress, uid: idBase(layer.LocalUID), gid: idBase(layer.LocalGID)}); err != nil {
		return nil, err
	}
	res := &Result{CTID: id, Dest: o.Dest, WasRunning: st.Running, Online: online}
	if online {
		if err := m.online(res); err != nil {
			return nil, err
		}
		return m.finish(res, start)
	}
	var down time.Time
	if st.Running {
		m.stage("stop")
		down = time.Now()
		if err := n.Stop(id, false, false); err != nil {
			if errors.Is(err, vzerror.ErrLocked) {
				return nil, &Error{Code: ExitLocked, Err: err}
			}
			return nil, &Error{Code: ExitSourceStop, Err: err}
		}
	}
	// Until the start on the destination, a failure puts the container
	// back as it was here.
	undo := func(err error) error {
		if st.Running {
			if serr := n.Start(id, ct.StartOptions{}); serr != nil {
				err = errors.Join(err, fmt.Errorf("restarting container %d here: %w", id, serr))
			}
		}
		return err
	}
	m.stage("copy")
	nb, err := m.copy()
	if err != nil {
		return nil, undo(err)
	}
	res.Bytes = nb
	if st.Running {
		m.stage("start")
		code, out, err := m.remote("start", strconv.Itoa(id))
		if err != nil || code != 0 {
			err = fail(ExitDestStart, "starting container %d on %s: exit %d: %s", id, o.Dest, code, strings.TrimSpace(out))
			m.stage("cleanup")
			m.remote("stop", "--fast", strconv.Itoa(id))
			undoDst, what := []string{"destroy", strconv.Itoa(id)}, "removing"
			if o.KeepDst {
				undoDst, what = []string{"receive", "--set-aside", strconv.Itoa(id)}, "setting aside"
			}
			if c, out, derr := m.remote(undoDst...); derr != nil || c != 0 {
				err = errors.Join(err, fmt.Errorf("%s container %d on %s: exit %d: %s", what, id, o.Dest, c, strings.TrimSpace(out)))
			}
			return nil, undo(err)
		}
		res.Downtime = time.Since(down).Seconds()
	}
	return m.finish(res, start)
}

// finish removes (or retires, -r no) the container here once it is there.
func (m *migration) finish(res *Result, start time.Time) (*Result, error) {
	n, id, o := m.n, m.id, m.o
	m.stage("cleanup")
	if o.KeepSrc {
		if err := n.Retire(id, MigratedSuffix, false); err != nil {
			return nil, fail(ExitCopy, "container %d is on %s, but retiring it here failed: %w", id, o.Dest, err)
		}
	} else if err := n.Destroy(id); err != nil {
		return nil, fail(ExitCopy, "container %d is on %s, but removing it here failed: %v", id, o.Dest, err)
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// want is what of the container must be free on the destination.
type want struct {
	name     string
	ips      []string
	uid, gid int64 // host ID ranges' bases; 0: none (identity)
}

func idBase(b *conf.IDBase) int64 {
	if b == nil || b.IsAuto() {
		return 0
	}
	return int64(*b)
}

// checkConflicts refuses a name (15), an address (12) or a host ID range
// (6) that a container on the destination already has, as vzctl receive
// would, but only after the stop and the whole copy.
func (m *migration) checkConflicts(w want) error {
	c := m.ssh(m.vzlist(), "-a", "-j", "-o", "ctid,name,ip,local_uid,local_gid")
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		return fail(ExitConnect, "listing the containers of %s: %v: %s", m.o.Dest, err, lastLine(errb.String()))
	}
	return conflicts(out.Bytes(), m.o.Dest, w)
}

// vzlist is the destination's vzlist: next to its vzctl.
func (m *migration) vzlist() string {
	if d, _ := path.Split(m.o.RemoteVzctl); d != "" {
		return d + "vzlist"
	}
	return "vzlist"
}

// conflicts checks vzlist -j -o ctid,name,ip,local_uid,local_gid output
// for w.
func conflicts(list []byte, dest string, w want) error {
	// vzlist prints nothing, JSON or not, when the node has no container.
	if len(bytes.TrimSpace(list)) == 0 {
		return nil
	}
	var cts []struct {
		CTID     int      `json:"ctid"`
		Name     any      `json:"name"`
		IP       []string `json:"ip"`
		LocalUID int64    `json:"local_uid"`
		LocalGID int64    `json:"local_gid"`
	}
	if err := json.Unmarshal(list, &cts); err != nil {
		return fail(ExitConnect, "listing the containers of %s: %v", dest, err)
	}
	addrs := map[netip.Addr]string{}
	for _, ip := range w.ips {
		if a, err := conf.IPAddr(ip); err == nil {
			addrs[a] = ip
		}
	}
	// The files carry the source's host IDs, so receive keeps the range
	// (it does not remap); another container there may not share it.
	overlap := func(a, b int64) bool {
		return a > 0 && b > 0 && idmap.Of(uint64(a)).Overlaps(idmap.Of(uint64(b)))
	}
	for _, c := range cts {
		if nm, _ := c.Name.(string); w.name != "" && nm == w.name {
			return fail(ExitName, "name %s is already used by container %d on %s", w.name, c.CTID, dest)
		}
		for _, ip := range c.IP {
			if a, err := conf.IPAddr(ip); err == nil && addrs[a] != "" {
				return fail(ExitIPInUse, "address %s is already used by container %d on %s", addrs[a], c.CTID, dest)
			}
		}
		if overlap(w.uid, c.LocalUID) || overlap(w.gid, c.LocalGID) {
			return fail(ExitCopy, "host IDs %s (local_uid %d) are already used by container %d on %s: the private area's files carry them; give one of the two another range first", idmap.Of(uint64(w.uid)), w.uid, c.CTID, dest)
		}
	}
	return nil
}

// copy streams the backup of the (stopped) container into vzctl receive
// on the destination.
func (m *migration) copy() (int64, error) {
	c := m.ssh(m.o.RemoteVzctl, "receive", strconv.Itoa(m.id))
	// A pipe of the kernel's, not io.Pipe: when ssh dies, the next write
	// fails (EPIPE) instead of waiting for a reader that is gone.
	stdin, err := c.StdinPipe()
	if err != nil {
		return 0, err
	}
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		return 0, fail(ExitConnect, "running ssh: %v", err)
	}
	counter := &countWriter{w: stdin, fn: m.o.Progress}
	_, werr := backup.Write(m.n, m.id, counter, nil)
	stdin.Close()
	err = c.Wait()
	if werr != nil && err == nil {
		return 0, &Error{Code: ExitCopy, Err: werr}
	}
	if err != nil {
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		msg := strings.TrimSpace(lastLine(errb.String()))
		if msg == "" {
			msg = err.Error()
		}
		return 0, fail(receiveCode(code, out.String()), "copying container %d to %s: %s", m.id, m.o.Dest, msg)
	}
	return counter.n, nil
}

// receiveCode maps vzctl receive's exit code (vzctl's) to vzmigrate's.
func receiveCode(code int, out string) int {
	var ev struct{ Code int }
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		json.Unmarshal([]byte(l), &ev)
	}
	if ev.Code != 0 {
		code = ev.Code
	}
	switch code {
	case 44:
		return ExitExistsOnDst
	case 78:
		return ExitIPInUse
	case 131:
		return ExitName
	case 46:
		return ExitNoDiskSpace
	case 9:
		return ExitLocked
	}
	return ExitCopy
}

type countWriter struct {
	w    io.Writer
	n    int64
	last int64
	fn   func(stage string, done, total int64)
}

func (c *countWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.n += int64(k)
	if c.fn != nil && c.n-c.last >= 1<<20 {
		c.last = c.n
		c.fn("copy", c.n, -1)
	}
	return k, err
}
