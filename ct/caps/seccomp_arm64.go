package caps

// hostTables: an arm64 kernel runs aarch64 and (maybe) 32-bit arm binaries.
func hostTables() []SyscallTable { return []SyscallTable{TableAArch64, TableARM} }
