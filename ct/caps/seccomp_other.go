//go:build !amd64 && !arm64

package caps

// hostTables: no syscall numbers known for this architecture; the
// container runs without the filter (capabilities still apply).
func hostTables() []SyscallTable { return nil }
