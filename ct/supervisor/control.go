package supervisor

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/nsinit"
	"govz/ct/runstate"
	"govz/ct/vzerror"
)

// The control socket (RUNDIR/control, mode 0600) takes one JSON request
// line per connection and answers with one JSON response line:
//
//	{"op":"status"}                         -> state of the current boot
//	{"op":"stop","timeout":N,"fast":false}  -> answered once the container is
//	                                           gone, just before the supervisor exits
//	{"op":"console","tty":0}                -> {"ok":true}, then the connection
//	                                           carries the console's bytes both ways
type request struct {
	Op      string        `json:"op"`
	Timeout time.Duration `json:"timeout,omitempty"`
	Fast    bool          `json:"fast,omitempty"`
	TTY     int           `json:"tty,omitempty"`
}

type response struct {
	OK            bool                `json:"ok"`
	Error         *nsinit.RemoteError `json:"error,omitempty"`
	SupervisorPID int                 `json:"supervisor_pid,omitempty"`
	State         *runstate.State     `json:"state,omitempty"`
	Kind          string              `json:"kind,omitempty"`
	Ready         bool                `json:"ready,omitempty"`
}

// ctlRequest is a request handed from the accept loop to the main loop,
// which answers on conn.
type ctlRequest struct {
	req  request
	conn net.Conn
}

func listenControl(path string) (*net.UnixListener, error) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	l.SetUnlinkOnClose(true)
	if err := unix.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return l, nil
}

// serveControl accepts connections until l is closed and hands each
// request to out.
func serveControl(l *net.UnixListener, out chan<- ctlRequest) {
	for {
		conn, err := l.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go func() {
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, err := bufio.NewReaderSize(conn, 512).ReadBytes('\n')
			var req request
			if err == nil {
				err = json.Unmarshal(line, &req)
			}
			if err != nil {
				conn.Close()
				return
			}
			conn.SetReadDeadline(time.Time{})
			out <- ctlRequest{req: req, conn: conn}
		}()
	}
}

func reply(conn net.Conn, r *response) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err = conn.Write(append(b, '\n'))
	return err
}

// call sends req to the supervisor in runDir and reads its response line
// within timeout; it returns the connection for requests that go on
// (console). A missing supervisor is vzerror.ErrNotRunning.
//
// A connection closed before any answer is retried: the supervisor drops
// the requests in flight when it re-execs itself after a boot (handoff.go),
// and every request is safe to repeat.
func call(runDir string, req *request, timeout time.Duration) (net.Conn, *response, error) {
	var err error
	for try := 0; try < 20; try++ {
		var conn net.Conn
		var resp *response
		conn, resp, err = callOnce(runDir, req, timeout)
		if !errors.Is(err, errNoAnswer) {
			return conn, resp, err
		}
		time.Sleep(25 * time.Millisecond)
	}
	return nil, nil, fmt.Errorf("%w: %w", err, vzerror.ErrSystem)
}

// errNoAnswer: the supervisor closed the connection without answering.
var errNoAnswer = errors.New("supervisor closed the connection without answering")

func callOnce(runDir string, req *request, timeout time.Duration) (net.Conn, *response, error) {
	path := filepath.Join(runDir, controlName)
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ECONNREFUSED) {
			return nil, nil, fmt.Errorf("no supervisor at %s: %w", path, vzerror.ErrNotRunning)
		}
		return nil, nil, fmt.Errorf("connecting to %s: %w: %w", path, err, vzerror.ErrSystem)
	}
	b, _ := json.Marshal(req)
	conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(append(b, '\n')); err != nil {
		conn.Close()
		if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) {
			return nil, nil, fmt.Errorf("%s: %w", path, errNoAnswer)
		}
		return nil, nil, fmt.Errorf("talking to supervisor at %s: %w: %w", path, err, vzerror.ErrSystem)
	}
	// One byte at a time: the bytes after the response line (console
	// output) belong to the caller.
	var line []byte
	one := make([]byte, 1)
	for {
		n, err := conn.Read(one)
		if n == 1 {
			if one[0] == '\n' {
				break
			}
			line = append(line, one[0])
			continue
		}
		if err != nil {
			conn.Close()
			if len(line) == 0 && (errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET)) {
				return nil, nil, fmt.Errorf("%s: %w", path, errNoAnswer)
			}
			return nil, nil, fmt.Errorf("reading from supervisor at %s: %w: %w", path, err, vzerror.ErrSystem)
		}
	}
	var resp response
	if err := json.Unmarshal(line, &resp); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("bad response from supervisor at %s: %w: %w", path, err, vzerror.ErrSystem)
	}
	return conn, &resp, nil
}
