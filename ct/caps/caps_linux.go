package caps

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// KernelLast returns the highest capability the running kernel knows
// (/proc/sys/kernel/cap_last_cap), capped at the last one this package
// can name.
func KernelLast() (Cap, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("reading cap_last_cap: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("parsing cap_last_cap %q: %w", b, err)
	}
	if Cap(n) > Last {
		n = int(Last)
	}
	return Cap(n), nil
}

// Apply limits the calling thread to keep: every other capability leaves
// the bounding set, and the effective and permitted sets are cut to keep.
// The inheritable and ambient sets are emptied: at execve(2) of a root
// process the new permitted set is inheritable | bounding (man 7
// capabilities, "Capabilities and execution of programs by root"), so a
// non-empty inheritable set would smuggle dropped capabilities past the
// bounding set (the same hole as CVE-2022-24769 in Moby).
//
// Capabilities are per thread: the caller must hold its OS thread
// (runtime.LockOSThread) and execve from that same thread.
func Apply(keep Set, last Cap) error {
	for c := Cap(0); c <= last; c++ {
		if keep.Has(c) {
			continue
		}
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
		if err != nil {
			return fmt.Errorf("dropping %s from the bounding set: %w", c, err)
		}
	}
	err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	if err != nil && err != unix.EINVAL { // EINVAL: kernel without ambient capabilities
		return fmt.Errorf("clearing ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	for i := range data {
		k := uint32(keep >> (32 * uint(i)))
		data[i].Effective &= k
		data[i].Permitted &= k
		data[i].Inheritable = 0
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// ParseStatusSet parses a capability mask line of /proc/PID/status
// ("CapBnd:\t000001ffffffffff").
func ParseStatusSet(hex string) (Set, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
	if err != nil {
		return 0, fmt.Errorf("parsing capability mask %q: %w", hex, err)
	}
	return Set(v), nil
}
