package attach

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/term"
	"govz/ct/vzerror"
)

// eofInterval spaces the ^D that end a shell fed from a non-terminal.
const eofInterval = 100 * time.Millisecond

// Enter opens an interactive root login shell in the container on a new
// pty from the container's devpts and connects it to opt.Stdin/opt.Stdout
// (default: the process's own) until the shell exits. A terminal stdin is
// put in raw mode and restored on return; its window size is copied at
// start and on SIGWINCH. While Enter runs, SIGTERM, SIGHUP and SIGINT hang
// the session up instead of killing the process with the terminal raw.
// With execArgs, their words joined by spaces are typed into the shell
// first, and the shell stays open (vzctl enter --exec). End of a
// non-terminal stdin ends the shell like ^D. opt.Mode and opt.Stderr are
// unused. The shell's exit status is not an error, as in vzctl.
func Enter(runDir string, execArgs []string, opt Options) error {
	in, out := opt.Stdin, opt.Stdout
	if in == nil {
		in = os.Stdin
	}
	if out == nil {
		out = os.Stdout
	}
	t, err := openTarget(runDir, opt)
	if err != nil {
		return err
	}
	defer t.Close()
	shell := pickShell(t.root)
	env, err := commandEnv(opt.Env, true, []string{"USER=root", "LOGNAME=root", "HISTFILE=/dev/null"})
	if err != nil {
		return err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socketpair: %w: %w", err, vzerror.ErrSystem)
	}
	sock, theirs := os.NewFile(uintptr(fds[0]), "pty-socket"), os.NewFile(uintptr(fds[1]), "pty-socket")
	defer sock.Close()
	// A login shell, as vzctl: "-bash" or "-sh" reads the guest's profile.
	argv0 := "-" + baseName(shell)
	p, err := t.start(launch{path: shell, argv: []string{argv0}, env: env, pty: theirs})
	theirs.Close()
	if err != nil {
		return err
	}
	master, err := receivePty(sock)
	if err != nil {
		// Closing the socket ends a constructor still waiting for the ack;
		// its own error says why better than ours.
		sock.Close()
		if _, werr := p.wait(); werr != nil {
			return werr
		}
		return err
	}
	defer master.Close()
	return session(p, sock, master, in, out, execArgs)
}

// session runs the proxy between the host's stdin/stdout and the pty
// master until the shell exits.
func session(p *process, sock, master, in, out *os.File, execArgs []string) error {
	abort := func(err error) error {
		sock.Close()
		p.wait()
		return err
	}
	cancelR, cancelW, err := os.Pipe()
	if err != nil {
		return abort(fmt.Errorf("creating pipe: %w: %w", err, vzerror.ErrSystem))
	}
	defer cancelR.Close()
	defer cancelW.Close()
	// Being killed must not leave the user's terminal raw: a termination
	// signal hangs up the container's terminal instead, the shell exits
	// on SIGHUP, and the terminal mode is restored on the way out.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGWINCH, unix.SIGTERM, unix.SIGHUP, unix.SIGINT)
	defer signal.Stop(sigs)
	stop := make(chan struct{})
	defer close(stop)
	tty := isTerminal(in)
	if tty {
		copyWinsize(in, master)
		restore, err := makeRaw(in)
		if err != nil {
			return abort(err)
		}
		defer restore()
	}
	go func() {
		for {
			select {
			case sig := <-sigs:
				if sig != unix.SIGWINCH {
					master.Close()
				} else if tty {
					copyWinsize(in, master)
				}
			case <-stop:
				return
			}
		}
	}()
	// The shell starts only after this byte, so it sees the right size.
	if _, err := sock.Write([]byte{1}); err != nil {
		return abort(fmt.Errorf("starting the shell: %w: %w", err, vzerror.ErrSystem))
	}
	if len(execArgs) > 0 {
		master.Write([]byte(strings.Join(execArgs, " ") + "\n"))
	}

	var outWG sync.WaitGroup
	outWG.Add(1)
	go func() {
		defer outWG.Done()
		// Ends with EIO once every slave fd in the container is closed.
		if _, err := io.Copy(out, master); err != nil && !errors.Is(err, unix.EIO) {
			// The host side is gone: hang up the container's terminal.
			master.Close()
		}
	}()
	inDone, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(inDone)
		if errors.Is(copyInput(master, in, cancelR), io.EOF) && !tty {
			endOfInput(master, exited)
		}
	}()
	_, err = p.wait()
	close(exited)
	cancelW.Close()
	<-inDone
	waitOrDeadline(&outWG, []*os.File{master})
	return err
}

// endOfInput ends a shell whose input was not a terminal the way a user
// would: ^D (VEOF) at its prompt, repeated until it exits. A line-editing
// shell that takes the pty out of canonical mode after the ^D was queued
// reads it as a NUL byte, and a command still running consumes its own.
func endOfInput(master *os.File, exited <-chan struct{}) {
	tick := time.NewTicker(eofInterval)
	defer tick.Stop()
	for {
		if _, err := master.Write([]byte{4}); err != nil {
			return
		}
		select {
		case <-tick.C:
		case <-exited:
			return
		}
	}
}

// receivePty reads the master fd the constructor sends and checks that it
// is a pty master before the host uses it.
func receivePty(sock *os.File) (*os.File, error) {
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	var n, oobn int
	var err error
	for {
		n, oobn, _, _, err = unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("receiving the pty: %w: %w", err, vzerror.ErrSystem)
	}
	if n == 0 && oobn == 0 {
		return nil, fmt.Errorf("receiving the pty: constructor exited: %w", vzerror.ErrSystem)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receiving the pty: bad control message: %w", vzerror.ErrSystem)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("receiving the pty: no fd: %w", vzerror.ErrSystem)
	}
	fd := fds[0]
	if _, err := unix.IoctlGetInt(fd, unix.TIOCGPTN); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("received fd is not a pty master: %w: %w", err, vzerror.ErrSystem)
	}
	// Non-blocking so that reads go through the runtime poller and can be
	// cut short by a deadline.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("pty master: %w: %w", err, vzerror.ErrSystem)
	}
	return os.NewFile(uintptr(fd), "ptmx"), nil
}

func copyWinsize(from, to *os.File) {
	ws, err := unix.IoctlGetWinsize(int(from.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return
	}
	rc, err := to.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws)
	})
}

// makeRaw puts the terminal in raw mode and returns the function that
// restores it.
func makeRaw(f *os.File) (func(), error) {
	restore, err := term.MakeRaw(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, vzerror.ErrSystem)
	}
	return restore, nil
}
