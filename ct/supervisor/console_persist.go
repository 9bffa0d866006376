package supervisor

import (
	"io"
	"os"
	"time"

	"govz/ct/term"
)

// ConsoleSession is vzctl's persistent console: attached to container
// runDir's console while it runs, waiting while it is stopped (running
// says whether it is; waiting is told each time a wait begins), and
// attached again at its next start, until the user detaches (Esc .) or
// input ends. One reader owns in for the whole session, so no keystroke is
// lost to a reader left behind by a closed connection; what is typed while
// the container is down goes nowhere, as on a real console.
func ConsoleSession(runDir string, ttyNum int, in io.Reader, out io.Writer, running func() bool, waiting func()) error {
	if f, ok := in.(*os.File); ok {
		if restore, err := term.MakeRaw(int(f.Fd())); err == nil {
			defer restore()
		}
	}
	keys := make(chan []byte)
	detach := make(chan struct{})
	go readUntilEscape(in, keys, detach)
	for {
		if !running() {
			waiting()
			for !running() {
				select {
				case <-detach:
					return nil
				case <-keys:
				case <-time.After(200 * time.Millisecond):
				}
			}
		}
		conn, resp, err := call(runDir, &request{Op: "console", TTY: ttyNum}, 5*time.Second)
		if err != nil || resp.Error != nil {
			if conn != nil {
				conn.Close()
			}
			if running() {
				if err == nil {
					err = resp.Error
				}
				return err
			}
			continue // stopped again before we got there
		}
		conn.SetDeadline(time.Time{})
		closed := make(chan struct{})
		go func() {
			io.Copy(out, conn)
			close(closed)
		}()
	attached:
		for {
			select {
			case b := <-keys:
				if _, err := conn.Write(b); err != nil {
					break attached
				}
			case <-closed:
				break attached
			case <-detach:
				conn.Close()
				<-closed
				return nil
			}
		}
		conn.Close()
		<-closed
	}
}

// readUntilEscape sends in's bytes to keys until EOF or Esc followed by
// '.', then closes detach.
func readUntilEscape(in io.Reader, keys chan<- []byte, detach chan<- struct{}) {
	defer close(detach)
	buf := make([]byte, 1024)
	esc := false
	for {
		n, err := in.Read(buf)
		for i := 0; i < n; i++ {
			if esc && buf[i] == '.' {
				if i > 0 {
					keys <- append([]byte(nil), buf[:i]...)
				}
				return
			}
			esc = buf[i] == 0x1b
		}
		if n > 0 {
			keys <- append([]byte(nil), buf[:n]...)
		}
		if err != nil {
			return
		}
	}
}
