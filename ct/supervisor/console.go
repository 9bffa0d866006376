package supervisor

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/term"
	"govz/ct/vzerror"
)

// ringSize is how much recent console output the supervisor keeps to
// replay to a console client that attaches (the login prompt, the last
// boot messages).
const ringSize = 8 << 10

// console is the container's /dev/console: a pty whose master the
// supervisor keeps for its whole life (so attached clients survive guest
// reboots) and whose slave becomes init's stdio and /dev/console. The
// master is read all the time: a guest writing to a console nobody drains
// would block once the pty buffer fills, and systemd writes its boot
// status there.
type console struct {
	master, slave *os.File
	// hostUID and hostGID own the pty slave as the host's devpts made it;
	// own restores them for a container without a user namespace.
	hostUID, hostGID int
	log              *os.File // optional copy of the output
	pumpDone         chan struct{}

	mu     sync.Mutex
	ring   []byte
	client net.Conn
}

// renewSlave replaces the slave descriptor with a fresh open of the same
// pty. A guest that shuts down through systemd hangs its console up
// (vhangup), after which every operation on the old descriptor fails with
// EIO, making the next boot's TIOCSCTTY fail: each boot gets a new one.
func (c *console) renewSlave() error {
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, c.master.Fd(), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		return fmt.Errorf("reopening pty slave: %w", errno)
	}
	old := c.slave
	c.slave = os.NewFile(sfd, "console-slave")
	if old != nil {
		old.Close()
	}
	return nil
}

// own gives the pty slave to uid:gid, the container's root and tty group
// on the host, so that a guest in a user namespace can reopen its
// /dev/console; uid -1 gives it back to its host owner.
func (c *console) own(uid, gid int) error {
	if uid < 0 {
		uid, gid = c.hostUID, c.hostGID
	}
	if err := c.slave.Chown(uid, gid); err != nil {
		return fmt.Errorf("console pty owner: %w", err)
	}
	return nil
}

func openConsole(logPath string) (*console, error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("opening /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		return nil, fmt.Errorf("unlocking pty: %w", err)
	}
	// TIOCGPTPEER opens the slave from the master, without looking up a
	// /dev/pts path someone could have replaced.
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		unix.Close(mfd)
		return nil, fmt.Errorf("opening pty slave: %w", errno)
	}
	unix.IoctlSetWinsize(int(sfd), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80})
	var st unix.Stat_t
	if err := unix.Fstat(int(sfd), &st); err != nil {
		unix.Close(mfd)
		unix.Close(int(sfd))
		return nil, fmt.Errorf("pty slave: %w", err)
	}
	c := &console{
		master:  os.NewFile(uintptr(mfd), "console-master"),
		slave:   os.NewFile(sfd, "console-slave"),
		hostUID: int(st.Uid), hostGID: int(st.Gid),
		ring: make([]byte, 0, ringSize),
	}
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("opening console log: %w", err)
		}
		c.log = f
	}
	c.start()
	return c, nil
}

func (c *console) start() {
	c.pumpDone = make(chan struct{})
	go c.pump()
}

// pump drains the master until it is closed or its read deadline passes
// (before a re-exec).
func (c *console) pump() {
	defer close(c.pumpDone)
	buf := make([]byte, 2048)
	for {
		n, err := c.master.Read(buf)
		if n > 0 {
			c.output(buf[:n])
		}
		if err != nil {
			if errors.Is(err, os.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			// EIO: no slave open at the moment; we hold one, so this is
			// transient at most.
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (c *console) output(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remember(b)
	if c.log != nil {
		c.log.Write(b)
	}
	if c.client != nil {
		c.client.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.client.Write(b); err != nil {
			c.client.Close()
			c.client = nil
		}
	}
}

// remember keeps the last ringSize bytes of output.
func (c *console) remember(b []byte) {
	if len(b) >= ringSize {
		c.ring = append(c.ring[:0], b[len(b)-ringSize:]...)
		return
	}
	if over := len(c.ring) + len(b) - ringSize; over > 0 {
		n := copy(c.ring, c.ring[over:])
		c.ring = c.ring[:n]
	}
	c.ring = append(c.ring, b...)
}

// attach makes conn the console client (replacing any previous one): it
// gets the recent output (with replay), then everything new, and what it
// sends goes to the guest.
func (c *console) attach(conn net.Conn, replay bool) {
	c.mu.Lock()
	if c.client != nil {
		c.client.Close()
	}
	c.client = conn
	if replay {
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		conn.Write(c.ring)
	}
	c.mu.Unlock()
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := conn.Read(buf)
			if n > 0 {
				c.master.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, werr := c.master.Write(buf[:n]); werr != nil && !errors.Is(werr, os.ErrDeadlineExceeded) {
					err = werr
				}
			}
			if err != nil {
				break
			}
		}
		c.mu.Lock()
		if c.client == conn {
			c.client = nil
		}
		c.mu.Unlock()
		conn.Close()
	}()
}

func (c *console) close() {
	c.mu.Lock()
	if c.client != nil {
		c.client.Close()
		c.client = nil
	}
	c.mu.Unlock()
	c.master.Close()
	c.slave.Close()
	if c.log != nil {
		c.log.Close()
	}
}

// Console attaches in and out to container's console (ttyNum 0 or 1: the
// container has one console, /dev/console) through its supervisor until in
// ends, the container stops, or the user types the escape sequence
// Esc-. (as vzctl console). When in is a terminal it is put in raw mode
// meanwhile.
func Console(runDir string, ttyNum int, in io.Reader, out io.Writer) error {
	if ttyNum != 0 && ttyNum != 1 {
		return fmt.Errorf("tty %d: only the console (0 or 1) is supported: %w", ttyNum, vzerror.ErrInvalidValue)
	}
	conn, resp, err := call(runDir, &request{Op: "console", TTY: ttyNum}, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if resp.Error != nil {
		return resp.Error
	}
	conn.SetDeadline(time.Time{})
	if f, ok := in.(*os.File); ok {
		if restore, err := term.MakeRaw(int(f.Fd())); err == nil {
			defer restore()
		}
	}
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(out, conn)
		done <- struct{}{}
	}()
	go func() {
		copyUntilEscape(conn, in)
		done <- struct{}{}
	}()
	<-done
	return nil
}

// copyUntilEscape copies in to conn until EOF or Esc followed by '.'.
func copyUntilEscape(conn net.Conn, in io.Reader) {
	buf := make([]byte, 1024)
	esc := false
	for {
		n, err := in.Read(buf)
		for i := 0; i < n; i++ {
			if esc && buf[i] == '.' {
				conn.Write(buf[:i])
				return
			}
			esc = buf[i] == 0x1b
		}
		if n > 0 {
			if _, werr := conn.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
