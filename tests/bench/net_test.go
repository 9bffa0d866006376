package main

import (
	"net/netip"
	"testing"
)

func TestParseLdd(t *testing.T) {
	out := "\tlinux-vdso.so.1 (0x00007fe2b5ba4000)\n" +
		"\tlibiperf.so.0 => /lib/x86_64-linux-gnu/libiperf.so.0 (0x00007fe2b5b5a000)\n" +
		"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fe2b5978000)\n" +
		"\t/lib64/ld-linux-x86-64.so.2 (0x00007fe2b5ba6000)\n"
	libs, loader, err := parseLdd(out)
	if err != nil {
		t.Fatal(err)
	}
	if loader != "/lib64/ld-linux-x86-64.so.2" {
		t.Errorf("loader %q", loader)
	}
	want := map[string]string{"libiperf.so.0": "/lib/x86_64-linux-gnu/libiperf.so.0", "libc.so.6": "/lib/x86_64-linux-gnu/libc.so.6"}
	if len(libs) != len(want) {
		t.Errorf("libs %v", libs)
	}
	for k, v := range want {
		if libs[k] != v {
			t.Errorf("%s => %q, want %q", k, libs[k], v)
		}
	}
	if _, _, err := parseLdd("\tlibfoo.so.1 => not found\n\t/lib64/ld-linux-x86-64.so.2 (0x1)\n"); err == nil {
		t.Error("a missing library was not reported")
	}
	if _, _, err := parseLdd("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n"); err == nil {
		t.Error("no loader was not reported")
	}
}

func TestParseIperf(t *testing.T) {
	ok := "WARNING: a line from vzctl\n{\n\t\"start\": {\"connected\": [{}]},\n\t\"end\": {\n\t\t\"sum_sent\": {\"bits_per_second\": 9.9e9},\n" +
		"\t\t\"sum_received\": {\"bits_per_second\": 12345678900.5}\n\t}\n}\n"
	g, err := parseIperf(ok)
	if err != nil || g < 12.345 || g > 12.346 {
		t.Errorf("parseIperf = %v, %v; want 12.3457", g, err)
	}
	failed := "{\n\t\"start\": {\"connected\": []},\n\t\"end\": {},\n\t\"error\": \"unable to connect to server: Connection refused\"\n}\n"
	if _, err := parseIperf(failed); err == nil {
		t.Error("iperf3's error was not reported")
	}
	if _, err := parseIperf("vzctl: container not running\n"); err == nil {
		t.Error("output without JSON was accepted")
	}
}

func TestTCPListening(t *testing.T) {
	tbl := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 00000000:1451 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n" +
		"   1: 0100007F:1452 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1\n"
	if !tcpListening(tbl, 5201) {
		t.Error("port 5201 in LISTEN not found")
	}
	if tcpListening(tbl, 5202) {
		t.Error("an established socket counted as listening")
	}
}

func TestEchoPackets(t *testing.T) {
	req := echoRequest(0x1234, 7)
	if inetChecksum(req) != 0 {
		t.Errorf("echo request checksum does not verify: %x", req)
	}
	if req[0] != 8 || req[4] != 0x12 || req[5] != 0x34 || req[7] != 7 {
		t.Errorf("echo request %x", req)
	}
	src := netip.MustParseAddr("10.77.0.101")
	// An IPv4 header (IHL 5, protocol ICMP, from src) and the reply.
	ip := []byte{0x45, 0, 0, 36, 0, 0, 0, 0, 64, 1, 0, 0, 10, 77, 0, 101, 10, 77, 0, 1}
	reply := append([]byte{}, req...)
	reply[0] = 0
	pkt := append(append([]byte{}, ip...), reply...)
	if !isEchoReply(pkt, src, 0x1234) {
		t.Error("the reply was not recognised")
	}
	if isEchoReply(pkt, src, 0x1235) {
		t.Error("another id matched")
	}
	if isEchoReply(pkt, netip.MustParseAddr("10.77.0.102"), 0x1234) {
		t.Error("another source matched")
	}
	other := append(append([]byte{}, ip...), req...) // a request, not a reply
	if isEchoReply(other, src, 0x1234) {
		t.Error("an echo request matched")
	}
	if isEchoReply(pkt[:22], src, 0x1234) {
		t.Error("a truncated packet matched")
	}
}
