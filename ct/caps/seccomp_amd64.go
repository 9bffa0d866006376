package caps

// hostTables: an x86-64 kernel runs x86-64, x32 and i386 binaries.
func hostTables() []SyscallTable { return []SyscallTable{TableX8664, TableI386} }
