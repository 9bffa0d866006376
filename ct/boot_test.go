package ct

import (
	"slices"
	"testing"
)

func TestBootOrder(t *testing.T) {
	yes, no := true, false
	i := func(v int) *int { return &v }
	cands := []bootCandidate{
		{ID: 101, OnBoot: &yes, BootOrder: i(10)},
		{ID: 102, OnBoot: &yes, BootOrder: i(30)},
		{ID: 103, WasRunning: true},              // onboot unset, was running
		{ID: 104},                                // onboot unset, stopped by the admin
		{ID: 105, OnBoot: &no, WasRunning: true}, // onboot = no wins over the mark
		{ID: 106, OnBoot: &yes},                  // no bootorder: last
		{ID: 107, OnBoot: &yes, BootOrder: i(99), Disabled: true},
		{ID: 100, OnBoot: &yes, BootOrder: i(10)},    // tie: by CTID
		{ID: 108, WasRunning: true, BootOrder: i(0)}, // 0 is an order: before unset
	}
	var got []int
	for _, c := range bootOrder(cands) {
		got = append(got, c.ID)
	}
	if want := []int{102, 100, 101, 108, 103, 106}; !slices.Equal(got, want) {
		t.Fatalf("boot order %v, want %v", got, want)
	}
}
