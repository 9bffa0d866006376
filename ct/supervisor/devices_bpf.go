package supervisor

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"govz/ct/cgroup"
	"govz/ct/rootfs"
	"govz/ct/vzerror"
)

// applyDevicesBPF attaches the container's device program to OUTER of the
// cgroup2 hierarchy. BPF_F_ALLOW_MULTI lets the guest (systemd) attach its
// own programs further down; the kernel runs all of them and a device is
// allowed only if every one allows it, so the guest can narrow the list
// but never widen it.
func applyDevicesBPF(cg *cgroup.Group, rules []rootfs.Rule) error {
	dir, err := cg.OuterPath(cgroup.UnifiedName)
	if err != nil {
		return fmt.Errorf("device program: %w (%w)", err, vzerror.ErrSetDevices)
	}
	return attachDeviceProgram(dir, rules)
}

// bpfProgLoad is the BPF_PROG_LOAD part of union bpf_attr.
type bpfProgLoad struct {
	ProgType    uint32
	InsnCnt     uint32
	Insns       uint64
	License     uint64
	LogLevel    uint32
	LogSize     uint32
	LogBuf      uint64
	KernVersion uint32
	ProgFlags   uint32
	ProgName    [16]byte
}

// bpfProgAttach is the BPF_PROG_ATTACH part of union bpf_attr.
type bpfProgAttach struct {
	TargetFD     uint32
	AttachBPFFD  uint32
	AttachType   uint32
	AttachFlags  uint32
	ReplaceBPFFD uint32
}

// attachDeviceProgram loads the program for rules and attaches it to the
// cgroup2 directory dir. The attachment holds the program; it goes away
// with the cgroup.
func attachDeviceProgram(dir string, rules []rootfs.Rule) error {
	insns, err := rootfs.DeviceProgram(rules)
	if err != nil {
		return fmt.Errorf("device program: %w (%w)", err, vzerror.ErrSetDevices)
	}
	code := rootfs.EncodeEBPF(insns)
	prog, err := loadDeviceProgram(code, len(insns), nil)
	if err != nil {
		// Again, with the verifier's log for the message. (Not the first
		// time: a log that does not fit its buffer fails the load.)
		logBuf := make([]byte, 256<<10)
		if _, lerr := loadDeviceProgram(code, len(insns), logBuf); lerr != nil {
			err = fmt.Errorf("%w: %s", lerr, cString(logBuf))
		}
		return fmt.Errorf("loading device program: %w: %w", err, vzerror.ErrSetDevices)
	}
	defer unix.Close(int(prog))
	cgfd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("device program: opening %s: %w: %w", dir, err, vzerror.ErrSetDevices)
	}
	defer unix.Close(cgfd)
	attach := bpfProgAttach{
		TargetFD:    uint32(cgfd),
		AttachBPFFD: uint32(prog),
		AttachType:  unix.BPF_CGROUP_DEVICE,
		AttachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_ATTACH, uintptr(unsafe.Pointer(&attach)), unsafe.Sizeof(attach))
	if errno != 0 {
		return fmt.Errorf("attaching device program to %s: %w: %w", dir, errno, vzerror.ErrSetDevices)
	}
	return nil
}

// bpfLoadTries bounds the retries of a program load the verifier
// abandoned for a pending signal.
const bpfLoadTries = 5

// loadDeviceProgram loads code (n instructions) as a cgroup device
// program; with logBuf the verifier writes its log there.
func loadDeviceProgram(code []byte, n int, logBuf []byte) (uintptr, error) {
	license := []byte("GPL\x00")
	load := bpfProgLoad{
		ProgType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		InsnCnt:  uint32(n),
		Insns:    uint64(uintptr(unsafe.Pointer(&code[0]))),
		License:  uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	if len(logBuf) > 0 {
		load.LogLevel, load.LogSize = 1, uint32(len(logBuf))
		load.LogBuf = uint64(uintptr(unsafe.Pointer(&logBuf[0])))
	}
	copy(load.ProgName[:], "govz_devices")
	var prog uintptr
	var errno unix.Errno
	// The verifier gives up with EAGAIN when a signal is pending
	// (kernel/bpf/verifier.c: signal_pending() in do_check), and the Go
	// runtime signals its threads for preemption (SIGURG): try again, a
	// bounded number of times, as libbpf and cilium/ebpf do.
	for range bpfLoadTries {
		prog, _, errno = unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&load)), unsafe.Sizeof(load))
		if errno != unix.EAGAIN {
			break
		}
	}
	runtime.KeepAlive(code)
	runtime.KeepAlive(license)
	runtime.KeepAlive(logBuf)
	if errno != 0 {
		return 0, errno
	}
	return prog, nil
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
