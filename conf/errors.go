package conf

import "errors"

// Errors of this package, wrapped with the file, key and value at fault (a
// *FileError or *KeyError says where). Callers test them with errors.Is;
// the command layer maps them to vzctl's exit codes.
var (
	// ErrUnknownKey: a key name no config knows (vzctl set's option, a
	// key given to SetString).
	ErrUnknownKey = errors.New("unknown key")
	// ErrBadValue: a value that does not parse or is out of its key's range.
	ErrBadValue = errors.New("invalid parameter value")
	// ErrBadHostname, ErrBadIP, ErrBadNameserver, ErrBadSearchDomain and
	// ErrBadName are ErrBadValue for the keys vzctl reports with codes of
	// their own.
	ErrBadHostname     = errors.New("bad hostname")
	ErrBadIP           = errors.New("bad ip address")
	ErrBadNameserver   = errors.New("bad nameserver")
	ErrBadSearchDomain = errors.New("bad search domain")
	ErrBadName         = errors.New("bad container name")
	// ErrBadFile: a config file that does not parse, or holds a key or
	// value its scope does not allow. It wraps the key's own error, if any.
	ErrBadFile = errors.New("invalid config")
	// ErrNoSample: a config sample found neither on disk nor built in.
	ErrNoSample = errors.New("config sample not found")
	// ErrSave: writing a config file failed.
	ErrSave = errors.New("cannot save config")
)
