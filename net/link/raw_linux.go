package link

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Raw is a route netlink socket in one network namespace that sends
// whole messages as the caller made them: what `ip ... restore` replays
// from an `ip ... save` image.
type Raw struct {
	s   *nl.NetlinkSocket
	seq uint32
}

// OpenRawAt opens a Raw in the network namespace at path (such as
// /proc/PID/ns/net). The socket is created there once; the calling thread
// returns to its own namespace before OpenRawAt returns.
func OpenRawAt(path string) (*Raw, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	defer ns.Close()
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening a netlink socket in %s: %w", path, err)
	}
	return &Raw{s: s}, nil
}

func (r *Raw) Close() { r.s.Close() }

// Request sends msg, a netlink message with its header, as a request
// with flags (NLM_F_REQUEST and NLM_F_ACK are added; the sequence number
// and port are set) and waits for the kernel's answer. An EEXIST answer
// wraps ErrExist.
func (r *Raw) Request(msg []byte, flags uint16) error {
	if len(msg) < unix.NLMSG_HDRLEN || int(binary.NativeEndian.Uint32(msg)) != len(msg) {
		return fmt.Errorf("netlink message of %d bytes with a bad header", len(msg))
	}
	r.seq++
	m := append([]byte(nil), msg...)
	binary.NativeEndian.PutUint16(m[6:], flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(m[8:], r.seq)
	binary.NativeEndian.PutUint32(m[12:], 0)
	if err := unix.Sendto(r.s.GetFd(), m, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sending a netlink message: %w", err)
	}
	for {
		msgs, _, err := r.s.Receive()
		if err != nil {
			return fmt.Errorf("reading the kernel's answer: %w", err)
		}
		for _, a := range msgs {
			if a.Header.Seq != r.seq || a.Header.Type != unix.NLMSG_ERROR {
				continue
			}
			if len(a.Data) < 4 {
				return errors.New("short netlink error message")
			}
			errno := -int32(binary.NativeEndian.Uint32(a.Data))
			switch {
			case errno == 0:
				return nil
			case syscall.Errno(errno) == unix.EEXIST:
				return fmt.Errorf("%w: %w", unix.EEXIST, ErrExist)
			}
			return syscall.Errno(errno)
		}
	}
}

// InNetNS runs fn on a thread in the network namespace at path: what is
// per the caller's namespace (a /proc/sys/net file opened) is then that
// namespace's. The thread returns to its namespace after; a thread that
// cannot is left to end with the goroutine, never reused.
func InNetNS(path string, fn func() error) (err error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	defer ns.Close()
	done := make(chan error, 1)
	// A goroutine of its own: if the thread stays in the other namespace,
	// it is its goroutine's, which exits locked, and Go ends the thread.
	go func() {
		runtime.LockOSThread()
		self, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("opening the thread's network namespace: %w", err)
			return
		}
		defer self.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("entering network namespace %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := netns.Set(self); err != nil {
			done <- errors.Join(ferr, fmt.Errorf("returning from network namespace %s: %w", path, err))
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}
