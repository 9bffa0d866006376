// Command spoofprobe sends the frames a malicious container on a bridge
// would send, built byte by byte on an AF_PACKET socket (busybox cannot
// spoof a source), and listens for UDP datagrams, printing their source.
// Built static (CGO_ENABLED=0) and copied into a test's container.
//
//	spoofprobe udp IFACE DSTMAC SRC DST PORT   a UDP datagram from SRC (any address)
//	spoofprobe garp IFACE IP [MAC]             gratuitous ARP request and reply claiming IP (for MAC)
//	spoofprobe na IFACE TARGET [MAC]           unsolicited neighbour advertisement (override) of TARGET at MAC
//	spoofprobe ra IFACE                        router advertisement: default router, 1800s
//	spoofprobe redirect4 IFACE DSTMAC SRC DST  ICMP redirect of DST's traffic to SRC
//	spoofprobe redirect6 IFACE DSTMAC DST      ICMPv6 redirect of DST's traffic to us
//	spoofprobe listen PORT SECONDS             print "from ADDR" per datagram on [::]:PORT
package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: spoofprobe udp|garp|ra|redirect4|redirect6|listen ...")
	}
	a := os.Args[2:]
	switch os.Args[1] {
	case "listen":
		need(a, 2)
		listen(a[0], a[1])
		return
	case "udp":
		need(a, 5)
		ifi := iface(a[0])
		src, dst := addr(a[2]), addr(a[3])
		port, _ := strconv.Atoi(a[4])
		payload := []byte("spoofprobe")
		udp := make([]byte, 8+len(payload))
		binary.BigEndian.PutUint16(udp[0:], 40000)
		binary.BigEndian.PutUint16(udp[2:], uint16(port))
		binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
		copy(udp[8:], payload)
		binary.BigEndian.PutUint16(udp[6:], l4sum(src, dst, unix.IPPROTO_UDP, udp))
		send(ifi, mac(a[1]), ipPacket(src, dst, unix.IPPROTO_UDP, 64, udp))
	case "garp":
		if len(a) == 2 {
			a = append(a, "")
		}
		need(a, 3)
		ifi := iface(a[0])
		ip := addr(a[1]).As4()
		sha := ifi.HardwareAddr
		if a[2] != "" {
			sha = mac(a[2])
		}
		for _, op := range []uint16{1, 2} {
			arp := make([]byte, 28)
			binary.BigEndian.PutUint16(arp[0:], 1)      // Ethernet
			binary.BigEndian.PutUint16(arp[2:], 0x0800) // IPv4
			arp[4], arp[5] = 6, 4
			binary.BigEndian.PutUint16(arp[6:], op)
			copy(arp[8:], sha)
			copy(arp[14:], ip[:])
			if op == 2 {
				copy(arp[18:], sha)
			}
			copy(arp[24:], ip[:])
			sendType(ifi, mac("ff:ff:ff:ff:ff:ff"), 0x0806, arp)
		}
	case "na":
		if len(a) == 2 {
			a = append(a, "")
		}
		need(a, 3)
		ifi := iface(a[0])
		lla := ifi.HardwareAddr
		if a[2] != "" {
			lla = mac(a[2])
		}
		src, dst := linkLocal(ifi), addr("ff02::1")
		na := make([]byte, 24+8)
		na[0] = 136
		na[4] = 0x20 // override
		t := addr(a[1]).As16()
		copy(na[8:], t[:])
		na[24], na[25] = 2, 1 // target link-layer address option
		copy(na[26:], lla)
		binary.BigEndian.PutUint16(na[2:], l4sum(src, dst, unix.IPPROTO_ICMPV6, na))
		send(ifi, mac("33:33:00:00:00:01"), ipPacket(src, dst, unix.IPPROTO_ICMPV6, 255, na))
	case "ra":
		need(a, 1)
		ifi := iface(a[0])
		src, dst := linkLocal(ifi), addr("ff02::1")
		ra := make([]byte, 16+8)
		ra[0] = 134
		ra[4] = 64                               // cur hop limit
		binary.BigEndian.PutUint16(ra[6:], 1800) // router lifetime: a default router
		ra[16], ra[17] = 1, 1                    // source link-layer address option
		copy(ra[18:], ifi.HardwareAddr)
		binary.BigEndian.PutUint16(ra[2:], l4sum(src, dst, unix.IPPROTO_ICMPV6, ra))
		send(ifi, mac("33:33:00:00:00:01"), ipPacket(src, dst, unix.IPPROTO_ICMPV6, 255, ra))
	case "redirect4":
		need(a, 4)
		ifi := iface(a[0])
		src, dst := addr(a[2]), addr(a[3])
		// Redirect dst's traffic to src (the gateway field), quoting a
		// packet dst would have sent through us.
		quoted := ipPacket(dst, addr("10.99.0.1"), unix.IPPROTO_UDP, 64, make([]byte, 8))
		icmp := make([]byte, 8+len(quoted))
		icmp[0], icmp[1] = 5, 1 // redirect for host
		gw := src.As4()
		copy(icmp[4:], gw[:])
		copy(icmp[8:], quoted)
		binary.BigEndian.PutUint16(icmp[2:], sum(icmp, 0))
		send(ifi, mac(a[1]), ipPacket(src, dst, unix.IPPROTO_ICMP, 64, icmp))
	case "redirect6":
		need(a, 3)
		ifi := iface(a[0])
		src, dst := linkLocal(ifi), addr(a[2])
		r := make([]byte, 40)
		r[0] = 137
		t := src.As16()
		copy(r[8:], t[:]) // target: us
		d := addr("fd00:99::1").As16()
		copy(r[24:], d[:]) // destination redirected
		binary.BigEndian.PutUint16(r[2:], l4sum(src, dst, unix.IPPROTO_ICMPV6, r))
		send(ifi, mac(a[1]), ipPacket(src, dst, unix.IPPROTO_ICMPV6, 255, r))
	default:
		fail("unknown command " + os.Args[1])
	}
}

func need(a []string, n int) {
	if len(a) != n {
		fail(fmt.Sprintf("%s needs %d arguments", os.Args[1], n))
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "spoofprobe:", msg)
	os.Exit(2)
}

func iface(name string) *net.Interface {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		fail(err.Error())
	}
	return ifi
}

func addr(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		fail(err.Error())
	}
	return a
}

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		fail(err.Error())
	}
	return m
}

// linkLocal is the interface's link-local address.
func linkLocal(ifi *net.Interface) netip.Addr {
	addrs, _ := ifi.Addrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().IsLinkLocalUnicast() {
			return p.Addr()
		}
	}
	fail("no link-local address on " + ifi.Name)
	return netip.Addr{}
}

func sum(b []byte, s uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// l4sum is the UDP/ICMPv6 checksum over the pseudo-header.
func l4sum(src, dst netip.Addr, proto int, b []byte) uint16 {
	var ph []byte
	ph = append(ph, src.AsSlice()...)
	ph = append(ph, dst.AsSlice()...)
	if src.Is4() {
		ph = append(ph, 0, byte(proto), byte(len(b)>>8), byte(len(b)))
	} else {
		ph = binary.BigEndian.AppendUint32(ph, uint32(len(b)))
		ph = append(ph, 0, 0, 0, byte(proto))
	}
	var s uint32
	for i := 0; i+1 < len(ph); i += 2 {
		s += uint32(binary.BigEndian.Uint16(ph[i:]))
	}
	return sum(b, s)
}

func ipPacket(src, dst netip.Addr, proto, ttl int, payload []byte) []byte {
	if src.Is4() {
		h := make([]byte, 20)
		h[0] = 0x45
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
		h[8], h[9] = byte(ttl), byte(proto)
		copy(h[12:], src.AsSlice())
		copy(h[16:], dst.AsSlice())
		binary.BigEndian.PutUint16(h[10:], sum(h, 0))
		return append(h, payload...)
	}
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	h[6], h[7] = byte(proto), byte(ttl)
	copy(h[8:], src.AsSlice())
	copy(h[24:], dst.AsSlice())
	return append(h, payload...)
}

func send(ifi *net.Interface, dst net.HardwareAddr, pkt []byte) {
	et := uint16(0x0800)
	if pkt[0]>>4 == 6 {
		et = 0x86dd
	}
	sendType(ifi, dst, et, pkt)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func sendType(ifi *net.Interface, dst net.HardwareAddr, ethertype uint16, payload []byte) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(ethertype)))
	if err != nil {
		fail("AF_PACKET socket: " + err.Error())
	}
	defer unix.Close(fd)
	frame := append(append(append([]byte{}, dst...), ifi.HardwareAddr...), byte(ethertype>>8), byte(ethertype))
	frame = append(frame, payload...)
	sa := &unix.SockaddrLinklayer{Protocol: htons(ethertype), Ifindex: ifi.Index, Halen: 6}
	copy(sa.Addr[:], dst)
	if err := unix.Sendto(fd, frame, 0, sa); err != nil {
		fail("sending: " + err.Error())
	}
}

func listen(port, secs string) {
	n, _ := strconv.Atoi(secs)
	c, err := net.ListenPacket("udp", "[::]:"+port)
	if err != nil {
		fail(err.Error())
	}
	fmt.Println("listening")
	end := time.Now().Add(time.Duration(n) * time.Second)
	buf := make([]byte, 1500)
	for {
		c.SetReadDeadline(end)
		_, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		ap, _ := netip.ParseAddrPort(from.String())
		fmt.Println("from", ap.Addr().Unmap())
	}
}
