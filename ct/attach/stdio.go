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
)

// drainTimeout bounds how long output is still copied after the command
// exited: a daemon it started may hold the pipe or pty open forever.
const drainTimeout = 250 * time.Millisecond

// stdio is what exec's command gets as fds 0-2. A host terminal is
// replaced by a pipe and copied: a container process holding the host's
// terminal could inject input into it (TIOCSTI) or change its line
// discipline. So is any other host device node (/dev/null, the usual
// stdin of scripts): the container's root could fchmod or fchown the
// host's node through it (0620 on the host's /dev/null breaks every
// non-root program there). Pipes and files are passed through untouched.
type stdio struct {
	child [3]*os.File
	tty   bool // some host stdio file is a terminal

	childEnds []*os.File // our copies of the pipe ends the command gets
	outputs   []*os.File // read ends copied to host terminals
	outWG     sync.WaitGroup
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
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if isTerminal(in) || isDevice(in) {
		s.tty = s.tty || isTerminal(in)
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
		s.inDone = make(chan struct{})
		go func() {
			defer close(s.inDone)
			defer w.Close()
			copyInput(w, in, s.cancelR)
		}()
	}
	for i, f := range []*os.File{out, errf} {
		if !isTerminal(f) && !isDevice(f) {
			continue
		}
		s.tty = s.tty || isTerminal(f)
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
	if s.cancelW != nil {
		s.cancelW.Close()
		<-s.inDone
	}
	waitOrDeadline(&s.outWG, s.outputs)
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
		if s.cancelW != nil {
			s.cancelW.Close()
			<-s.inDone
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

// isDevice reports whether f is a character or block device node.
func isDevice(f *os.File) bool {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFCHR || st.Mode&unix.S_IFMT == unix.S_IFBLK
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
