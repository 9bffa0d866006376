// Package ippool is the node's address pools (vz.toml's ip_pool): named
// lists of IPv4 and IPv6 ranges from which `--ipadd auto[:POOL]` takes the
// lowest address no container holds. It only computes; the caller scans
// the containers and holds the node allocation lock, so that the choice
// and the config write that takes the address are one step.
package ippool

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Default is the pool plain `auto` takes when vz.toml names several.
const Default = "default"

var (
	// ErrExhausted: every address of the pool is taken.
	ErrExhausted = errors.New("address pool exhausted")
	// ErrUnknown: no pool of that name, or no pool at all.
	ErrUnknown = errors.New("no such address pool")
	// ErrSyntax: a malformed ip_pool entry or auto spec.
	ErrSyntax = errors.New("bad address pool")
)

// Range is FIRST..LAST inclusive, one family.
type Range struct {
	First, Last netip.Addr
}

func (r Range) String() string { return r.First.String() + "-" + r.Last.String() }

// Pool is one named pool: its ranges in the order vz.toml lists them.
type Pool struct {
	Name   string
	Ranges []Range
}

// Pools are every pool of the node, in the order first named.
type Pools []Pool

// Parse reads ip_pool entries: [NAME=]RANGE, where RANGE is FIRST-LAST,
// a CIDR prefix, or one address; an entry without a name belongs to the
// pool "default"; several entries with one name make one pool. A prefix
// leaves out the addresses a host cannot take: an IPv4 subnet's network
// and broadcast addresses, an IPv6 subnet's subnet-router anycast.
func Parse(entries []string) (Pools, error) {
	var ps Pools
	for _, e := range entries {
		name, spec, ok := strings.Cut(e, "=")
		if !ok {
			name, spec = Default, e
		}
		if !validName(name) {
			return nil, fmt.Errorf("ip_pool entry %q: pool name %q (want letters, digits, '-', '_', '.'): %w", e, name, ErrSyntax)
		}
		r, err := parseRange(spec)
		if err != nil {
			return nil, fmt.Errorf("ip_pool entry %q: %w", e, err)
		}
		i := ps.index(name)
		if i < 0 {
			ps = append(ps, Pool{Name: name})
			i = len(ps) - 1
		}
		for _, o := range ps[i].Ranges {
			if overlap(o, r) {
				return nil, fmt.Errorf("ip_pool entry %q overlaps %s of pool %s: %w", e, o, name, ErrSyntax)
			}
		}
		ps[i].Ranges = append(ps[i].Ranges, r)
	}
	return ps, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func overlap(a, b Range) bool {
	return a.First.BitLen() == b.First.BitLen() && a.First.Compare(b.Last) <= 0 && b.First.Compare(a.Last) <= 0
}

func parseRange(s string) (Range, error) {
	bad := func() (Range, error) {
		return Range{}, fmt.Errorf("range %q: want FIRST-LAST, ADDR/PREFIX or ADDR: %w", s, ErrSyntax)
	}
	if first, last, ok := strings.Cut(s, "-"); ok {
		f, err1 := netip.ParseAddr(first)
		l, err2 := netip.ParseAddr(last)
		if err1 != nil || err2 != nil || f.Zone() != "" || l.Zone() != "" {
			return bad()
		}
		f, l = f.Unmap(), l.Unmap()
		if f.BitLen() != l.BitLen() || l.Less(f) {
			return Range{}, fmt.Errorf("range %q: last address before the first or another family: %w", s, ErrSyntax)
		}
		return Range{f, l}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return bad()
		}
		p = p.Masked()
		first, last := p.Addr(), lastOf(p)
		host := p.Addr().BitLen() - p.Bits()
		if p.Addr().Is4() && host >= 2 {
			first, last = first.Next(), last.Prev()
		} else if p.Addr().Is6() && host >= 1 {
			first = first.Next()
		}
		return Range{first, last}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return bad()
	}
	return Range{a.Unmap(), a.Unmap()}, nil
}

// lastOf is the highest address of p.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (ps Pools) index(name string) int {
	for i, p := range ps {
		if p.Name == name {
			return i
		}
	}
	return -1
}

// ParseAuto reads an --ipadd value: ok=false when it is not auto at all;
// pool "" when it names none.
func ParseAuto(s string) (pool string, ok bool, err error) {
	if s == "auto" {
		return "", true, nil
	}
	name, isAuto := strings.CutPrefix(s, "auto:")
	if !isAuto {
		return "", false, nil
	}
	if !validName(name) {
		return "", true, fmt.Errorf("--ipadd %q: bad pool name: %w", s, ErrSyntax)
	}
	return name, true, nil
}

// Lookup finds the pool auto:name takes; name "" is the pool "default",
// or the only pool when vz.toml declares one.
func (ps Pools) Lookup(name string) (Pool, error) {
	if name == "" {
		if i := ps.index(Default); i >= 0 {
			return ps[i], nil
		}
		if len(ps) == 1 {
			return ps[0], nil
		}
		if len(ps) == 0 {
			return Pool{}, fmt.Errorf("--ipadd auto: vz.toml declares no ip_pool: %w", ErrUnknown)
		}
		return Pool{}, fmt.Errorf("--ipadd auto: vz.toml declares several pools and none named %q; name one (auto:POOL): %w", Default, ErrUnknown)
	}
	if i := ps.index(name); i >= 0 {
		return ps[i], nil
	}
	return Pool{}, fmt.Errorf("--ipadd auto:%s: vz.toml declares no such ip_pool: %w", name, ErrUnknown)
}

// Allocate is the lowest address of the pool, in range order, that used
// does not report. It looks at most len(used)+1 addresses per range, so
// an IPv6 /64 costs no more than an IPv4 /30.
func (p Pool) Allocate(used map[netip.Addr]bool) (netip.Addr, error) {
	for _, r := range p.Ranges {
		for a := r.First; a.IsValid() && !r.Last.Less(a); a = a.Next() {
			if !used[a] {
				return a, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("ip_pool %s (%s): every address is taken: %w", p.Name, p.rangesString(), ErrExhausted)
}

func (p Pool) rangesString() string {
	s := make([]string, len(p.Ranges))
	for i, r := range p.Ranges {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}
