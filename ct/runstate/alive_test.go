package runstate

import (
	"slices"
	"testing"
)

func TestFlockHolders(t *testing.T) {
	locks := []byte(`1: FLOCK  ADVISORY  WRITE 13940 fe:00:9979490 0 EOF
1: -> FLOCK  ADVISORY  WRITE 13999 fe:00:9979490 0 EOF
2: POSIX  ADVISORY  WRITE 500 fe:00:9979490 0 EOF
3: FLOCK  ADVISORY  WRITE 777 00:2f:19979490 0 EOF
4: FLOCK  ADVISORY  WRITE 778 00:2f:9979490 0 EOF
`)
	got := flockHolders(locks, 9979490)
	if want := []int{13940, 778}; !slices.Equal(got, want) {
		t.Fatalf("holders %v, want %v", got, want)
	}
	if got := flockHolders(locks, 1); len(got) != 0 {
		t.Fatalf("holders of an unlocked inode: %v", got)
	}
}
