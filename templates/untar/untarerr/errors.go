// Package untarerr holds the extractor's error classes, apart from the
// extractor itself, so that the command layer's exit-code table can name
// them without linking the extractor (vzlist links no extractor).
package untarerr

import "errors"

// Errors of this package, wrapped with the archive, member and cause. They
// say whose fault a failure is, which is what the caller (template cache,
// container creation) reports.
var (
	// ErrCorrupt: the archive is corrupt, truncated or hostile (a ".."
	// member name, a member reached through something that is not a
	// directory, a hard link to nothing).
	ErrCorrupt = errors.New("broken template")
	// ErrNotFound: the archive file does not exist.
	ErrNotFound = errors.New("os template not found")
	// ErrNoSpace: the destination ran out of space or quota (ENOSPC,
	// EDQUOT).
	ErrNoSpace = errors.New("not enough disk space")
	// ErrDestination: any other failure to create a member in the
	// destination.
	ErrDestination = errors.New("cannot write the destination")
	// ErrSystem: the host failed, not the archive: the file cannot be read,
	// or a decompressor program is missing or does not start.
	ErrSystem = errors.New("system error")
)
