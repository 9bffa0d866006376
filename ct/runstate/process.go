package runstate

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// Process is one process held by a pidfd (pidfd_open(2)): its PID may go
// to another process once the kernel reaps it, the pidfd keeps naming
// the one it was opened for. It lets a command wait for the exit of a
// process that is not its child without polling /proc.
type Process struct{ fd int }

// OpenProcess holds process pid; the caller knows it is the process it
// means (alive, its start time checked).
func OpenProcess(pid int) (*Process, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, err
	}
	return &Process{fd: fd}, nil
}

// Wait returns true once the process has exited (a pidfd polls readable
// from then on, reaped or not), false when timeout passed first.
func (p *Process) Wait(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left < 0 {
			left = 0
		}
		fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left.Milliseconds()))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			return false
		}
		return true
	}
}

// Close lets the process go.
func (p *Process) Close() { unix.Close(p.fd) }
