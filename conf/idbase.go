package conf

import (
	"fmt"
	"strconv"
)

// IDBase is the value of local_uid and local_gid: the first of the
// container's host IDs, 0 for none (the container's user namespace maps
// every ID to itself), or AutoID.
type IDBase int64

// AutoID asks create and set to take a free range from the node's pool
// (local_id_pool) and store the concrete number: no container file keeps
// "auto" once a command has seen it.
const AutoID IDBase = -1

// IsAuto reports whether the value asks for an allocation.
func (b IDBase) IsAuto() bool { return b == AutoID }

func (b IDBase) String() string {
	if b == AutoID {
		return "auto"
	}
	return strconv.FormatInt(int64(b), 10)
}

// ParseIDBase reads the command-line spelling: a number or "auto".
func ParseIDBase(s string) (IDBase, error) {
	if s == "auto" {
		return AutoID, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad value %q (a host ID, 0 or auto): %w", s, ErrBadValue)
	}
	return IDBase(v), nil
}

// UnmarshalTOML takes an integer or the string "auto".
func (b *IDBase) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return fmt.Errorf("negative id %d", v)
		}
		*b = IDBase(v)
		return nil
	case string:
		if v == "auto" {
			*b = AutoID
			return nil
		}
	}
	return fmt.Errorf("want an integer or \"auto\", not %v", v)
}

// MarshalTOML writes an integer, or "auto" (which only a sample or vz.toml
// holds).
func (b IDBase) MarshalTOML() ([]byte, error) {
	if b == AutoID {
		return []byte(`"auto"`), nil
	}
	return []byte(b.String()), nil
}

// ID returns the value of local_uid or local_gid, 0 when unset.
func ID(p *IDBase) IDBase {
	if p == nil {
		return 0
	}
	return *p
}
