package rootfs

import (
	"strings"
	"testing"
)

func TestTmpfsSizes(t *testing.T) {
	for _, c := range []struct {
		ram      int64
		shm, run string
	}{
		{0, "", ""},
		{64 << 20, "32768k", "13107k"},
		{1 << 30, "524288k", "209715k"},
		{2 << 20, "1024k", "1024k"}, // floors at 1 MiB
	} {
		shm, run := TmpfsSizes(c.ram)
		if shm != c.shm || run != c.run {
			t.Errorf("TmpfsSizes(%d) = %q, %q; want %q, %q", c.ram, shm, run, c.shm, c.run)
		}
	}
	steps, err := Plan(Config{ShmSize: "32768k", RunSize: "13107k", ConsoleFD: -1, NotifyFD: -1, ReadyFD: -1})
	if err != nil {
		t.Fatal(err)
	}
	var shm, run string
	for _, s := range steps {
		switch {
		case s.Op == OpMount && s.Path == "/dev/shm":
			shm = s.Data
		case s.Op == OpMount && s.Path == "/run":
			run = s.Data
		}
	}
	if !strings.Contains(shm, "size=32768k") || !strings.Contains(run, "size=13107k") {
		t.Fatalf("plan: /dev/shm %q, /run %q", shm, run)
	}
}
