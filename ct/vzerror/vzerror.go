// Package vzerror holds every sentinel error govz returns and the one table
// that maps them to vzctl's numbered exit codes (include/vzerror.h in vzctl
// 4.x). Hosting automation branches on those numbers, so a failure must keep
// its sentinel in its wrap chain all the way up to main.
//
// Library code wraps a sentinel with context:
//
//	return fmt.Errorf("container %d: %w", id, vzerror.ErrRunning)
//
// and only main calls Code(err) and exits.
package vzerror

import (
	"errors"
)

// Sentinels, one per vzctl failure class. Messages are lower-case and short:
// the wrapping context says which container, file or value was at fault.
var (
	ErrSetUBC          = errors.New("failed to set a resource limit")  // 1
	ErrSetCPU          = errors.New("failed to set a cpu parameter")   // 2
	ErrSystem          = errors.New("system error")                    // 3
	ErrBadKernel       = errors.New("not supported by this kernel")    // 5
	ErrResource        = errors.New("not enough resources")            // 6
	ErrEnvCreate       = errors.New("unable to create container")      // 7
	ErrCommandFailed   = errors.New("command failed")                  // 8
	ErrLocked          = errors.New("container already locked")        // 9
	ErrNoGlobalConfig  = errors.New("global config not found")         // 10
	ErrNoScript        = errors.New("script not found")                // 11
	ErrPermission      = errors.New("permission denied")               // 12
	ErrNoConfig        = errors.New("container config not found")      // 14
	ErrChkpnt          = errors.New("checkpoint failed")               // 16
	ErrRestore         = errors.New("restore failed")                  // 17
	ErrSyntax          = errors.New("invalid parameter syntax")        // 20
	ErrInvalidValue    = errors.New("invalid parameter value")         // 21
	ErrNotEnoughParams = errors.New("not enough parameters")           // 27
	ErrNoOSTemplate    = errors.New("os template not set")             // 29
	ErrNotRunning      = errors.New("container is not running")        // 31
	ErrRunning         = errors.New("container is running")            // 32
	ErrStop            = errors.New("unable to stop container")        // 33
	ErrCantAddIP       = errors.New("unable to add ip")                // 34
	ErrNotMounted      = errors.New("container is not mounted")        // 40
	ErrMounted         = errors.New("container is mounted")            // 41
	ErrNoPrivate       = errors.New("private area not found")          // 43
	ErrPrivateExists   = errors.New("private area already exists")     // 44
	ErrNoDiskSpace     = errors.New("not enough disk space")           // 46
	ErrBadTemplate     = errors.New("broken container or template")    // 47
	ErrCreatePrivate   = errors.New("cannot create private area")      // 48
	ErrMountPoint      = errors.New("cannot create mount point")       // 49
	ErrMount           = errors.New("mount failed")                    // 50
	ErrUmount          = errors.New("unmount failed")                  // 51
	ErrDeletePrivate   = errors.New("cannot delete private area")      // 52
	ErrQuotaSet        = errors.New("cannot set disk quota")           // 62
	ErrDiskspaceNotSet = errors.New("diskspace not set")               // 63
	ErrBadHostname     = errors.New("bad hostname")                    // 70
	ErrBadIP           = errors.New("bad ip address")                  // 71
	ErrBadNameserver   = errors.New("bad nameserver")                  // 72
	ErrBadSearchDomain = errors.New("bad search domain")               // 73
	ErrIPInUse         = errors.New("ip address already in use")       // 78
	ErrActionScript    = errors.New("action script failed")            // 79
	ErrSample          = errors.New("config sample not found")         // 82
	ErrInvalidConfig   = errors.New("invalid config")                  // 85
	ErrSetDevices      = errors.New("device access setup failed")      // 86
	ErrTemplateMissing = errors.New("os template not found")           // 91
	ErrLayout          = errors.New("layout not supported here")       // 99
	ErrStartDisabled   = errors.New("container start disabled")        // 105
	ErrVeth            = errors.New("veth setup failed")               // 130
	ErrName            = errors.New("container name error")            // 131
	ErrWaitFailed      = errors.New("wait for container start failed") // 133
	ErrConfigSave      = errors.New("cannot save config")              // 139
	ErrResizeImage     = errors.New("cannot resize image")             // 154
	ErrSetIO           = errors.New("failed to set an i/o parameter")  // 148
)

// codes is the one table from sentinel to vzctl exit code.
var codes = []struct {
	err  error
	code int
}{
	{ErrSetUBC, 1},
	{ErrSetCPU, 2},
	{ErrSystem, 3},
	{ErrBadKernel, 5},
	{ErrResource, 6},
	{ErrEnvCreate, 7},
	{ErrCommandFailed, 8},
	{ErrLocked, 9},
	{ErrNoGlobalConfig, 10},
	{ErrNoScript, 11},
	{ErrPermission, 12},
	{ErrNoConfig, 14},
	{ErrChkpnt, 16},
	{ErrRestore, 17},
	{ErrSyntax, 20},
	{ErrInvalidValue, 21},
	{ErrNotEnoughParams, 27},
	{ErrNoOSTemplate, 29},
	{ErrNotRunning, 31},
	{ErrRunning, 32},
	{ErrStop, 33},
	{ErrCantAddIP, 34},
	{ErrNotMounted, 40},
	{ErrMounted, 41},
	{ErrNoPrivate, 43},
	{ErrPrivateExists, 44},
	{ErrNoDiskSpace, 46},
	{ErrBadTemplate, 47},
	{ErrCreatePrivate, 48},
	{ErrMountPoint, 49},
	{ErrMount, 50},
	{ErrUmount, 51},
	{ErrDeletePrivate, 52},
	{ErrQuotaSet, 62},
	{ErrDiskspaceNotSet, 63},
	{ErrBadHostname, 70},
	{ErrBadIP, 71},
	{ErrBadNameserver, 72},
	{ErrBadSearchDomain, 73},
	{ErrIPInUse, 78},
	{ErrActionScript, 79},
	{ErrSample, 82},
	{ErrInvalidConfig, 85},
	{ErrSetDevices, 86},
	{ErrTemplateMissing, 91},
	{ErrLayout, 99},
	{ErrStartDisabled, 105},
	{ErrVeth, 130},
	{ErrName, 131},
	{ErrWaitFailed, 133},
	{ErrConfigSave, 139},
	{ErrResizeImage, 154},
	{ErrSetIO, 148},
}

// Entry is one row of the exit code table.
type Entry struct {
	Err  error
	Code int
}

// Codes returns the table, for documentation (vzctl(8)'s EXIT STATUS).
func Codes() []Entry {
	out := make([]Entry, len(codes))
	for i, c := range codes {
		out[i] = Entry{c.err, c.code}
	}
	return out
}

// ExitError carries an exact exit status that is not one of the table's
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

// Code returns vzctl's exit code for err: 0 for nil, the table's number for
// the first sentinel found in err's chain, and 3 (system error) otherwise.
func Code(err error) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Status
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return 3
}
