// Package idmap allocates the host UID/GID ranges of user-namespaced
// containers. Each container gets Size IDs starting at a multiple of Size,
// taken from a node-wide pool, so that no two containers share a host ID:
// the kernel checks signals, ptrace, keyrings, /proc and file access by
// host UID, and two containers with overlapping ranges would pass each
// other's checks.
//
// The package is policy only: the caller collects what is in use (every
// container's config, /etc/subuid and /etc/subgid) and holds the node-wide
// allocation lock (ct/lock) from the collection to the write that commits
// the choice.
package idmap

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Size is how many IDs a container gets: container IDs 0..65535 map to
// BASE..BASE+65535 on the host (the 16-bit UID space guests expect).
const Size = 65536

// MaxID is the last usable host ID: (uid_t)-1 is the kernel's "no ID".
const MaxID = math.MaxUint32 - 1

// DefaultPool is the pool when vz.toml names none: 0x70000000 up to the
// start of systemd's "foreign" range (0x7FFE0000), the stretch systemd's
// UID allocation document (uids-gids.md) leaves to nobody. It stays clear
// of useradd's subordinate IDs (SUB_UID_MIN 100000 .. SUB_UID_MAX
// 600100000), of systemd-nspawn's -U ranges (524288..1879048191) and of
// IDs >= 2^31 that some tools take as negative; it holds 4094 containers.
const DefaultPool = "1879048192-2147352575"

// Range is Count host IDs from Start.
type Range struct {
	Start, Count uint64
}

// End is the first ID after the range.
func (r Range) End() uint64 { return r.Start + r.Count }

// Overlaps reports whether r and o share an ID.
func (r Range) Overlaps(o Range) bool {
	return r.Count > 0 && o.Count > 0 && r.Start < o.End() && o.Start < r.End()
}

func (r Range) String() string {
	if r.Count == 0 {
		return "empty"
	}
	return fmt.Sprintf("%d-%d", r.Start, r.End()-1)
}

// Of is the range of a container whose IDs start at base.
func Of(base uint64) Range { return Range{Start: base, Count: Size} }

// Used is a range somebody holds; Owner names them in messages
// ("container 102", "/etc/subuid: alice").
type Used struct {
	Range
	Owner string
}

// ParsePool reads a pool: "FIRST-LAST" (inclusive, as LXC's and Incus'
// documentation write ranges) or "START+COUNT" (/etc/subuid's start and
// count). It must lie within 65536..MaxID and hold at least one aligned
// range.
func ParsePool(s string) (Range, error) {
	bad := func(why string) (Range, error) {
		return Range{}, fmt.Errorf("bad id pool %q (want FIRST-LAST or START+COUNT): %s: %w", s, why, ErrBadPool)
	}
	var r Range
	if a, b, ok := strings.Cut(s, "-"); ok {
		first, err1 := strconv.ParseUint(a, 10, 64)
		last, err2 := strconv.ParseUint(b, 10, 64)
		if err1 != nil || err2 != nil || last < first {
			return bad("not two ascending numbers")
		}
		r = Range{Start: first, Count: last - first + 1}
	} else if a, b, ok := strings.Cut(s, "+"); ok {
		start, err1 := strconv.ParseUint(a, 10, 64)
		count, err2 := strconv.ParseUint(b, 10, 64)
		if err1 != nil || err2 != nil || count == 0 {
			return bad("not a start and a positive count")
		}
		r = Range{Start: start, Count: count}
	} else {
		return bad("no - or +")
	}
	if r.Start < Size || r.End()-1 > MaxID {
		return bad(fmt.Sprintf("must lie within %d..%d (below are the host's own users)", Size, uint64(MaxID)))
	}
	if alignUp(r.Start)+Size > r.End() {
		return bad(fmt.Sprintf("holds no %d IDs starting at a multiple of %d", Size, Size))
	}
	return r, nil
}

func alignUp(v uint64) uint64 { return (v + Size - 1) / Size * Size }

// Allocate returns the lowest base in pool, a multiple of Size, whose
// range overlaps nothing in used. The same base serves as local_uid and
// local_gid, so used holds UID and GID ranges alike. A full pool is "not
// enough resources" (vzctl's exit 6).
func Allocate(pool Range, used []Used) (uint64, error) {
	sorted := slices.Clone(used)
	slices.SortFunc(sorted, func(a, b Used) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	base := alignUp(pool.Start)
	for _, u := range sorted {
		if base+Size > pool.End() {
			break
		}
		if u.Count == 0 || u.End() <= base {
			continue
		}
		if u.Start >= base+Size {
			break
		}
		base = alignUp(u.End())
	}
	if base+Size > pool.End() {
		return 0, fmt.Errorf("no free range of %d IDs left in the id pool %s (%d in use): %w", Size, pool, len(used), ErrExhausted)
	}
	return base, nil
}

// Conflict returns the first entry of used that overlaps r.
func Conflict(r Range, used []Used) (Used, bool) {
	for _, u := range used {
		if r.Overlaps(u.Range) {
			return u, true
		}
	}
	return Used{}, false
}

// ParseSubID reads /etc/subuid or /etc/subgid ("name:start:count" per
// line, shadow-utils' subuid(5)); source names the file in Owner. Lines
// that are not of that form are returned as bad so the caller can say so;
// the good ones still count.
func ParseSubID(data []byte, source string) (used []Used, bad []string) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 {
			bad = append(bad, line)
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil {
			bad = append(bad, line)
			continue
		}
		used = append(used, Used{Range{Start: start, Count: count}, source + ": " + f[0]})
	}
	return used, bad
}
