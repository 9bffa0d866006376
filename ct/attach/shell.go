package attach

import (
	"os"

	"golang.org/x/sys/unix"

	"govz/internal/inroot"
)

// pickShell returns the shell commands run with: /bin/bash as vzctl used,
// or /bin/sh where the guest has no bash (busybox, alpine). The lookup
// happens under the container's root and cannot follow the guest's
// symlinks out of it.
func pickShell(root *os.File) string {
	if isExecutable(root, "bin/bash") {
		return "/bin/bash"
	}
	return "/bin/sh"
}

// isExecutable reports whether rel, resolved inside root, is an executable
// regular file.
func isExecutable(root *os.File, rel string) bool {
	r, err := inroot.OpenDir(root)
	if err != nil {
		return false
	}
	defer r.Close()
	st, err := r.Stat(rel)
	if err != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&0o111 != 0
}
