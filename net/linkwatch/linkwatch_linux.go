// Package linkwatch tells when a link of a network namespace comes up,
// so that what the kernel dropped when it went down can be made again:
// the kernel deletes a device's proxy ARP/NDP entries on NETDEV_DOWN
// (net/venet's RestoreProxies), and nothing in the kernel brings them
// back.
//
// A Watcher is one rtnetlink socket subscribed to RTNLGRP_LINK in the
// namespace of the thread that opened it, read through the Go runtime's
// poller (no thread of its own while it waits) into one buffer sized to
// the largest message seen. It keeps only the set of links it saw not
// running, so its memory does not grow with the containers on the node:
// govz's own links (by alias prefix) and loopback are not tracked. It is
// meant to live in a long-running process of the node's namespace, such
// as a container's supervisor, each calling back for its own container.
package linkwatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Watcher reports links of one network namespace that come up.
type Watcher struct {
	f    *os.File
	rc   syscall.RawConn
	buf  []byte
	skip string
	// down holds the links last seen not up and running: only their
	// coming up is a transition to report.
	down   map[int32]bool
	closed atomic.Bool
}

// rtextFilterSkipStats (RTEXT_FILTER_SKIP_STATS, linux/rtnetlink.h)
// leaves the counters out of a dump: they are most of each message.
const rtextFilterSkipStats = 1 << 3

const minBuf = 4096

// Open subscribes to link events in the network namespace of the calling
// thread and reads which links are down now. Links whose alias starts
// with skipAlias (govz's own: link.AliasPrefix) are never reported.
func Open(skipAlias string) (*Watcher, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening an rtnetlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (unix.RTNLGRP_LINK - 1)}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("subscribing to link events: %w", err)
	}
	// A non-blocking descriptor makes the File use the runtime's poller.
	f := os.NewFile(uintptr(fd), "rtnetlink")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	w := &Watcher{f: f, rc: rc, buf: make([]byte, minBuf), skip: skipAlias}
	if err := w.load(); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// load reads which links are down now: a dump asked on the watcher's
// own socket, the one that fixed its namespace. Events that arrive
// meanwhile go through the same bookkeeping; the later message about a
// link is the later state. Nothing is reported while loading.
func (w *Watcher) load() error {
	req := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofIfInfomsg+8)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.RTM_GETLINK)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], 1) // seq
	at := unix.NLMSG_HDRLEN + unix.SizeofIfInfomsg
	ne.PutUint16(req[at:], 8)
	ne.PutUint16(req[at+2:], unix.IFLA_EXT_MASK)
	ne.PutUint32(req[at+4:], rtextFilterSkipStats)
	var serr error
	if err := w.rc.Control(func(fd uintptr) {
		serr = unix.Sendto(int(fd), req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("asking for the links: %w", serr)
	}
	w.down = map[int32]bool{}
	for {
		n, err := w.read()
		if errors.Is(err, unix.ENOBUFS) {
			// Events were dropped; the dump's own messages are made as
			// they are read, never dropped, and it goes on.
			continue
		}
		if err != nil {
			return fmt.Errorf("reading the links: %w", err)
		}
		done, err := eachLink(w.buf[:n], func(l linkMsg) { w.event(l) })
		if err != nil {
			return fmt.Errorf("reading the links: %w", err)
		}
		if done {
			return nil
		}
	}
}

// read waits for and reads one datagram.
func (w *Watcher) read() (int, error) {
	var n int
	var rerr error
	err := w.rc.Read(func(fd uintptr) bool {
		n, w.buf, rerr = recv(int(fd), w.buf, unix.MSG_DONTWAIT)
		return !errors.Is(rerr, unix.EAGAIN)
	})
	if err != nil {
		return 0, err
	}
	return n, rerr
}

// recv reads one datagram into buf, growing it first when the datagram
// is larger (MSG_PEEK|MSG_TRUNC tells its size): a truncated rtnetlink
// datagram would lose the messages after the cut.
func recv(fd int, buf []byte, flags int) (int, []byte, error) {
	for {
		n, _, err := unix.Recvfrom(fd, buf, flags|unix.MSG_PEEK|unix.MSG_TRUNC)
		if err != nil {
			return 0, buf, err
		}
		if n <= len(buf) {
			break
		}
		buf = make([]byte, n)
	}
	n, _, err := unix.Recvfrom(fd, buf, flags)
	return n, buf, err
}

// Run calls up with the name of each link that comes up (is up and
// running after it was not: an administrative up, or carrier back), one
// at a time, until Close; then it returns nil. After the socket overran
// (events lost) it reads the links again and calls up("") once: every
// link may have come up. Loopback and skipped links are not reported.
func (w *Watcher) Run(up func(dev string)) error {
	for {
		n, err := w.read()
		if w.closed.Load() {
			return nil
		}
		if errors.Is(err, unix.ENOBUFS) {
			if err := w.load(); err != nil {
				return err
			}
			up("")
			continue
		}
		if err != nil {
			return fmt.Errorf("reading link events: %w", err)
		}
		var names []string
		if _, err := eachLink(w.buf[:n], func(l linkMsg) {
			if name, ok := w.event(l); ok {
				names = append(names, name)
			}
		}); err != nil {
			return fmt.Errorf("reading link events: %w", err)
		}
		for _, name := range names {
			up(name)
		}
	}
}

// event updates the down set with one message and reports a link that
// came up.
func (w *Watcher) event(l linkMsg) (string, bool) {
	switch {
	case l.del || !l.tracked(w.skip):
		delete(w.down, l.index)
	case !l.running():
		w.down[l.index] = true
	case w.down[l.index]:
		delete(w.down, l.index)
		return l.name, true
	}
	return "", false
}

// Close stops Run.
func (w *Watcher) Close() error {
	w.closed.Store(true)
	return w.f.Close()
}

// linkMsg is what a RTM_NEWLINK or RTM_DELLINK says that matters here.
type linkMsg struct {
	del         bool
	index       int32
	flags       uint32
	name, alias string
}

func (l linkMsg) running() bool {
	return l.flags&unix.IFF_UP != 0 && l.flags&unix.IFF_RUNNING != 0
}

func (l linkMsg) tracked(skipAlias string) bool {
	return l.flags&unix.IFF_LOOPBACK == 0 && (skipAlias == "" || !strings.HasPrefix(l.alias, skipAlias))
}

// eachLink calls f for each link message in one datagram; done reports
// the end of a dump (NLMSG_DONE).
func eachLink(b []byte, f func(linkMsg)) (done bool, err error) {
	ne := binary.NativeEndian
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(ne.Uint32(b))
		typ := ne.Uint16(b[4:])
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return false, fmt.Errorf("malformed netlink message (%d bytes of %d)", l, len(b))
		}
		body := b[unix.NLMSG_HDRLEN:l]
		switch typ {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(body) >= 4 {
				if e := int32(ne.Uint32(body)); e != 0 {
					return false, syscall.Errno(-e)
				}
			}
		case unix.RTM_NEWLINK, unix.RTM_DELLINK:
			if len(body) >= unix.SizeofIfInfomsg {
				m := linkMsg{del: typ == unix.RTM_DELLINK, index: int32(ne.Uint32(body[4:])), flags: ne.Uint32(body[8:])}
				attrs := body[unix.SizeofIfInfomsg:]
				for len(attrs) >= 4 {
					al := int(ne.Uint16(attrs))
					if al < 4 || al > len(attrs) {
						break
					}
					switch ne.Uint16(attrs[2:]) {
					case unix.IFLA_IFNAME:
						m.name = cstring(attrs[4:al])
					case unix.IFLA_IFALIAS:
						m.alias = cstring(attrs[4:al])
					}
					attrs = attrs[min(nlaAlign(al), len(attrs)):]
				}
				f(m)
			}
		}
		b = b[min(nlaAlign(l), len(b)):]
	}
	return false, nil
}

func nlaAlign(n int) int { return (n + 3) &^ 3 }

func cstring(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
