package conf

import (
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"sync"

	"govz/ct/idmap"
	"govz/ct/ippool"
)

// KeyError is a bad value for one key; Err wraps this package's sentinel
// for the kind of value (ErrBadHostname, ErrBadIP, ..., else ErrBadValue).
type KeyError struct {
	Key string
	Err error
}

func (e *KeyError) Error() string { return fmt.Sprintf("%s: %v", e.Key, e.Err) }
func (e *KeyError) Unwrap() error { return e.Err }

// Validate checks every key set in c and normalises resource values to the
// form files keep ("barrier:limit" in the key's unit).
func (c *Config) Validate() error {
	for _, k := range Keys {
		f := c.field(k.Name)
		if f.IsNil() {
			continue
		}
		if err := validateKey(k, f); err != nil {
			return &KeyError{Key: k.Name, Err: err}
		}
	}
	return nil
}

func validateKey(k Key, f reflect.Value) error {
	if unit, ok := unitOfKind(k.Kind); ok {
		bl, err := ParseBarrierLimit(f.Elem().String(), unit)
		if err != nil {
			return err
		}
		f.Elem().SetString(bl.String())
		return nil
	}
	switch k.Kind {
	case KindHostname:
		return ValidateHostname(f.Elem().String())
	case KindIP:
		for i := 0; i < f.Len(); i++ {
			p, err := ParseIP(f.Index(i).String())
			if err != nil {
				return err
			}
			f.Index(i).SetString(p)
		}
	case KindNameserver:
		for i := 0; i < f.Len(); i++ {
			if err := ValidateNameserver(f.Index(i).String()); err != nil {
				return err
			}
		}
	case KindSearch:
		for i := 0; i < f.Len(); i++ {
			if err := ValidateSearchDomain(f.Index(i).String()); err != nil {
				return err
			}
		}
	case KindRate:
		if _, err := ParseValue(f.Elem().String(), UnitBytes); err != nil {
			return err
		}
	}
	switch k.Name {
	case "ve_layout":
		// vzctl's simfs and ploop are refused rather than mapped: their
		// on-disk formats are not these.
		if l := f.Elem().String(); l != "dir" && l != "btrfs" && l != "image" && l != "overlay" && l != "auto" {
			return fmt.Errorf("unknown layout %q (dir, btrfs, image, overlay or auto): %w", l, ErrBadValue)
		}
	case "name":
		return ValidateName(f.Elem().String())
	case "ostemplate", "def_ostemplate", "origin_sample", "configfile":
		return ValidateFileName(f.Elem().String())
	case "cpuunits":
		if v := f.Elem().Int(); v < 8 || v > 500000 {
			return fmt.Errorf("cpuunits %d out of range 8..500000: %w", v, ErrBadValue)
		}
	case "ioprio":
		if v := f.Elem().Int(); v < 0 || v > 7 {
			return fmt.Errorf("ioprio %d out of range 0..7: %w", v, ErrBadValue)
		}
	case "local_uid", "local_gid":
		// 0 = identity mapping; otherwise the first of 65536 host IDs,
		// above the host's own users and below the last ID.
		if v := f.Elem().Int(); v != 0 && v != int64(AutoID) && (v < 65536 || v > math.MaxUint32-65536) {
			return fmt.Errorf("%s %d: want 0, auto or 65536..%d: %w", k.Name, v, int64(math.MaxUint32-65536), ErrBadValue)
		}
	case "local_id_pool":
		if _, err := idmap.ParsePool(f.Elem().String()); err != nil {
			return err
		}
	case "ip_pool":
		if _, err := ippool.Parse(f.Interface().([]string)); err != nil {
			return fmt.Errorf("%w: %w", err, ErrBadValue)
		}
	case "stop_timeout", "bootorder", "ve_parallel", "shutdown_timeout", "cpulimit", "cpus", "quotatime", "quotaugidlimit":
		if v := f.Elem().Int(); v < 0 {
			return fmt.Errorf("negative value %d: %w", v, ErrBadValue)
		}
	}
	return nil
}

// hostnameLabel reports whether l is one RFC 1123 label: 1 to 63 letters,
// digits and hyphens, neither first nor last a hyphen. A loop, not a
// regexp: every config load checks the hostname, and compiling the
// pattern was ~2% of the CPU of a `vzctl exec`.
func hostnameLabel(l string) bool {
	if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidateHostname accepts an RFC 1123 host name (dot-separated labels).
func ValidateHostname(h string) error {
	if h == "" || len(h) > 253 {
		return fmt.Errorf("invalid hostname %q: %w", h, ErrBadHostname)
	}
	for _, l := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if !hostnameLabel(l) {
			return fmt.Errorf("invalid hostname %q: %w", h, ErrBadHostname)
		}
	}
	return nil
}

// ParseIP validates ADDR or ADDR/PREFIX and returns its canonical form.
func ParseIP(s string) (string, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return "", fmt.Errorf("invalid ip address %q: %w", s, ErrBadIP)
		}
		if err := usableIP(s, p.Addr()); err != nil {
			return "", err
		}
		return p.String(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", fmt.Errorf("invalid ip address %q: %w", s, ErrBadIP)
	}
	if err := usableIP(s, a); err != nil {
		return "", err
	}
	return a.String(), nil
}

func usableIP(s string, a netip.Addr) error {
	if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a.IsLinkLocalUnicast() ||
		(a.Is4() && a.As4() == [4]byte{255, 255, 255, 255}) {
		return fmt.Errorf("ip address %q cannot be given to a container: %w", s, ErrBadIP)
	}
	return nil
}

// IPAddr strips a prefix: "10.0.0.1/24" -> 10.0.0.1.
func IPAddr(s string) (netip.Addr, error) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("invalid ip address %q: %w", s, ErrBadIP)
	}
	return a, nil
}

// ValidateNameserver accepts an IP address or "inherit".
func ValidateNameserver(s string) error {
	if s == "inherit" {
		return nil
	}
	if _, err := netip.ParseAddr(s); err != nil {
		return fmt.Errorf("invalid nameserver %q: %w", s, ErrBadNameserver)
	}
	return nil
}

// ValidateSearchDomain accepts a domain name or "inherit".
func ValidateSearchDomain(s string) error {
	if s == "inherit" {
		return nil
	}
	if ValidateHostname(s) != nil {
		return fmt.Errorf("invalid search domain %q: %w", s, ErrBadSearchDomain)
	}
	return nil
}

var nameRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`) })

// ValidateName accepts a container name: letters, digits, '_', '.', '-',
// not starting with '.' or '-', not all digits (that would be a CTID).
func ValidateName(s string) error {
	if !nameRe().MatchString(s) || strings.Trim(s, "0123456789") == "" {
		return fmt.Errorf("invalid container name %q: %w", s, ErrBadName)
	}
	return nil
}

var fileNameRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+-]*$`) })

// ValidateFileName accepts a template or sample name, which becomes part of
// a path: no '/', no leading '.'.
func ValidateFileName(s string) error {
	if !fileNameRe().MatchString(s) || len(s) > 255 {
		return fmt.Errorf("invalid name %q: %w", s, ErrBadValue)
	}
	return nil
}
