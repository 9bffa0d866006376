package conf

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// Unlimited is how vzctl spells "no limit" (LONG_MAX).
const Unlimited = math.MaxInt64

// Unit is the unit a resource key is kept in.
type Unit int

const (
	UnitItems Unit = iota // plain counts
	UnitBytes             // bytes; P suffix = pages
	UnitPages             // pages; K/M/G/T suffixes are bytes converted to pages
	UnitKB                // KiB (diskspace)
)

var pageSize = int64(os.Getpagesize())

// ParseValue parses one vzctl resource value: a number with an optional
// suffix (K M G T = powers of 1024 bytes, P = pages, B = bytes) or
// "unlimited", returned in unit. Fractions are allowed with a suffix
// ("2.2G"), as vzctl allows them for diskspace.
func ParseValue(s string, unit Unit) (int64, error) {
	if s == "unlimited" {
		return Unlimited, nil
	}
	if s == "" {
		return 0, fmt.Errorf("empty value: %w", ErrBadValue)
	}
	num, suf := s, byte(0)
	if c := s[len(s)-1]; c < '0' || c > '9' {
		num, suf = s[:len(s)-1], c|0x20 // lower-case the suffix
	}
	if num == "" || strings.ContainsAny(num, "+-eE") {
		return 0, fmt.Errorf("bad value %q: %w", s, ErrBadValue)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("bad value %q: %w", s, ErrBadValue)
	}
	if suf == 0 && strings.Contains(num, ".") {
		return 0, fmt.Errorf("bad value %q (fraction without a suffix): %w", s, ErrBadValue)
	}
	var bytes float64 // the value in bytes when a size suffix was given
	switch suf {
	case 0:
		return checkRange(s, f)
	case 'k':
		bytes = f * (1 << 10)
	case 'm':
		bytes = f * (1 << 20)
	case 'g':
		bytes = f * (1 << 30)
	case 't':
		bytes = f * (1 << 40)
	case 'p':
		bytes = f * float64(pageSize)
	case 'b':
		bytes = f
	default:
		return 0, fmt.Errorf("bad suffix in %q: %w", s, ErrBadValue)
	}
	switch unit {
	case UnitItems:
		return 0, fmt.Errorf("bad value %q (a count takes no suffix): %w", s, ErrBadValue)
	case UnitBytes:
		return checkRange(s, bytes)
	case UnitPages:
		return checkRange(s, math.Ceil(bytes/float64(pageSize)))
	default: // UnitKB
		return checkRange(s, math.Ceil(bytes/1024))
	}
}

func checkRange(s string, f float64) (int64, error) {
	if f >= math.MaxInt64 {
		return 0, fmt.Errorf("value %q out of range: %w", s, ErrBadValue)
	}
	return int64(f), nil
}

// BarrierLimit is a vzctl resource pair.
type BarrierLimit struct {
	Barrier, Limit int64
}

// ParseBarrierLimit parses "barrier[:limit]"; one value sets both, as in
// vzctl.
func ParseBarrierLimit(s string, unit Unit) (BarrierLimit, error) {
	b, l, found := strings.Cut(s, ":")
	bv, err := ParseValue(b, unit)
	if err != nil {
		return BarrierLimit{}, err
	}
	lv := bv
	if found {
		if lv, err = ParseValue(l, unit); err != nil {
			return BarrierLimit{}, err
		}
	}
	if lv < bv {
		return BarrierLimit{}, fmt.Errorf("bad value %q: limit below barrier: %w", s, ErrBadValue)
	}
	return BarrierLimit{bv, lv}, nil
}

// String renders the pair the way config files keep it.
func (bl BarrierLimit) String() string {
	return formatValue(bl.Barrier) + ":" + formatValue(bl.Limit)
}

func formatValue(v int64) string {
	if v == Unlimited {
		return "unlimited"
	}
	return strconv.FormatInt(v, 10)
}

// unitOfKind maps a resource kind to its unit.
func unitOfKind(kind string) (Unit, bool) {
	switch kind {
	case KindPages:
		return UnitPages, true
	case KindBytes:
		return UnitBytes, true
	case KindItems, KindInodes:
		return UnitItems, true
	case KindKB:
		return UnitKB, true
	}
	return 0, false
}
