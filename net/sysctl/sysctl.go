// Package sysctl reads and writes kernel parameters under /proc/sys. The
// net.* parameters belong to the network namespace of the process that
// opens the file, so a caller running in a node's namespace sees that
// namespace's values. Parameters are named by their path below /proc/sys
// ("net/ipv4/conf/eth0/forwarding"): interface names may contain dots,
// which the dotted form cannot carry unambiguously.
package sysctl

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Sysctls reads and writes parameters.
type Sysctls interface {
	Get(path string) (string, error)
	Set(path, value string) error
}

// Proc is the real /proc/sys.
type Proc struct{}

// Get returns the value with surrounding blanks trimmed.
func (Proc) Get(path string) (string, error) {
	// Plain system calls: os.File costs a few times more per file (its
	// poller registration), which a restore reading a namespace's few
	// hundred parameters pays.
	fd, err := unix.Open(filepath.Join("/proc/sys", filepath.Clean("/"+path)), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("reading sysctl %s: %w", Dotted(path), err)
	}
	defer unix.Close(fd)
	var b []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			return "", fmt.Errorf("reading sysctl %s: %w", Dotted(path), err)
		}
		if n == 0 {
			break
		}
		b = append(b, buf[:n]...)
	}
	return strings.TrimSpace(string(b)), nil
}

// Set writes value.
func (Proc) Set(path, value string) error {
	fd, err := unix.Open(filepath.Join("/proc/sys", filepath.Clean("/"+path)), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("setting sysctl %s: %w", Dotted(path), err)
	}
	// One write: the kernel parses the value from the first one.
	_, err = unix.Write(fd, []byte(value))
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("setting sysctl %s=%s: %w", Dotted(path), value, err)
	}
	return nil
}

// Dotted renders a path the way sysctl(8) names it: components joined with
// dots, dots inside a component (an interface name) turned into slashes.
func Dotted(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, ".", "/")
	}
	return strings.Join(parts, ".")
}

// Map is an in-memory Sysctls for tests; a missing key reads as an error,
// as a missing file does.
type Map map[string]string

// Get returns m[path].
func (m Map) Get(path string) (string, error) {
	v, ok := m[path]
	if !ok {
		return "", fmt.Errorf("reading sysctl %s: %w", Dotted(path), os.ErrNotExist)
	}
	return v, nil
}

// Set stores value.
func (m Map) Set(path, value string) error {
	m[path] = value
	return nil
}
