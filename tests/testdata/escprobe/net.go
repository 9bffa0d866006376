package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// opNetNS lists the interfaces and addresses this process sees and the
// network namespaces it can reach through /proc, and tries to join each.
func opNetNS(a []string) {
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		addrs, _ := i.Addrs()
		var l []string
		for _, ad := range addrs {
			l = append(l, ad.String())
		}
		say("if_"+i.Name, strings.Join(l, ","))
	}
	seen := map[uint64]bool{}
	ps, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	for _, p := range append(ps, "/proc/self/ns/net") {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		unix.Fstat(fd, &st)
		if !seen[st.Ino] {
			seen[st.Ino] = true
			say("netns", fmt.Sprintf("%d:setns=%s", st.Ino, errName(unix.Setns(fd, unix.CLONE_NEWNET))))
		}
		unix.Close(fd)
	}
}

// opPrivAPIs records whether the kernel interfaces with a history of
// container escapes answer, each in the form that needs privilege over
// the whole kernel and (where one exists) the harmless one.
func opPrivAPIs(a []string) {
	_, _, e := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC, 0, 0)
	say("userfaultfd_kernel", errName(errno(e)))
	_, _, e = unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|1 /* UFFD_USER_MODE_ONLY */, 0, 0)
	say("userfaultfd_user", errName(errno(e)))

	var params [120]byte
	fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 4, uintptr(unsafe.Pointer(&params[0])), 0)
	say("io_uring_setup", errName(errno(e)))
	if e == 0 {
		unix.Close(int(fd))
	}

	// bpf(BPF_PROG_LOAD): "r0 = 0; exit" as a kprobe program (tracing:
	// reads kernel memory) and as a socket filter (unprivileged kind).
	insns := [2]uint64{0x00000000000000b7, 0x0000000000000095}
	lic := []byte("GPL\x00")
	for _, pt := range []struct {
		name string
		typ  uint32
	}{{"bpf_kprobe", 2}, {"bpf_socket_filter", 1}} {
		var attr [128]byte
		binary.LittleEndian.PutUint32(attr[0:], pt.typ)
		binary.LittleEndian.PutUint32(attr[4:], 2)
		binary.LittleEndian.PutUint64(attr[8:], uint64(uintptr(unsafe.Pointer(&insns[0]))))
		binary.LittleEndian.PutUint64(attr[16:], uint64(uintptr(unsafe.Pointer(&lic[0]))))
		fd, _, e := unix.Syscall(unix.SYS_BPF, 5 /* BPF_PROG_LOAD */, uintptr(unsafe.Pointer(&attr[0])), uintptr(len(attr)))
		say(pt.name, errName(errno(e)))
		if e == 0 {
			unix.Close(int(fd))
		}
	}

	// perf_event_open: a CPU-wide software event counting kernel time
	// (sees every process), and one on ourselves, user space only.
	for _, pe := range []struct {
		name     string
		pid, cpu int
		exclKern bool
	}{{"perf_cpu_wide", -1, 0, false}, {"perf_self_user", 0, -1, true}} {
		attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK, Size: uint32(unsafe.Sizeof(unix.PerfEventAttr{}))}
		if pe.exclKern {
			attr.Bits |= unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv
		}
		fd, err := unix.PerfEventOpen(&attr, pe.pid, pe.cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
		say(pe.name, errName(err))
		if err == nil {
			unix.Close(fd)
		}
	}
}

// opUDPSend: udpsend SRC DST PORT PAYLOAD sends one datagram from SRC
// (which the caller gave its interface, or IP_TRANSPARENT lets it use).
func opUDPSend(a []string) {
	src, dst := netip.MustParseAddr(a[0]), netip.MustParseAddr(a[1])
	fam := unix.AF_INET
	if dst.Is6() {
		fam = unix.AF_INET6
	}
	fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		say("socket", errName(err))
		return
	}
	var sa, da unix.Sockaddr
	if fam == unix.AF_INET {
		unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_TRANSPARENT, 1)
		sa, da = &unix.SockaddrInet4{Addr: src.As4()}, &unix.SockaddrInet4{Addr: dst.As4(), Port: atoi(a[2])}
	} else {
		unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_TRANSPARENT, 1)
		sa, da = &unix.SockaddrInet6{Addr: src.As16()}, &unix.SockaddrInet6{Addr: dst.As16(), Port: atoi(a[2])}
	}
	say("bind", errName(unix.Bind(fd, sa)))
	for i := 0; i < 3; i++ {
		err = unix.Sendto(fd, []byte(a[3]), 0, da)
	}
	say("send", errName(err))
}

func ifMAC(name string) (*net.Interface, net.HardwareAddr) {
	i, err := net.InterfaceByName(name)
	if err != nil {
		say("interface", errName(err))
		os.Exit(1)
	}
	return i, i.HardwareAddr
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// opARP: arp IFACE SENDER_IP TARGET_IP sends, from our own MAC, a
// gratuitous ARP request and an unsolicited reply claiming SENDER_IP,
// broadcast (arping -U and -A).
func opARP(a []string) {
	ifc, mac := ifMAC(a[0])
	sip, tip := netip.MustParseAddr(a[1]).As4(), netip.MustParseAddr(a[2]).As4()
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
	if err != nil {
		say("socket", errName(err))
		return
	}
	bcast := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	for _, op := range []uint16{1, 2} {
		f := append(append(append([]byte{}, bcast...), mac...), 0x08, 0x06)
		f = append(f, 0, 1, 8, 0, 6, 4, 0, byte(op))
		f = append(append(f, mac...), sip[:]...)
		if op == 1 {
			f = append(f, 0, 0, 0, 0, 0, 0)
		} else {
			f = append(f, bcast...)
		}
		f = append(f, tip[:]...)
		ll := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifc.Index, Halen: 6}
		copy(ll.Addr[:], bcast)
		for i := 0; i < 3; i++ {
			err = unix.Sendto(fd, f, 0, ll)
		}
		say(fmt.Sprintf("arp_op%d", op), errName(err))
	}
}

// opNDP: ndp IFACE na TARGET (an unsolicited neighbour advertisement,
// override set, claiming TARGET for our MAC) or ndp IFACE ra (a router
// advertisement making us every listener's default router, with a
// prefix), to all nodes.
func opNDP(a []string) {
	ifc, mac := ifMAC(a[0])
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
	if err != nil {
		say("socket", errName(err))
		return
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255)
	unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 255)
	unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifc.Index)
	var msg []byte
	switch a[1] {
	case "na":
		t := netip.MustParseAddr(a[2]).As16()
		msg = append([]byte{136, 0, 0, 0, 0x20, 0, 0, 0}, t[:]...)
		msg = append(append(msg, 2, 1), mac...)
	case "ra":
		msg = []byte{134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0}
		msg = append(append(msg, 1, 1), mac...)
		p := netip.MustParseAddr("fd00:66::").As16()
		msg = append(msg, 3, 4, 64, 0xc0, 0, 1, 0x51, 0x80, 0, 0, 0x38, 0x40, 0, 0, 0, 0)
		msg = append(msg, p[:]...)
	}
	dst := &unix.SockaddrInet6{Addr: netip.MustParseAddr("ff02::1").As16(), ZoneId: uint32(ifc.Index)}
	for i := 0; i < 3; i++ {
		err = unix.Sendto(fd, msg, 0, dst)
	}
	say(a[1], errName(err))
}

// opSniff: sniff IFACE SECONDS prints every frame IFACE receives, parsed
// (run by the test in its own namespaces).
func opSniff(a []string) {
	ifc, _ := ifMAC(a[0])
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		say("socket", errName(err))
		os.Exit(1)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
		say("bind", errName(err))
		os.Exit(1)
	}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
	fmt.Println("READY")
	end := time.Now().Add(time.Duration(atoi(a[1])) * time.Second)
	buf := make([]byte, 2048)
	for time.Now().Before(end) {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil || n < 14 {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		fmt.Println("pkt=" + frame(buf[:n]))
	}
}

// frame is a one-line summary of an Ethernet frame.
func frame(b []byte) string {
	smac := net.HardwareAddr(b[6:12]).String()
	typ, p := binary.BigEndian.Uint16(b[12:]), b[14:]
	switch {
	case typ == unix.ETH_P_ARP && len(p) >= 28:
		return fmt.Sprintf("arp smac=%s op=%d sha=%s spa=%s tpa=%s", smac, p[7], net.HardwareAddr(p[8:14]), net.IP(p[14:18]), net.IP(p[24:28]))
	case typ == unix.ETH_P_IP && len(p) >= 20:
		s := fmt.Sprintf("ip4 smac=%s src=%s dst=%s proto=%d", smac, net.IP(p[12:16]), net.IP(p[16:20]), p[9])
		if hl := int(p[0]&0xf) * 4; p[9] == 17 && len(p) >= hl+8 {
			s += " data=" + strings.ToValidUTF8(string(p[hl+8:min(len(p), hl+40)]), "?")
		}
		return s
	case typ == unix.ETH_P_IPV6 && len(p) >= 40:
		s := fmt.Sprintf("ip6 smac=%s src=%s dst=%s nh=%d", smac, net.IP(p[8:24]), net.IP(p[24:40]), p[6])
		if p[6] == 58 && len(p) > 40 {
			s += fmt.Sprintf(" icmp6=%d", p[40])
			if (p[40] == 136 || p[40] == 135) && len(p) >= 64 {
				s += " target=" + net.IP(p[48:64]).String()
			}
		}
		if p[6] == 17 && len(p) >= 48 {
			s += " data=" + strings.ToValidUTF8(string(p[48:min(len(p), 80)]), "?")
		}
		return s
	}
	return fmt.Sprintf("other smac=%s type=%#x", smac, typ)
}
