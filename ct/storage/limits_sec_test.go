package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"govz/quota/projquota"
)

// quotaugidlimit is kept but nothing enforces it: each layout says so once,
// when it is turned on or changed, never when it stays.
func TestUGIDLimitIsSaidOnce(t *testing.T) {
	dir := t.TempDir()
	log := &testLog{}
	d := &dirLayout{log: log}
	c := CT{ID: 4242, Private: filepath.Join(dir, "private", "4242")}
	os.MkdirAll(filepath.Dir(c.Private), 0o755)
	lim := NoLimits()
	lim.UGIDLimit = 100
	if err := d.Create(c, smallTemplate(t, dir), lim); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		n := 0
		for _, m := range log.msgs {
			if strings.Contains(m, "quotaugidlimit") {
				if !strings.HasPrefix(m, "warn: ") || !strings.Contains(m, "not enforced") {
					t.Errorf("message: %q", m)
				}
				n++
			}
		}
		return n
	}
	if n := count(); n != 1 {
		t.Fatalf("create with quotaugidlimit 100: %d messages: %v", n, log.msgs)
	}
	if err := d.SetLimits(c, lim, lim, false); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("unchanged quotaugidlimit said again: %v", log.msgs)
	}
	lim2 := lim
	lim2.UGIDLimit = 200
	if err := d.SetLimits(c, lim, lim2, false); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("changed quotaugidlimit: %v", log.msgs)
	}
	off := lim2
	off.UGIDLimit = 0
	if err := d.SetLimits(c, lim2, off, false); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("quotaugidlimit 0 (off) warned: %v", log.msgs)
	}
	for _, l := range []Layout{&btrfsLayout{log: log}, &imageLayout{log: log}} {
		noteUGIDLimit(log, l.Name(), NoLimits(), lim)
	}
	if n := count(); n != 4 || !strings.Contains(strings.Join(log.msgs, "\n"), "btrfs has no user or group quota") {
		t.Fatalf("btrfs and image: %v", log.msgs)
	}
}

// The dir layout asks for sys_resource to go exactly where project quota
// limits the container; btrfs and image limits hold without that.
func TestCapDrops(t *testing.T) {
	dir := t.TempDir()
	c := CT{ID: 7, Private: dir}
	drops := (&dirLayout{}).CapDrops(c)
	if projquota.Check(dir) == nil {
		if len(drops) != 1 || drops[0].Name != "sys_resource" {
			t.Fatalf("dir layout with project quota: %v", drops)
		}
	} else if drops != nil {
		t.Fatalf("dir layout without project quota (%v): %v", projquota.Check(dir), drops)
	}
	if d := (&btrfsLayout{}).CapDrops(c); d != nil {
		t.Errorf("btrfs: %v", d)
	}
	if d := (&imageLayout{}).CapDrops(c); d != nil {
		t.Errorf("image: %v", d)
	}
}
