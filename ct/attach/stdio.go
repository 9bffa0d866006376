package attach

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/vzerror"
	"govz/internal/exeseal"
)

// drainTimeout bounds how long output is still copied after the command
// exited: a daemon it started may hold the pipe or pty open forever.
const drainTimeout = 250 * time.Millisecond

// stdio is what exec's command gets as fds 0-2. Only an anonymous pipe
// (or a sealed memfd, runscript's body) is handed to the container as it
// is; anything else the host gave vzctl is replaced by a pipe and copied.
// The command can reopen each of its fds through /proc/self/fd/N, which
// reaches the object behind it with a fresh open and the container root's
// credentials, whatever mode the host opened it with. Through a host file
// (</etc/x, >>log) it would write the file, truncate it or chmod it 4755;
// through a terminal inject input (TIOCSTI) or change its line discipline;
// through a device node fchmod the host's node (0620 on /dev/null breaks
// every non-root program there); a socket or a directory would give it a
// host object of its own. A named FIFO is a file too: reopened, it is the
// host's FIFO node (its mode, and either end for anyone using it). An
// anonymous pipe (pipefs) has no name and nothing on the host but its
// descriptors: reopened, it gives only another end of the same pipe, so
// at worst the command reads what host processes sharing the caller's
// pipe write after it ("{ vzctl exec ...; cmd; } | x"); runc passes pipes
// as well.
type stdio struct {
	child [3]*os.File
	tty   bool // some host stdio file is a terminal

	childEnds []*os.File // our copies of the pipe ends the command gets
	outputs   []*os.File // read ends copied to host files
	outWG     sync.WaitGroup
	inW       *os.File      // write end the stdin copier fills; nil without one
	inDone    chan struct{} // closed when the stdin copier returned; nil without one
	cancelR   *os.File      // stdin copier stops when cancelW closes
	cancelW   *os.File
	closeOnce sync.Once
}

func newStdio(in, out, errf *os.File) (_ *stdio, err error) {
	if in == nil {
		in = os.Stdin
	}
	if out == nil {
		out = os.Stdout
	}
	if errf == nil {
		errf = os.Stderr
	}
	s := &stdio{child: [3]*os.File{in, out, errf}}
	s.tty = isTerminal(in) || isTerminal(out) || isTerminal(errf)
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if !handOver(in) {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("creating stdin pipe: %w: %w", err, vzerror.ErrSystem)
		}
		s.cancelR, s.cancelW, err = os.Pipe()
		if err != nil {
			r.Close()
			w.Close()
			return nil, fmt.Errorf("creating pipe: %w: %w", err, vzerror.ErrSystem)
		}
		s.child[0] = r
		s.childEnds = append(s.childEnds, r)
		s.inW = w
		s.inDone = make(chan struct{})
		go func() {
			defer close(s.inDone)
			defer w.Close()
			copyInput(w, in, s.cancelR)
		}()
	}
	// ">out 2>&1": one pipe for both keeps the order of their lines.
	shared := !handOver(out) && sameFile(out, errf)
	for i, f := range []*os.File{out, errf} {
		if handOver(f) {
			continue
		}
		if i == 1 && shared {
			s.child[2] = s.child[1]
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("creating output pipe: %w: %w", err, vzerror.ErrSystem)
		}
		s.child[1+i] = w
		s.childEnds = append(s.childEnds, w)
		s.outputs = append(s.outputs, r)
		s.outWG.Add(1)
		go func(dst *os.File) {
			defer s.outWG.Done()
			io.Copy(dst, r)
		}(f)
	}
	return s, nil
}

// started drops our copies of the command's pipe ends, so that EOF on an
// output pipe means every writer in the container closed it.
func (s *stdio) started() {
	for _, f := range s.childEnds {
		f.Close()
	}
	s.childEnds = nil
}

// finish stops the copiers once the command exited: stdin at once, output
// after the pipes drained or drainTimeout passed.
func (s *stdio) finish() {
	s.started()
	s.stopInput()
	waitOrDeadline(&s.outWG, s.outputs)
}

// stopInput stops the stdin copier: waiting for input, or blocked writing
// to a pipe nobody reads (a daemon the command left holds it open).
func (s *stdio) stopInput() {
	if s.cancelW == nil {
		return
	}
	s.cancelW.Close()
	s.inW.SetWriteDeadline(time.Now())
	<-s.inDone
}

// waitOrDeadline waits for copiers reading files, cutting the reads short
// after drainTimeout.
func waitOrDeadline(wg *sync.WaitGroup, files []*os.File) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(drainTimeout):
		for _, f := range files {
			f.SetReadDeadline(time.Now())
		}
		<-done
	}
}

// Close releases every pipe; copiers still running end with errors.
func (s *stdio) Close() {
	s.closeOnce.Do(func() {
		s.started()
		s.stopInput()
		if s.cancelR != nil {
			s.cancelR.Close()
		}
		for _, f := range s.outputs {
			f.SetReadDeadline(time.Now())
		}
		s.outWG.Wait()
		for _, f := range s.outputs {
			f.Close()
		}
	})
}

// handOver reports whether f may reach the container as it is: an
// anonymous pipe, or a memfd sealed against any change (nothing on the
// host but its descriptors names it, and its content is fixed).
func handOver(f *os.File) bool {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	if st.Mode&unix.S_IFMT == unix.S_IFIFO {
		var fs unix.Statfs_t
		// A named FIFO lives on the file system of its directory.
		return unix.Fstatfs(int(f.Fd()), &fs) == nil && fs.Type == unix.PIPEFS_MAGIC
	}
	return exeseal.Sealed(f)
}

// kcmpFile is KCMP_FILE of kcmp(2): do two descriptors share one open file
// description.
const kcmpFile = 0

// sameFile reports whether a and b are one open file description (dup'd,
// as by 2>&1). Where kcmp(2) is missing (CONFIG_KCMP) it says no: two
// pipes then merely lose the relative order of the two streams.
func sameFile(a, b *os.File) bool {
	pid := uintptr(os.Getpid())
	r, _, errno := unix.Syscall6(unix.SYS_KCMP, pid, pid, kcmpFile, a.Fd(), b.Fd(), 0)
	return errno == 0 && r == 0
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// copyInput copies src to dst until src ends or cancel becomes readable
// (its write end closed). A read from a terminal cannot be interrupted, so
// it polls both and reads only when data is there: after the command
// exited, no keystroke is swallowed.
func copyInput(dst io.Writer, src, cancel *os.File) error {
	sfd, cfd := int32(src.Fd()), int32(cancel.Fd())
	buf := make([]byte, 32*1024)
	for {
		fds := []unix.PollFd{{Fd: sfd, Events: unix.POLLIN}, {Fd: cfd, Events: unix.POLLIN}}
		_, err := unix.Poll(fds, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if fds[1].Revents != 0 {
			return nil
		}
		if fds[0].Revents == 0 {
			continue
		}
		n, err := unix.Read(int(sfd), buf)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.EOF
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return err
		}
	}
}
