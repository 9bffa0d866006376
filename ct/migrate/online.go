package migrate

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"govz/ct/checkpoint"
	"govz/ct/vzerror"
)

// Live migration (--online), as OpenVZ's vzmigrate --online:
//
//  1. the first copy of the config and private area while the container
//     runs (the offline stream; receive registers it, stopped, there);
//  2. memory pre-dumps while it runs, each sent there, each writing only
//     what the container wrote since the previous one; the kernel must
//     track written pages (soft-dirty) for that, else there are none and
//     the final dump saves all memory;
//  3. the freeze: the final dump onto the last pre-dump (the tasks are
//     killed once saved), a second sync of the private area (rsync: what
//     changed since the first copy, deletions included), the final images
//     sent;
//  4. vzctl restore there, onto the synced area.
//
// Up to a restore there that succeeded, a failure leaves the container
// here: running all along until 3, restored here from its dump after it;
// the destination's copy is destroyed (set aside with --keep-dst) and its
// images removed. After the switch the source keeps nothing.
//
// The images go to PRIVATE.dump beside the destination's private area:
// on its file system, root's, and found from what its vzlist says. One ssh
// master connection (ControlMaster, a socket in a directory of ours)
// carries every step, so that the freeze pays no ssh handshake, and the
// session that takes the final images and restores is open before the
// freeze (switch.go).

// Pre-dump rounds: at most maxPreDumps, stopping early once a round writes
// less than smallPreDump (what is left costs the freeze little).
const (
	maxPreDumps  = 4
	smallPreDump = 1 << 20
)

// online migrates running container id; res is filled in.
func (m *migration) online(res *Result) error {
	n, id := m.n, m.id
	c, err := n.Load(id)
	if err != nil {
		return err
	}
	private := c.Private
	if _, err := exec.LookPath("rsync"); err != nil {
		return fail(ExitNoCheckpoint, "live migration needs rsync on both nodes: %v", err)
	}
	stopMaster, err := m.master()
	if err != nil {
		return err
	}
	defer stopMaster()

	// 1. The first copy, while it runs.
	m.stage("copy")
	nb, err := m.copy()
	if err != nil {
		return err
	}
	res.Bytes = nb
	rpriv, err := m.remotePrivate()
	if err != nil {
		return m.undoDst(err)
	}
	rdump := rpriv + ".dump"
	live := n.DumpPath(id, "") + ".live"
	os.RemoveAll(live)
	gid, err := n.DumpOwner(id)
	if err != nil {
		return m.undoDst(err)
	}
	if err := mkdirShared(live, gid); err != nil {
		return m.undoDst(fmt.Errorf("creating %s: %w: %w", live, err, vzerror.ErrSystem))
	}
	// The dump tree goes whatever happens, but for what the admin needs:
	// a failed dump's log (FailSuffix), a dump the restore here failed on.
	keepLive := false
	defer func() {
		if !keepLive {
			os.RemoveAll(live)
		}
	}()
	undoDst := func(err error) error {
		if _, _, rerr := m.remoteSh("rm -rf " + shq(rdump)); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return m.undoDst(err)
	}

	// 2. Pre-dumps, each sent at once.
	parent := ""
	if ok, why := n.CanPreDump(); !ok {
		n.Log.Infof("No memory pre-dumps: %s; the final dump saves all memory", why)
	} else {
		for i := 1; i <= maxPreDumps; i++ {
			m.stage("predump")
			name := strconv.Itoa(i)
			err := n.PreDump(id, filepath.Join(live, name), parent)
			if errors.Is(err, checkpoint.ErrNoMemTrack) {
				n.Log.Infof("No memory pre-dumps: %v; the final dump saves all memory", err)
				break
			}
			if err != nil {
				return undoDst(&Error{Code: ExitNoCheckpoint, Err: err})
			}
			sz := dirBytes(filepath.Join(live, name))
			k, err := m.send(live, name, rdump)
			if err != nil {
				return undoDst(err)
			}
			res.Bytes += k
			res.PreDumps++
			parent = filepath.Join("..", name)
			if sz < smallPreDump {
				break
			}
		}
	}
	// A sync while it runs: the one in the freeze then finds little, or
	// nothing to do at all when nothing changed since this mark.
	m.stage("sync")
	mark, err := newMark(live, id)
	if err != nil {
		return undoDst(err)
	}
	// The switch's session opens beside the sync, and the freeze waits
	// until the destination's restore has done its checks.
	sw, err := m.startSwitch(rdump)
	if err != nil {
		return undoDst(err)
	}
	if err := m.rsync(private, rpriv); err != nil {
		sw.abort()
		return undoDst(err)
	}
	if err := sw.waitReady(); err != nil {
		sw.abort()
		return undoDst(err)
	}

	// 3. The freeze.
	m.stage("freeze")
	down := time.Now()
	final := filepath.Join(live, "final")
	if err := n.ChkpntOnto(id, final, parent); err != nil {
		sw.abort()
		// The dump failed: CRIU let the tasks run on.
		if errors.Is(err, vzerror.ErrLocked) {
			return undoDst(&Error{Code: ExitLocked, Err: err})
		}
		keepLive = true
		return undoDst(&Error{Code: ExitSourceStop, Err: fmt.Errorf("checkpointing container %d: %w", id, err)})
	}
	dumped := time.Now()
	// From here a failure brings it back here from the dump.
	undo := func(err error) error {
		err = undoDst(err)
		if rerr := n.Restore(id, final); rerr != nil {
			keepLive = true
			err = errors.Join(err, fmt.Errorf("restoring container %d here from %s (kept: vzctl restore %d --dumpfile %s): %w", id, final, id, final, rerr))
		}
		return err
	}
	// The last sync and the images at once: both wait on ssh more than
	// they work.
	var k int64
	var synced, sent time.Time
	syncErr := make(chan error, 1)
	go func() {
		err := m.lastSync(private, rpriv, mark)
		synced = time.Now()
		syncErr <- err
	}()
	k, err = sw.images(live, "final")
	sent = time.Now()
	if serr := <-syncErr; serr != nil || err != nil {
		sw.abort()
		return undo(errors.Join(serr, err))
	}
	res.Bytes += k

	// 4. The restore there.
	m.stage("restore")
	if code, out := sw.commit(); code != 0 {
		err := m.switchFailure(code, out)
		m.stage("cleanup")
		m.remote("stop", "--fast", strconv.Itoa(id))
		return undo(err)
	}
	res.Downtime = time.Since(down).Seconds()
	restored, both := time.Now(), synced
	if sent.After(both) {
		both = sent
	}
	res.Freeze = &Freeze{
		Dump:    dumped.Sub(down).Seconds(),
		Sync:    synced.Sub(dumped).Seconds(),
		Images:  sent.Sub(dumped).Seconds(),
		Restore: restored.Sub(both).Seconds(),
	}
	n.Log.Infof("Downtime %.3f s: final dump %.3f s, then at once the last sync %.3f s and the images (%d bytes) %.3f s, restore on %s %.3f s",
		res.Downtime, dumped.Sub(down).Seconds(), synced.Sub(dumped).Seconds(), k, sent.Sub(dumped).Seconds(), m.o.Dest, restored.Sub(both).Seconds())
	// The switch is done; the images there are spent.
	m.remoteSh("rm -rf " + shq(rdump))
	return nil
}

// undoDst removes the destination's copy, or sets it aside (--keep-dst).
func (m *migration) undoDst(err error) error {
	args, what := []string{"destroy", strconv.Itoa(m.id)}, "removing"
	if m.o.KeepDst {
		args, what = []string{"receive", "--set-aside", strconv.Itoa(m.id)}, "setting aside"
	}
	if c, out, derr := m.remote(args...); derr != nil || c != 0 {
		err = errors.Join(err, fmt.Errorf("%s container %d on %s: exit %d: %s", what, m.id, m.o.Dest, c, strings.TrimSpace(out)))
	}
	return err
}

// master starts the ssh master connection the other ssh commands share,
// and returns its stop.
func (m *migration) master() (func(), error) {
	dir, err := os.MkdirTemp("", "vzmigrate-ssh-")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, vzerror.ErrSystem)
	}
	sock := filepath.Join(dir, "master")
	args := append([]string{"-o", "BatchMode=yes"}, m.o.SSH...)
	args = append(args, "-M", "-N", "-o", "ControlPersist=no", "-o", "ControlPath="+sock, m.o.Dest)
	c := exec.Command("ssh", args...)
	var errb strings.Builder
	c.Stderr = &errb
	if err := c.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fail(ExitConnect, "running ssh: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	stop := func() {
		c.Process.Kill()
		<-exited
		os.RemoveAll(dir)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case err := <-exited:
			exited <- err
			stop()
			return nil, fail(ExitConnect, "cannot connect to %s: %s", m.o.Dest, strings.TrimSpace(lastLine(errb.String())))
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fail(ExitConnect, "cannot connect to %s: no master connection after 30 s", m.o.Dest)
		}
	}
	m.ctl = sock
	return func() { m.ctl = ""; stop() }, nil
}

// lastSync syncs the private area of the dumped container.
func (m *migration) lastSync(private, rpriv string, mark *mark) error {
	// An image's file system is only consistent once unmounted. The
	// supervisor unmounts the root it mounted; a root mounted for a
	// restore stays mounted after the dump.
	if st, err := m.n.Status(m.id); err != nil || st.Mounted {
		if err := m.n.Umount(m.id); err != nil {
			return fail(ExitSourceStop, "unmounting container %d here: %v", m.id, err)
		}
	}
	list, err := mark.changes(private)
	if err != nil {
		return fail(ExitCopy, "container %d: %v", m.id, err)
	}
	if len(list) == 0 {
		return nil
	}
	return m.rsync(private, rpriv, list...)
}

// remoteSh runs one shell command line on the destination.
func (m *migration) remoteSh(line string) (int, string, error) {
	c := m.ssh(line)
	out, err := c.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out), fmt.Errorf("on %s: %s: exit %d: %s", m.o.Dest, line, ee.ExitCode(), lastLine(string(out)))
	}
	if err != nil {
		return -1, "", fmt.Errorf("running ssh: %w", err)
	}
	return 0, string(out), nil
}

// remotePrivate is the private area of the container on the destination,
// as its vzlist says.
func (m *migration) remotePrivate() (string, error) {
	code, out, err := m.remoteSh(m.vzlist() + " -H -o private " + strconv.Itoa(m.id))
	p := strings.TrimSpace(out)
	if err != nil || code != 0 || !filepath.IsAbs(p) || strings.ContainsAny(p, "'\n") {
		return "", fail(ExitCopy, "the private area of container %d on %s: %q: %v", m.id, m.o.Dest, p, err)
	}
	return p, nil
}

// rsync copies what changed in the private area here since the
// destination's copy (deletions, hard links, ACLs, xattrs and IDs as
// they are: the host IDs are the container's on both nodes). With only,
// the paths mark.changes listed, it compares no more than those: in the
// freeze, not the whole tree on both nodes.
func (m *migration) rsync(src, dst string, only ...string) error {
	rsh := append([]string{"ssh", "-o", "BatchMode=yes"}, m.o.SSH...)
	if m.ctl != "" {
		rsh = append(rsh, "-o", "ControlPath="+m.ctl)
	}
	c := exec.Command("rsync", rsyncArgs(strings.Join(rsh, " "), src, m.o.Dest+":"+dst, only)...)
	if only != nil {
		c.Stdin = strings.NewReader(strings.Join(only, "\x00") + "\x00")
	}
	out, err := c.CombinedOutput()
	if err != nil {
		return fail(ExitCopy, "syncing the private area of container %d to %s: %v: %s", m.id, m.o.Dest, err, lastLine(string(out)))
	}
	return nil
}

// rsyncArgs are rsync's arguments syncing directory src to dst (rsh: the
// remote shell, "" for none); with only, just those paths (stdin: NUL
// separated), a "dir/" one's entries compared and what is gone deleted.
func rsyncArgs(rsh, src, dst string, only []string) []string {
	args := []string{"-aHAX", "--numeric-ids", "--delete"}
	if rsh != "" {
		args = append(args, "-e", rsh)
	}
	if only != nil {
		args = append(args, "--dirs", "--files-from=-", "--from0")
	}
	return append(args, src+"/", dst+"/")
}

// send copies directory parent/name to rdir/name on the destination and
// returns the bytes sent.
func (m *migration) send(parent, name, rdir string) (int64, error) {
	// The top directory itself (its owner and mode) and name in it.
	tar := exec.Command("tar", "--numeric-owner", "-C", parent, "-cf", "-", "--no-recursion", ".", "--recursion", "./"+name)
	c := m.ssh("mkdir -p " + shq(rdir) + " && tar --numeric-owner -C " + shq(rdir) + " -xpf -")
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", err, vzerror.ErrSystem)
	}
	cw := &countWriter{w: pw}
	tar.Stdout = cw
	var terr, serr strings.Builder
	tar.Stderr = &terr
	c.Stdin, c.Stderr = pr, &serr
	if err := c.Start(); err != nil {
		pr.Close()
		pw.Close()
		return 0, fail(ExitConnect, "running ssh: %v", err)
	}
	pr.Close()
	err = tar.Run()
	pw.Close()
	if werr := c.Wait(); werr != nil {
		return 0, fail(ExitCopy, "sending %s to %s: %v: %s", name, m.o.Dest, werr, lastLine(serr.String()))
	}
	if err != nil {
		return 0, fail(ExitCopy, "archiving %s: %v: %s", filepath.Join(parent, name), err, lastLine(terr.String()))
	}
	return cw.n, nil
}

// mkdirShared makes dir for a dump tree: root's, searchable by the
// container's root group, which reads a parent's images on restore.
func mkdirShared(dir string, gid int) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o750); err != nil {
		return err
	}
	return os.Chown(dir, 0, gid)
}

func dirBytes(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// shq quotes s for the remote shell.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
