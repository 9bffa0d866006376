package image

import (
	"strings"
	"testing"
)

type calls [][2]int64

func (c *calls) hook(done, total int64) { *c = append(*c, [2]int64{done, total}) }

// e2fsck -C lines become one bar over the five passes, weighted as
// e2fsck's own; junk lines are skipped.
func TestReadFsckProgress(t *testing.T) {
	var got calls
	readFsckProgress(strings.NewReader("1 0 100 /img\n1 50 100 /img\nnoise\n2 10 10 /img\n9 1 2 /img\n5 1 2 /img\n"), got.hook)
	want := calls{{0, 1000}, {350, 1000}, {900, 1000}, {975, 1000}, {1000, 1000}}
	if len(got) != len(want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("calls %v, want %v", got, want)
		}
	}
}

// resize2fs -p's X's count within each pass, from 0 at every "Begin pass".
func TestReadResizeProgress(t *testing.T) {
	var got calls
	out := "resize2fs 1.47.0 (5-Feb-2023)\nResizing the filesystem on /img to 100 (4k) blocks.\n" +
		"Begin pass 1 (max = 3)\nExtending the inode table     XXXXXXXXXX" + strings.Repeat("X", 30) + "\n" +
		"Begin pass 3 (max = 9)\nScanning inode table          XX\nThe filesystem on /img is now 100 (4k) blocks long.\n"
	readResizeProgress(strings.NewReader(out), got.hook)
	if len(got) != 1+40+1+2 || got[0] != [2]int64{0, 40} || got[40] != [2]int64{40, 40} || got[41] != [2]int64{0, 40} || got[43] != [2]int64{2, 40} {
		t.Fatalf("calls %v", got)
	}
}
