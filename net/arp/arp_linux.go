// Package arp speaks for a container's routed addresses on the host's
// links: it announces an address (gratuitous ARP for IPv4, an unsolicited
// Neighbor Advertisement for IPv6) so the LAN's neighbour caches point at
// this host at once, and probes whether another host already answers for
// an address before the container takes it (RFC 5227 ARP probe, an NDP
// Neighbor Solicitation). OpenVZ shipped the same as arpsend(8) and
// ndsend(8). Packets go out in the caller's network namespace.
package arp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

const (
	ethPARP   = 0x0806
	ethPIPv4  = 0x0800
	arpHWEth  = 1
	arpOpReq  = 1
	arpOpRepl = 2

	ndpNS        = 135
	ndpNA        = 136
	optSourceLL  = 1
	optTargetLL  = 2
	naOverride   = 0x20
	ndpHopLimit  = 255 // RFC 4861: receivers drop NDP with any other hop limit
	arpPacketLen = 28
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func iface(dev string) (*net.Interface, error) {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return nil, fmt.Errorf("finding %s: %w", dev, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("%s has no Ethernet address", dev)
	}
	return ifi, nil
}

// Announce tells dev's link that a is reachable at dev's MAC.
func Announce(dev string, a netip.Addr) error {
	if a.Is4() {
		return announce4(dev, a)
	}
	return announce6(dev, a)
}

func arpPacket(op uint16, sha net.HardwareAddr, spa netip.Addr, tha net.HardwareAddr, tpa netip.Addr) []byte {
	b := make([]byte, arpPacketLen)
	binary.BigEndian.PutUint16(b[0:], arpHWEth)
	binary.BigEndian.PutUint16(b[2:], ethPIPv4)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], op)
	copy(b[8:14], sha)
	s4 := spa.As4()
	copy(b[14:18], s4[:])
	copy(b[18:24], tha)
	t4 := tpa.As4()
	copy(b[24:28], t4[:])
	return b
}

// packetSocket is an AF_PACKET datagram socket for ARP on dev: the kernel
// adds the Ethernet header.
func packetSocket(ifi *net.Interface) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(ethPARP)))
	if err != nil {
		return -1, fmt.Errorf("opening a packet socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(ethPARP), Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("binding a packet socket to %s: %w", ifi.Name, err)
	}
	return fd, nil
}

var broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func sendARP(fd int, ifi *net.Interface, pkt []byte, to net.HardwareAddr) error {
	sa := &unix.SockaddrLinklayer{Protocol: htons(ethPARP), Ifindex: ifi.Index, Halen: 6}
	copy(sa.Addr[:], to)
	if err := unix.Sendto(fd, pkt, 0, sa); err != nil {
		return fmt.Errorf("sending ARP on %s: %w", ifi.Name, err)
	}
	return nil
}

// announce4 sends a gratuitous ARP request and reply (sender = target =
// a): hosts differ in which of the two refreshes their caches.
func announce4(dev string, a netip.Addr) error {
	ifi, err := iface(dev)
	if err != nil {
		return err
	}
	fd, err := packetSocket(ifi)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	zero := make(net.HardwareAddr, 6)
	if err := sendARP(fd, ifi, arpPacket(arpOpReq, ifi.HardwareAddr, a, zero, a), broadcast); err != nil {
		return err
	}
	return sendARP(fd, ifi, arpPacket(arpOpRepl, ifi.HardwareAddr, a, ifi.HardwareAddr, a), broadcast)
}

// icmp6Socket is a raw ICMPv6 socket bound to dev with NDP's hop limit;
// the kernel fills in the ICMPv6 checksum and picks dev's link-local
// address as the source.
func icmp6Socket(ifi *net.Interface) (int, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
	if err != nil {
		return -1, fmt.Errorf("opening an ICMPv6 socket: %w", err)
	}
	for _, o := range []struct{ level, opt, v int }{
		{unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, ndpHopLimit},
		{unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ndpHopLimit},
		{unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index},
		{unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.v); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("setting ICMPv6 socket option %d: %w", o.opt, err)
		}
	}
	if err := unix.BindToDevice(fd, ifi.Name); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("binding an ICMPv6 socket to %s: %w", ifi.Name, err)
	}
	return fd, nil
}

func sendICMP6(fd int, ifi *net.Interface, pkt []byte, to netip.Addr) error {
	sa := &unix.SockaddrInet6{Addr: to.As16(), ZoneId: uint32(ifi.Index)}
	if err := unix.Sendto(fd, pkt, 0, sa); err != nil {
		return fmt.Errorf("sending ICMPv6 to %s on %s: %w", to, ifi.Name, err)
	}
	return nil
}

var allNodes = netip.MustParseAddr("ff02::1")

// announce6 sends an unsolicited Neighbor Advertisement for a to
// all-nodes with the Override flag, so neighbours replace a cached
// link-layer address (RFC 4861 7.2.6).
func announce6(dev string, a netip.Addr) error {
	ifi, err := iface(dev)
	if err != nil {
		return err
	}
	fd, err := icmp6Socket(ifi)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	pkt := make([]byte, 32)
	pkt[0] = ndpNA
	pkt[4] = naOverride
	t := a.As16()
	copy(pkt[8:24], t[:])
	pkt[24], pkt[25] = optTargetLL, 1
	copy(pkt[26:32], ifi.HardwareAddr)
	return sendICMP6(fd, ifi, pkt, allNodes)
}

// Probe asks dev's link whether a host answers for a within timeout. It
// returns the answering MAC, or nil when nobody answered.
func Probe(dev string, a netip.Addr, timeout time.Duration) (net.HardwareAddr, error) {
	if a.Is4() {
		return probe4(dev, a, timeout)
	}
	return probe6(dev, a, timeout)
}

func setDeadline(fd int, until time.Time) bool {
	left := time.Until(until)
	if left <= 0 {
		return false
	}
	tv := unix.NsecToTimeval(left.Nanoseconds())
	return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv) == nil
}

func timedOut(err error) bool {
	return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EWOULDBLOCK) || errors.Is(err, unix.EINTR)
}

// probe4 sends an RFC 5227 probe (sender address 0.0.0.0, so no cache
// learns anything from it) and waits for a reply from a.
func probe4(dev string, a netip.Addr, timeout time.Duration) (net.HardwareAddr, error) {
	ifi, err := iface(dev)
	if err != nil {
		return nil, err
	}
	fd, err := packetSocket(ifi)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	zero := make(net.HardwareAddr, 6)
	if err := sendARP(fd, ifi, arpPacket(arpOpReq, ifi.HardwareAddr, netip.IPv4Unspecified(), zero, a), broadcast); err != nil {
		return nil, err
	}
	until := time.Now().Add(timeout)
	buf := make([]byte, 128)
	for setDeadline(fd, until) {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if timedOut(err) {
				continue
			}
			return nil, fmt.Errorf("reading ARP on %s: %w", dev, err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if n < arpPacketLen || binary.BigEndian.Uint16(buf[6:]) != arpOpRepl {
			continue
		}
		spa, _ := netip.AddrFromSlice(buf[14:18])
		if spa == a {
			return net.HardwareAddr(append([]byte(nil), buf[8:14]...)), nil
		}
	}
	return nil, nil
}

// solicitedNode is a's solicited-node multicast group (RFC 4291 2.7.1).
func solicitedNode(a netip.Addr) netip.Addr {
	t := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 0x01, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]})
}

// probe6 sends a Neighbor Solicitation for a to its solicited-node group
// and waits for an advertisement of a.
func probe6(dev string, a netip.Addr, timeout time.Duration) (net.HardwareAddr, error) {
	ifi, err := iface(dev)
	if err != nil {
		return nil, err
	}
	fd, err := icmp6Socket(ifi)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var f unix.ICMPv6Filter
	for i := range f.Data {
		f.Data[i] = 0xffffffff // block all ...
	}
	f.Data[ndpNA>>5] &^= 1 << (ndpNA & 31) // ... but advertisements
	if err := unix.SetsockoptICMPv6Filter(fd, unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &f); err != nil {
		return nil, fmt.Errorf("filtering ICMPv6 on %s: %w", dev, err)
	}
	pkt := make([]byte, 32)
	pkt[0] = ndpNS
	t := a.As16()
	copy(pkt[8:24], t[:])
	pkt[24], pkt[25] = optSourceLL, 1
	copy(pkt[26:32], ifi.HardwareAddr)
	if err := sendICMP6(fd, ifi, pkt, solicitedNode(a)); err != nil {
		return nil, err
	}
	until := time.Now().Add(timeout)
	buf := make([]byte, 1500)
	for setDeadline(fd, until) {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if timedOut(err) {
				continue
			}
			return nil, fmt.Errorf("reading ICMPv6 on %s: %w", dev, err)
		}
		if n < 24 || buf[0] != ndpNA {
			continue
		}
		if target, _ := netip.AddrFromSlice(buf[8:24]); target != a {
			continue
		}
		// The target link-layer option, if the advertiser sent one.
		for o := 24; o+8 <= n && buf[o+1] > 0; o += int(buf[o+1]) * 8 {
			if buf[o] == optTargetLL {
				return net.HardwareAddr(append([]byte(nil), buf[o+2:o+8]...)), nil
			}
		}
		return net.HardwareAddr{}, nil
	}
	return nil, nil
}
