//go:build linux

package untar

import (
	"os"

	"golang.org/x/sys/unix"
)

// blockingPipe returns a pipe for a decompressor's output whose read end
// is read with plain blocking read(2)s. os.Pipe's ends are non-blocking
// and go through the runtime's poller: with a child that fills the pipe
// 64 KiB at a time, that costs an epoll wake-up and a goroutine hand-off
// per refill. The pipe is grown to 1 MiB (pipe-max-size's default) for
// fewer, larger hand-overs; failing that it keeps the default.
func blockingPipe() (r, w *os.File, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, os.NewSyscallError("pipe2", err)
	}
	_, _ = unix.FcntlInt(uintptr(p[0]), unix.F_SETPIPE_SZ, 1<<20)
	// os.NewFile leaves a blocking fd out of the poller.
	return os.NewFile(uintptr(p[0]), "decompressor-out"), os.NewFile(uintptr(p[1]), "decompressor-in"), nil
}
