package idmap

import (
	"errors"
	"testing"
)

func TestParsePool(t *testing.T) {
	for in, want := range map[string]Range{
		"100000-1000000000": {100000, 1000000000 - 100000 + 1},
		"131072+65536":      {131072, 65536},
		DefaultPool:         {0x70000000, 0x7FFE0000 - 0x70000000},
		"65536-4294967294":  {65536, 4294967294 - 65536 + 1},
	} {
		got, err := ParsePool(in)
		if err != nil || got != want {
			t.Errorf("ParsePool(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "100000", "x-y", "200000-100000", "1000-200000", "100000+0",
		"100000-4294967295", "131073-196608", "131072+65535", "-5-10", "100000:65536"} {
		if r, err := ParsePool(in); !errors.Is(err, ErrBadPool) {
			t.Errorf("ParsePool(%q) = %v, %v; want exit 21", in, r, err)
		}
	}
}

func TestAllocate(t *testing.T) {
	pool := Range{Start: 100000, Count: 10 * Size} // aligned bases 131072 .. 655360
	u := func(start, count uint64) Used { return Used{Range{start, count}, "x"} }
	for name, c := range map[string]struct {
		used []Used
		want uint64
	}{
		"empty pool: first aligned base":  {nil, 131072},
		"lowest gap, unsorted input":      {[]Used{u(262144, Size), u(131072, Size)}, 196608},
		"a hole too small is skipped":     {[]Used{u(131072, Size), u(262144, Size), u(200000, 10)}, 327680},
		"unaligned neighbour":             {[]Used{u(131072, Size+1)}, 262144},
		"one big range covers several":    {[]Used{u(0, 400000), u(131072, Size)}, 458752},
		"ranges outside the pool ignored": {[]Used{u(65536, Size), u(2000000, Size)}, 131072},
		"empty entries ignored":           {[]Used{u(131072, 0)}, 131072},
	} {
		got, err := Allocate(pool, c.used)
		if err != nil || got != c.want {
			t.Errorf("%s: Allocate = %d, %v; want %d", name, got, err, c.want)
		}
		if err == nil {
			if o, bad := Conflict(Of(got), c.used); bad {
				t.Errorf("%s: %d overlaps %v", name, got, o)
			}
		}
	}
	// Fill the pool one by one: every base distinct, then exhausted.
	var used []Used
	seen := map[uint64]bool{}
	for range 9 {
		b, err := Allocate(pool, used)
		if err != nil {
			t.Fatalf("after %d: %v", len(used), err)
		}
		if seen[b] || b%Size != 0 || b+Size > pool.End() {
			t.Fatalf("base %d: duplicate, unaligned or outside the pool", b)
		}
		seen[b] = true
		used = append(used, Used{Of(b), "ct"})
	}
	if b, err := Allocate(pool, used); !errors.Is(err, ErrExhausted) {
		t.Fatalf("exhausted pool: %d, %v; want ErrResource", b, err)
	}
}

func TestConflict(t *testing.T) {
	used := []Used{{Range{131072, Size}, "container 101"}, {Range{100000, 65536}, "/etc/subuid: alice"}}
	if o, bad := Conflict(Of(196608), used); bad {
		t.Errorf("adjacent range reported as overlapping %v", o)
	}
	if o, bad := Conflict(Range{196607, 2}, used); !bad || o.Owner != "container 101" {
		t.Errorf("last ID shared: %v %v", o, bad)
	}
	if o, bad := Conflict(Of(65536), used); !bad || o.Owner != "/etc/subuid: alice" {
		t.Errorf("subuid overlap: %v %v", o, bad)
	}
}

func TestParseSubID(t *testing.T) {
	used, bad := ParseSubID([]byte("alice:100000:65536\n\n# comment\nbob:165536:65536\nbroken\ncarol:x:1\n"), "/etc/subuid")
	if len(used) != 2 || used[0] != (Used{Range{100000, 65536}, "/etc/subuid: alice"}) || used[1].Start != 165536 {
		t.Errorf("used %v", used)
	}
	if len(bad) != 2 {
		t.Errorf("bad lines %v", bad)
	}
}
