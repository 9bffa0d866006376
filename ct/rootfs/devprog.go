package rootfs

import (
	"encoding/binary"
	"fmt"
)

// The cgroup v2 device controller is an eBPF program
// (BPF_PROG_TYPE_CGROUP_DEVICE) attached to the cgroup: the kernel runs it
// on every open and mknod of a device node by a task below, with
// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
// (access_type = access << 16 | type) as its context; 1 allows, 0 denies
// (include/uapi/linux/bpf.h, kernel/bpf/cgroup.c). DeviceProgram
// assembles one for a rule list, the way runc's devicefilter does: one
// block per rule that jumps to the next block on any mismatch.

// eBPF opcodes (include/uapi/linux/bpf.h, bpf_common.h).
const (
	ebpfLdxMemW  = 0x61 // BPF_LDX | BPF_MEM | BPF_W
	ebpfAnd32K   = 0x54 // BPF_ALU | BPF_AND | BPF_K
	ebpfRsh32K   = 0x74 // BPF_ALU | BPF_RSH | BPF_K
	ebpfMov32X   = 0xbc // BPF_ALU | BPF_MOV | BPF_X
	ebpfMov64K   = 0xb7 // BPF_ALU64 | BPF_MOV | BPF_K
	ebpfJneK     = 0x55 // BPF_JMP | BPF_JNE | BPF_K
	ebpfExit     = 0x95 // BPF_JMP | BPF_EXIT
	devcgBlock   = 1    // BPF_DEVCG_DEV_BLOCK
	devcgChar    = 2    // BPF_DEVCG_DEV_CHAR
	devcgMknod   = 1    // BPF_DEVCG_ACC_MKNOD
	devcgRead    = 2    // BPF_DEVCG_ACC_READ
	devcgWrite   = 4    // BPF_DEVCG_ACC_WRITE
	regCtx       = 1
	regType      = 2
	regAccess    = 3
	regMajor     = 4
	regMinor     = 5
	regRet       = 0
	regScratch   = 1 // the context is no longer needed after the loads
	ebpfInsnSize = 8
)

// EBPFInsn is one struct bpf_insn.
type EBPFInsn struct {
	Code uint8
	Dst  uint8
	Src  uint8
	Off  int16
	Imm  int32
}

// DeviceProgram returns the eBPF program that allows exactly rules.
func DeviceProgram(rules []Rule) ([]EBPFInsn, error) {
	p := []EBPFInsn{
		{Code: ebpfLdxMemW, Dst: regType, Src: regCtx, Off: 0},
		{Code: ebpfAnd32K, Dst: regType, Imm: 0xffff},
		{Code: ebpfLdxMemW, Dst: regAccess, Src: regCtx, Off: 0},
		{Code: ebpfRsh32K, Dst: regAccess, Imm: 16},
		{Code: ebpfLdxMemW, Dst: regMajor, Src: regCtx, Off: 4},
		{Code: ebpfLdxMemW, Dst: regMinor, Src: regCtx, Off: 8},
	}
	for _, r := range rules {
		var block []EBPFInsn
		// Each test jumps past the rest of the block; offsets are filled in
		// once the block's length is known.
		var jumps []int
		test := func(in ...EBPFInsn) {
			block = append(block, in...)
			jumps = append(jumps, len(block)-1)
		}
		switch r.Type {
		case 'a':
		case 'b':
			test(EBPFInsn{Code: ebpfJneK, Dst: regType, Imm: devcgBlock})
		case 'c':
			test(EBPFInsn{Code: ebpfJneK, Dst: regType, Imm: devcgChar})
		default:
			return nil, fmt.Errorf("device rule %s: bad type", r)
		}
		var acc int32
		for _, ch := range r.Access {
			switch ch {
			case 'r':
				acc |= devcgRead
			case 'w':
				acc |= devcgWrite
			case 'm':
				acc |= devcgMknod
			default:
				return nil, fmt.Errorf("device rule %s: bad access", r)
			}
		}
		if acc != devcgRead|devcgWrite|devcgMknod {
			// Any requested access bit outside the rule's set: no match.
			test(EBPFInsn{Code: ebpfMov32X, Dst: regScratch, Src: regAccess},
				EBPFInsn{Code: ebpfAnd32K, Dst: regScratch, Imm: ^acc & 7},
				EBPFInsn{Code: ebpfJneK, Dst: regScratch, Imm: 0})
		}
		if r.Major >= 0 {
			test(EBPFInsn{Code: ebpfJneK, Dst: regMajor, Imm: int32(r.Major)})
		}
		if r.Minor >= 0 {
			test(EBPFInsn{Code: ebpfJneK, Dst: regMinor, Imm: int32(r.Minor)})
		}
		block = append(block, EBPFInsn{Code: ebpfMov64K, Dst: regRet, Imm: 1}, EBPFInsn{Code: ebpfExit})
		for _, j := range jumps {
			block[j].Off = int16(len(block) - 1 - j)
		}
		p = append(p, block...)
	}
	return append(p, EBPFInsn{Code: ebpfMov64K, Dst: regRet, Imm: 0}, EBPFInsn{Code: ebpfExit}), nil
}

// EncodeEBPF lays out insns as the kernel's struct bpf_insn array
// (little-endian hosts).
func EncodeEBPF(insns []EBPFInsn) []byte {
	b := make([]byte, len(insns)*ebpfInsnSize)
	for i, in := range insns {
		o := b[i*ebpfInsnSize:]
		o[0] = in.Code
		o[1] = in.Dst&0xf | in.Src<<4
		binary.LittleEndian.PutUint16(o[2:], uint16(in.Off))
		binary.LittleEndian.PutUint32(o[4:], uint32(in.Imm))
	}
	return b
}
