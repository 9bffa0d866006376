package main

import (
	"slices"
	"testing"
)

func TestStParseBtrfsUsed(t *testing.T) {
	// btrfs-progs 6.2, `btrfs filesystem usage -b`, trimmed.
	out := `Overall:
    Device size:		        2147483648
    Device allocated:		         239861760
    Used:			            294912
    Free (estimated):		        1916010496	(min: 962199552)
    Global reserve:		           5767168	(used: 0)

Data,single: Size:8388608, Used:0 (0.00%)
   /dev/loop0	   8388608

Metadata,DUP: Size:107347968, Used:131072 (0.12%)
`
	got, err := stParseBtrfsUsed(out)
	if err != nil || got != 294912 {
		t.Fatalf("got %d, %v; want 294912", got, err)
	}
	for _, bad := range []string{"", "Overall:\n    Device size: 1\n", "    Used:\t\tlots\n"} {
		if v, err := stParseBtrfsUsed(bad); err == nil {
			t.Errorf("%q: got %d, want an error", bad, v)
		}
	}
}

func TestStBatchFits(t *testing.T) {
	for _, c := range []struct {
		want        int
		perCT, room int64
		fit         int
	}{
		{100, 0, 0, 100},             // nothing measurable per container
		{100, 1 << 20, 1 << 30, 100}, // fits
		{100, 200 << 20, 10 << 30, 51},
		{100, 200 << 20, 100 << 20, 1}, // not even one: one anyway
		{10, 200 << 20, -5, 1},
	} {
		if got := stBatchFits(c.want, c.perCT, c.room); got != c.fit {
			t.Errorf("stBatchFits(%d, %d, %d) = %d, want %d", c.want, c.perCT, c.room, got, c.fit)
		}
	}
}

func TestStCreateArgs(t *testing.T) {
	f := &stFS{fstype: "btrfs", mnt: "/w/btrfs"}
	img := (&stCase{"image on btrfs", "image", f}).createArgs("1002", "debian-12-x86_64")
	want := []string{"--quiet", "create", "1002", "--ostemplate", "debian-12-x86_64",
		"--private", "/w/btrfs/private/1002", "--layout", "image", "--diskspace", stDiskspace}
	if !slices.Equal(img, want) {
		t.Errorf("image: %q, want %q", img, want)
	}
	dir := (&stCase{"dir", "dir", f}).createArgs("7", "t")
	if slices.Contains(dir, "--diskspace") {
		t.Errorf("dir gets no disk limit: %q", dir)
	}
}
