package supervisor

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

func TestChooseHalt(t *testing.T) {
	status := func(blk, cgt string) []byte {
		return []byte("Name:\tinit\nSigQ:\t0/1\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\nSigBlk:\t" + blk + "\nSigIgn:\t0000000000000001\nSigCgt:\t" + cgt + "\n")
	}
	cases := []struct {
		name          string
		status        []byte
		initctl       bool
		sig           unix.Signal
		initctlWanted bool
	}{
		// systemd 252 as PID 1: everything it handles is blocked (signalfd).
		{"systemd", status("7be3c0fe28014a03", "00000001800004ec"), true, sigRTMin3, false},
		// busybox 1.35 init, measured: SigBlk 20014a07 (HUP INT QUIT USR1 USR2 TERM PWR...).
		{"busybox", status("0000000020014a07", "0000000000080000"), false, unix.SIGPWR, false},
		{"sysvinit", status("0000000000000000", "00000000280b2603"), true, 0, true},
		{"sysvinit without fifo: SIGPWR caught", status("0000000000000000", "00000000280b2603"), false, unix.SIGPWR, false},
		{"tini-like: only SIGTERM", status("0000000000000000", "0000000000004000"), false, unix.SIGTERM, false},
		{"nothing handled", status("0000000000000000", "0000000000000000"), false, unix.SIGPWR, false},
		{"garbage", []byte("no status here"), false, unix.SIGPWR, false},
	}
	for _, c := range cases {
		m := chooseHalt(c.status, c.initctl)
		if m.Initctl != c.initctlWanted || (!m.Initctl && m.Signal != c.sig) {
			t.Errorf("%s: got %+v, want signal %v initctl %v", c.name, m, c.sig, c.initctlWanted)
		}
	}
}

func TestInitctlRequest(t *testing.T) {
	b := initctlRequest('0')
	if len(b) != 384 {
		t.Fatalf("request is %d bytes, want sizeof(struct init_request) = 384", len(b))
	}
	if binary.LittleEndian.Uint32(b) != 0x03091969 || binary.LittleEndian.Uint32(b[4:]) != 1 || b[8] != '0' {
		t.Errorf("request header % x", b[:16])
	}
}
