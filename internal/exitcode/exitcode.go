// Package exitcode is the command layer's one table from errors to vzctl's
// numbered exit codes (include/vzerror.h in vzctl 4.x). Only the commands
// (cmd/*) and their generated documentation import it: library packages
// return errors wrapped with %w and never pick a number.
//
// Of walks the error tree outermost-first: a layer that wraps a cause with
// its own class ("stopping 101: unable to stop container: invalid
// parameter value") decides the exit code (33), not the class the cause
// carried (21). Hosting automation branches on these numbers, so they must
// not depend on table order or on how deep a cause sits.
package exitcode

import (
	"govz/conf"
	"govz/ct/caps"
	"govz/ct/cgroup"
	"govz/ct/grants"
	"govz/ct/idmap"
	"govz/ct/vzerror"
	"govz/templates/untar/untarerr"
)

// System is the exit code of an error that carries no class (vzctl's
// VZ_SYSTEM_ERROR).
const System = 3

// Row is one entry of the table.
type Row struct {
	Err  error
	Code int
}

// Classes is the documented table: one lifecycle class (ct/vzerror) per
// vzctl exit code, in vzerror.h's order. vzctl(8)'s EXIT STATUS lists it.
func Classes() []Row {
	return []Row{
		{vzerror.ErrSetUBC, 1},
		{vzerror.ErrSetCPU, 2},
		{vzerror.ErrSystem, 3},
		{vzerror.ErrBadKernel, 5},
		{vzerror.ErrResource, 6},
		{vzerror.ErrEnvCreate, 7},
		{vzerror.ErrCommandFailed, 8},
		{vzerror.ErrLocked, 9},
		{vzerror.ErrNoGlobalConfig, 10},
		{vzerror.ErrNoScript, 11},
		{vzerror.ErrPermission, 12},
		{vzerror.ErrNoConfig, 14},
		{vzerror.ErrChkpnt, 16},
		{vzerror.ErrRestore, 17},
		{vzerror.ErrSyntax, 20},
		{vzerror.ErrInvalidValue, 21},
		{vzerror.ErrNotEnoughParams, 27},
		{vzerror.ErrNoOSTemplate, 29},
		{vzerror.ErrNotRunning, 31},
		{vzerror.ErrRunning, 32},
		{vzerror.ErrStop, 33},
		{vzerror.ErrCantAddIP, 34},
		{vzerror.ErrNotMounted, 40},
		{vzerror.ErrMounted, 41},
		{vzerror.ErrNoPrivate, 43},
		{vzerror.ErrPrivateExists, 44},
		{vzerror.ErrNoDiskSpace, 46},
		{vzerror.ErrBadTemplate, 47},
		{vzerror.ErrCreatePrivate, 48},
		{vzerror.ErrMountPoint, 49},
		{vzerror.ErrMount, 50},
		{vzerror.ErrUmount, 51},
		{vzerror.ErrDeletePrivate, 52},
		{vzerror.ErrQuotaSet, 62},
		{vzerror.ErrDiskspaceNotSet, 63},
		{vzerror.ErrBadHostname, 70},
		{vzerror.ErrBadIP, 71},
		{vzerror.ErrBadNameserver, 72},
		{vzerror.ErrBadSearchDomain, 73},
		{vzerror.ErrIPInUse, 78},
		{vzerror.ErrActionScript, 79},
		{vzerror.ErrSample, 82},
		{vzerror.ErrInvalidConfig, 85},
		{vzerror.ErrSetDevices, 86},
		{vzerror.ErrTemplateMissing, 91},
		{vzerror.ErrLayout, 99},
		{vzerror.ErrStartDisabled, 105},
		{vzerror.ErrVeth, 130},
		{vzerror.ErrName, 131},
		{vzerror.ErrWaitFailed, 133},
		{vzerror.ErrConfigSave, 139},
		{vzerror.ErrSetIO, 148},
		{vzerror.ErrResizeImage, 154},
	}
}

// packages maps the kernel and data packages' own sentinels to the code of
// the class they belong to, for the failures no lifecycle layer wraps in a
// class of its own (a bad value in `vzctl set`, a corrupt archive in
// `vztmpl`).
func packages() []Row {
	return []Row{
		{conf.ErrUnknownKey, 20},
		{conf.ErrBadValue, 21},
		{conf.ErrBadHostname, 70},
		{conf.ErrBadIP, 71},
		{conf.ErrBadNameserver, 72},
		{conf.ErrBadSearchDomain, 73},
		{conf.ErrNoSample, 82},
		{conf.ErrBadFile, 85},
		{conf.ErrBadName, 131},
		{conf.ErrSave, 139},
		{caps.ErrBadCapability, 21},
		{caps.ErrUnsupported, 5},
		{cgroup.ErrUnsupported, 5},
		{grants.ErrBadValue, 21},
		{idmap.ErrBadPool, 21},
		{idmap.ErrExhausted, 6},
		{cgroup.ErrBadPath, 21},
		{cgroup.ErrNoResource, 6},
		{cgroup.ErrPopulated, 32},
		{cgroup.ErrKillTimeout, 33},
		{untarerr.ErrSystem, 3},
		{untarerr.ErrCorrupt, 47},
		{untarerr.ErrNotFound, 91},
		{untarerr.ErrNoSpace, 46},
		{untarerr.ErrDestination, 48},
	}
}

// Table returns every row Of matches: the classes, then the packages'
// sentinels.
func Table() []Row { return append(Classes(), packages()...) }

// Of returns vzctl's exit code for err: 0 for nil; the exact status of the
// outermost *vzerror.ExitError or the code of the outermost error of the
// table, whichever comes first; System (3) otherwise.
//
// "Outermost" is vzerror.Walk's order: breadth-first, left to right within
// one level. In fmt.Errorf("%w: %w", cause, vzerror.ErrConfigSave) the
// class chosen by that layer sits one level above whatever class cause
// carries inside it.
func Of(err error) int {
	if err == nil {
		return 0
	}
	table := Table()
	code, found := System, false
	vzerror.Walk(err, func(e error) bool {
		code, found = match(e, table)
		return found
	})
	if !found {
		return System
	}
	return code
}

// match tells whether e itself, not what it wraps, has a code.
func match(e error, table []Row) (int, bool) {
	if ee, ok := any(e).(*vzerror.ExitError); ok { // this node only
		return ee.Status, true
	}
	is, _ := any(e).(interface{ Is(error) bool })
	for _, r := range table {
		// Identity of this node, on purpose not errors.Is, which would
		// descend into what e wraps. Sentinels are pointers, so == cannot
		// panic on an uncomparable dynamic type.
		if any(e) == any(r.Err) || is != nil && is.Is(r.Err) {
			return r.Code, true
		}
	}
	return 0, false
}
