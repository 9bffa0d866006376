package migrate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"govz/ct/vzerror"
)

// The switch: one ssh session, opened before the freeze, receives the
// final images and runs vzctl restore on the word go, so that the freeze
// pays neither for an ssh session, a remote shell nor vzctl's start and
// checks (vzctl restore --wait-stdin runs from the start). Its stdin
// carries a line with the archive's size, the archive (a tar of the final
// images), then "go" once the last sync is done too; anything else (the
// session's stdin closed early) makes it exit without restoring. coreutils
// head -c reads no byte past its count and the shell's read no byte past
// its line, so the three parts stay apart on one pipe. Its output carries,
// among vzctl's messages, the line RestoreReady once vzctl restore waits
// for go: the session opens beside the last sync while the container
// runs, and the freeze begins only after that line.

// Exit codes of the switch script before vzctl restore runs.
const (
	switchNoImages = 250 // receiving the images failed
	switchAborted  = 251 // no go: the source gave up
)

// RestoreReady is the line vzctl restore --wait-stdin prints on its
// standard output once it has done everything but the restore (lock,
// configuration, the addresses' checks: an ARP probe waits for answers
// that do not come) and reads its go. The source freezes only once it
// came: the destination's checks are not the downtime's.
const RestoreReady = "govz: restore ready, waiting for go"

// readyTimeout bounds the wait for RestoreReady; past it the freeze goes
// ahead (a destination whose vzctl does not say it), as it did before.
const readyTimeout = 30 * time.Second

type pendingSwitch struct {
	m     *migration
	cmd   *exec.Cmd
	stdin io.WriteCloser
	// out is the session's output; ready is closed when RestoreReady came
	// in it, done when the output ended (the session is over).
	mu          sync.Mutex
	out         bytes.Buffer
	ready, done chan struct{}
	waitOnce    sync.Once
	waitErr     error
}

// wait waits for the ssh session once, however many ask.
func (p *pendingSwitch) wait() error {
	p.waitOnce.Do(func() { p.waitErr = p.cmd.Wait() })
	return p.waitErr
}

// startSwitch opens the session that will restore the container from
// rdump/final on the destination.
func (m *migration) startSwitch(rdump string) (*pendingSwitch, error) {
	rd := shq(rdump)
	// vzctl restore --wait-stdin starts at once: its start, the lock,
	// the config and the address checks are done before the freeze, and
	// it restores on the "go" the group passes on once both the images
	// and the source's go came. Were either missing, the group leaves its
	// exit code in a file (a pipeline's status is its last command's) and
	// restore reads no go: it exits without restoring.
	failed := shq(filepath.Join(rdump, ".switch-failed"))
	script := fmt.Sprintf(`mkdir -p %[1]s || exit %[2]d; rm -f %[3]s; `+
		`{ read -r n && head -c "$n" | tar --numeric-owner -C %[1]s -xpf - || { echo %[2]d >%[3]s; exit; }; `+
		`read -r go && [ "$go" = go ] || { echo %[4]d >%[3]s; exit; }; echo go; } | %[5]s restore %[6]d --wait-stdin --dumpfile %[7]s; `+
		`rc=$?; [ -s %[3]s ] && exit "$(cat %[3]s)"; exit $rc`,
		rd, switchNoImages, failed, switchAborted, shq(m.o.RemoteVzctl), m.id, shq(filepath.Join(rdump, "final")))
	p := &pendingSwitch{m: m, cmd: m.ssh(script), ready: make(chan struct{}), done: make(chan struct{})}
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("%w: %w", err, vzerror.ErrSystem)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, vzerror.ErrSystem)
	}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fail(ExitConnect, "running ssh: %v", err)
	}
	w.Close()
	go p.read(r)
	return p, nil
}

// read collects the session's output until it ends, and closes ready at
// the line RestoreReady.
func (p *pendingSwitch) read(r *os.File) {
	defer close(p.done)
	defer r.Close()
	sc := bufio.NewScanner(r)
	said := false
	for sc.Scan() {
		line := sc.Text()
		if !said && line == RestoreReady {
			said = true
			close(p.ready)
			continue
		}
		p.mu.Lock()
		p.out.WriteString(line + "\n")
		p.mu.Unlock()
	}
}

// output is what the session printed so far, RestoreReady left out.
func (p *pendingSwitch) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.TrimSpace(p.out.String())
}

// waitReady returns once the destination's vzctl restore waits for go;
// an error when the session ended first (it refused: the address is in
// use there, the container is locked, ...), with what it said. A
// destination that does not say so gets readyTimeout.
func (p *pendingSwitch) waitReady() error {
	select {
	case <-p.ready:
		return nil
	case <-p.done:
		err := p.wait()
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return p.m.switchFailure(code, p.output())
	case <-time.After(readyTimeout):
		p.m.n.Log.Warnf("%s did not say its restore is ready within %v; freezing anyway", p.m.o.Dest, readyTimeout)
		return nil
	}
}

// images sends directory parent/name (with parent's own owner and mode)
// and returns its size.
func (p *pendingSwitch) images(parent, name string) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(parent), ".vzmigrate-images-")
	if err != nil {
		return 0, fmt.Errorf("%w: %w", err, vzerror.ErrSystem)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	tar := exec.Command("tar", "--numeric-owner", "-C", parent, "-cf", "-", "--no-recursion", ".", "--recursion", "./"+name)
	var terr strings.Builder
	tar.Stdout, tar.Stderr = f, &terr
	if err := tar.Run(); err != nil {
		return 0, fail(ExitCopy, "archiving %s: %v: %s", filepath.Join(parent, name), err, lastLine(terr.String()))
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", err, vzerror.ErrSystem)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("%w: %w", err, vzerror.ErrSystem)
	}
	if _, err := fmt.Fprintf(p.stdin, "%d\n", size); err != nil {
		return 0, fail(ExitCopy, "sending the images to %s: %v", p.m.o.Dest, err)
	}
	if _, err := io.Copy(p.stdin, f); err != nil {
		return 0, fail(ExitCopy, "sending the images to %s: %v", p.m.o.Dest, err)
	}
	return size, nil
}

// commit says go and returns vzctl restore's exit code there (255: ssh
// failed) and output.
func (p *pendingSwitch) commit() (int, string) {
	_, err := io.WriteString(p.stdin, "go\n")
	p.stdin.Close()
	<-p.done
	werr := p.wait()
	out := p.output()
	var ee *exec.ExitError
	switch {
	case errors.As(werr, &ee):
		return ee.ExitCode(), out
	case werr != nil || err != nil:
		return -1, strings.TrimSpace(fmt.Sprint(errors.Join(werr, err), " ", out))
	}
	return 0, out
}

// abort ends the session without a restore.
func (p *pendingSwitch) abort() {
	p.stdin.Close()
	<-p.done
	p.wait()
}

// switchFailure describes a failed switch.
func (m *migration) switchFailure(code int, out string) error {
	switch code {
	case switchNoImages:
		return fail(ExitCopy, "sending the images of container %d to %s: %s", m.id, m.o.Dest, lastLine(out))
	case switchAborted:
		return fail(ExitCopy, "container %d: the switch on %s was cut short: %s", m.id, m.o.Dest, lastLine(out))
	}
	return fail(ExitDestStart, "restoring container %d on %s: exit %s: %s", m.id, m.o.Dest, strconv.Itoa(code), out)
}
