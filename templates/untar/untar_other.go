//go:build !linux

package untar

import (
	"errors"
	"fmt"
	"io"
)

// extractTar needs openat2(2); the package builds elsewhere only so that
// tools like go vet run on a developer's laptop.
func extractTar(io.Reader, string, func(string, ...any), *progress) error {
	return fmt.Errorf("extracting templates needs linux: %w", errors.ErrUnsupported)
}
