// Package vzerror holds the lifecycle layer's failure classes: one sentinel
// per class of vzctl's numbered exit codes (include/vzerror.h in vzctl 4.x).
// It holds no numbers: only the command layer (internal/exitcode) maps a
// class to vzctl's exit code, so hosting automation that branches on those
// numbers depends on one table.
//
// Lifecycle code wraps a sentinel with context, and keeps the cause with %w:
//
//	return fmt.Errorf("container %d: %w", id, vzerror.ErrRunning)
//	return fmt.Errorf("stopping container %d: %w: %w", id, vzerror.ErrStop, err)
//
// The command layer takes the outermost class in the chain, so the layer
// that knows what failed (stop) picks the code, not the cause it wraps
// (an invalid value found while stopping). Kernel and data packages
// (conf, ct/cgroup, ct/caps, templates/untar) have sentinels of their own.
package vzerror

import (
	"errors"
)

// Sentinels, one per vzctl failure class. Messages are lower-case and short:
// the wrapping context says which container, file or value was at fault.
var (
	ErrSetUBC          = errors.New("failed to set a resource limit")
	ErrSetCPU          = errors.New("failed to set a cpu parameter")
	ErrSystem          = errors.New("system error")
	ErrBadKernel       = errors.New("not supported by this kernel")
	ErrResource        = errors.New("not enough resources")
	ErrEnvCreate       = errors.New("unable to create container")
	ErrCommandFailed   = errors.New("command failed")
	ErrLocked          = errors.New("container already locked")
	ErrNoGlobalConfig  = errors.New("global config not found")
	ErrNoScript        = errors.New("script not found")
	ErrPermission      = errors.New("permission denied")
	ErrNoConfig        = errors.New("container config not found")
	ErrChkpnt          = errors.New("checkpoint failed")
	ErrRestore         = errors.New("restore failed")
	ErrSyntax          = errors.New("invalid parameter syntax")
	ErrInvalidValue    = errors.New("invalid parameter value")
	ErrNotEnoughParams = errors.New("not enough parameters")
	ErrNoOSTemplate    = errors.New("os template not set")
	ErrNotRunning      = errors.New("container is not running")
	ErrRunning         = errors.New("container is running")
	ErrStop            = errors.New("unable to stop container")
	ErrCantAddIP       = errors.New("unable to add ip")
	ErrNotMounted      = errors.New("container is not mounted")
	ErrMounted         = errors.New("container is mounted")
	ErrNoPrivate       = errors.New("private area not found")
	ErrPrivateExists   = errors.New("private area already exists")
	ErrNoDiskSpace     = errors.New("not enough disk space")
	ErrBadTemplate     = errors.New("broken container or template")
	ErrCreatePrivate   = errors.New("cannot create private area")
	ErrMountPoint      = errors.New("cannot create mount point")
	ErrMount           = errors.New("mount failed")
	ErrUmount          = errors.New("unmount failed")
	ErrDeletePrivate   = errors.New("cannot delete private area")
	ErrQuotaSet        = errors.New("cannot set disk quota")
	ErrDiskspaceNotSet = errors.New("diskspace not set")
	ErrBadHostname     = errors.New("bad hostname")
	ErrBadIP           = errors.New("bad ip address")
	ErrBadNameserver   = errors.New("bad nameserver")
	ErrBadSearchDomain = errors.New("bad search domain")
	ErrIPInUse         = errors.New("ip address already in use")
	ErrActionScript    = errors.New("action script failed")
	ErrSample          = errors.New("config sample not found")
	ErrInvalidConfig   = errors.New("invalid config")
	ErrSetDevices      = errors.New("device access setup failed")
	ErrTemplateMissing = errors.New("os template not found")
	ErrLayout          = errors.New("layout not supported here")
	ErrStartDisabled   = errors.New("container start disabled")
	ErrVeth            = errors.New("veth setup failed")
	ErrName            = errors.New("container name error")
	ErrWaitFailed      = errors.New("wait for container start failed")
	ErrConfigSave      = errors.New("cannot save config")
	ErrResizeImage     = errors.New("cannot resize image")
	ErrSetIO           = errors.New("failed to set an i/o parameter")
)

// Sentinels returns every failure class above, for the command layer's
// exit-code table test and for carrying a class across a process boundary
// (ct/nsinit.RemoteError).
func Sentinels() []error {
	return []error{
		ErrSetUBC, ErrSetCPU, ErrSystem, ErrBadKernel, ErrResource, ErrEnvCreate,
		ErrCommandFailed, ErrLocked, ErrNoGlobalConfig, ErrNoScript, ErrPermission,
		ErrNoConfig, ErrChkpnt, ErrRestore, ErrSyntax, ErrInvalidValue, ErrNotEnoughParams, ErrNoOSTemplate,
		ErrNotRunning, ErrRunning, ErrStop, ErrCantAddIP, ErrNotMounted, ErrMounted,
		ErrNoPrivate, ErrPrivateExists, ErrNoDiskSpace, ErrBadTemplate, ErrCreatePrivate,
		ErrMountPoint, ErrMount, ErrUmount, ErrDeletePrivate, ErrQuotaSet,
		ErrDiskspaceNotSet, ErrBadHostname, ErrBadIP, ErrBadNameserver,
		ErrBadSearchDomain, ErrIPInUse, ErrActionScript, ErrSample, ErrInvalidConfig,
		ErrSetDevices, ErrTemplateMissing, ErrLayout, ErrStartDisabled, ErrVeth, ErrName,
		ErrWaitFailed, ErrConfigSave, ErrResizeImage, ErrSetIO,
	}
}

// ExitError carries an exact exit status that is not one of vzctl's table
// (exec2 returns the command's own status, for instance).
type ExitError struct {
	Status int
	Err    error
	// Quiet marks a status that is the result rather than a failure to
	// report (exec2 passes the command's own status on without a message).
	Quiet bool
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Walk calls visit on every error in err's tree outermost-first:
// breadth-first over what Unwrap() error and Unwrap() []error return, left
// to right within one level, until visit returns true. "Outermost" is the
// level: in fmt.Errorf("%w: %w", cause, ErrConfigSave) the class that layer
// chose is met before anything the cause wraps. visit sees each node
// itself; it must not use errors.Is or errors.As, which would descend.
func Walk(err error, visit func(error) bool) {
	for level := []error{err}; len(level) > 0; {
		var next []error
		for _, e := range level {
			if e == nil {
				continue
			}
			if visit(e) {
				return
			}
			// The node's own methods, not errors.As: this is the walk
			// errors.As itself does, in another order.
			switch u := any(e).(type) {
			case interface{ Unwrap() error }:
				next = append(next, u.Unwrap())
			case interface{ Unwrap() []error }:
				next = append(next, u.Unwrap()...)
			}
		}
		level = next
	}
}
