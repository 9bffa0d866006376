package rootfs

import "testing"

// evalDevice runs a device program the way the kernel would, for the
// instructions DeviceProgram emits.
func evalDevice(t *testing.T, p []EBPFInsn, typ, access, major, minor uint32) bool {
	t.Helper()
	var r [11]uint64
	ctx := [3]uint32{access<<16 | typ, major, minor}
	for pc := 0; pc < len(p); pc++ {
		in := p[pc]
		switch in.Code {
		case ebpfLdxMemW:
			r[in.Dst] = uint64(ctx[in.Off/4])
		case ebpfAnd32K:
			r[in.Dst] = uint64(uint32(r[in.Dst]) & uint32(in.Imm))
		case ebpfRsh32K:
			r[in.Dst] = uint64(uint32(r[in.Dst]) >> uint32(in.Imm))
		case ebpfMov32X:
			r[in.Dst] = uint64(uint32(r[in.Src]))
		case ebpfMov64K:
			r[in.Dst] = uint64(int64(in.Imm))
		case ebpfJneK:
			if r[in.Dst] != uint64(int64(in.Imm)) {
				pc += int(in.Off)
			}
		case ebpfExit:
			return r[regRet] == 1
		default:
			t.Fatalf("opcode %#x", in.Code)
		}
	}
	t.Fatal("fell off the end")
	return false
}

func TestDeviceProgramDecisions(t *testing.T) {
	p, err := DeviceProgram(AllowRules([]DevNode{{Path: "net/tun", Type: 'c', Major: 10, Minor: 200, Access: "rw"}}))
	if err != nil {
		t.Fatal(err)
	}
	rw, rwm, m := uint32(devcgRead|devcgWrite), uint32(devcgRead|devcgWrite|devcgMknod), uint32(devcgMknod)
	cases := []struct {
		name                   string
		typ, acc, major, minor uint32
		want                   bool
	}{
		{"null", devcgChar, rwm, 1, 3, true},
		{"urandom", devcgChar, rw, 1, 9, true},
		{"pts 4", devcgChar, rw, 136, 4, true},
		{"ptmx", devcgChar, rw, 5, 2, true},
		{"tun rw", devcgChar, rw, 10, 200, true},
		{"tun mknod refused", devcgChar, m, 10, 200, false},
		{"mem", devcgChar, rw, 1, 1, false},
		{"host disk", devcgBlock, rw, 254, 0, false},
		{"host disk mknod", devcgBlock, m, 254, 0, false},
		{"block 1:3 is not char 1:3", devcgBlock, rw, 1, 3, false},
	}
	for _, c := range cases {
		if got := evalDevice(t, p, c.typ, c.acc, c.major, c.minor); got != c.want {
			t.Errorf("%s: allowed=%v, want %v", c.name, got, c.want)
		}
	}
	if b := EncodeEBPF(p); len(b) != 8*len(p) || b[0] != ebpfLdxMemW || b[1] != regType|regCtx<<4 {
		t.Errorf("encoding: % x", b[:8])
	}
}
