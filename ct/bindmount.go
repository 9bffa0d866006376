package ct

import (
	"fmt"
	"os"

	"govz/ct/rootfs"
	"govz/ct/vzerror"
)

// bindMounts parses a container's bindmount items and checks each host
// path: it must exist and be a directory or a regular file (a device,
// FIFO or socket bound in would be a grant the device policy never saw).
// It is checked when set and again at every start, since the host path
// can go away in between.
func bindMounts(items []string) ([]rootfs.Bind, error) {
	var out []rootfs.Bind
	seen := map[string]bool{}
	for _, it := range items {
		b, err := rootfs.ParseBind(it)
		if err != nil {
			return nil, err
		}
		if seen[b.Target] {
			return nil, fmt.Errorf("bad bindmount %q: %s is bound twice: %w", it, b.Target, vzerror.ErrInvalidValue)
		}
		seen[b.Target] = true
		st, err := os.Stat(b.Source)
		if err != nil {
			return nil, fmt.Errorf("bad bindmount %q: host path: %w: %w", it, err, vzerror.ErrInvalidValue)
		}
		switch {
		case st.IsDir():
			b.Dir = true
		case st.Mode().IsRegular():
		default:
			return nil, fmt.Errorf("bad bindmount %q: host path %s is not a directory or a regular file: %w", it, b.Source, vzerror.ErrInvalidValue)
		}
		out = append(out, b)
	}
	return out, nil
}
