package recovery

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"govz/conf"
	"govz/ct/inventory"
	"govz/ct/lock"
	"govz/ct/vzlog"
)

func TestRecordRoundTrip(t *testing.T) {
	op, p, r := ParseRecord(Record("create", "/vz/private/1 x", `/vz/root/"1"`))
	if op != "create" || p != "/vz/private/1 x" || r != `/vz/root/"1"` {
		t.Fatalf("ParseRecord = %q %q %q", op, p, r)
	}
	if _, p, _ := ParseRecord(ImportRecord("/a", "/b", "/c")); p != "/a" {
		t.Fatalf("import record: %q", p)
	}
	for _, rec := range []string{"start", `create "relative" "/r"`, `create "/p"`} {
		if _, p, r := ParseRecord(rec); p != "" || r != "" {
			t.Errorf("ParseRecord(%q) = %q %q, want no paths", rec, p, r)
		}
	}
}

// A lock a holder died in the middle of a create with leaves a private
// area no config owns: the next Lock removes it, with its name link,
// and holds the lock.
func TestLockRecoversDeadCreate(t *testing.T) {
	root := t.TempDir()
	inv := &inventory.Node{Paths: conf.Paths{Root: root}, Global: &conf.Config{}, Log: &vzlog.Logger{Quiet: true}}
	private, mnt := filepath.Join(root, "private/7"), filepath.Join(root, "root/7")
	for _, d := range []string{private + "/etc", mnt, inv.Paths.NamesDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../7.toml", filepath.Join(inv.Paths.NamesDir(), "web")); err != nil {
		t.Fatal(err)
	}
	// A holder that records the create and dies: its record stays in
	// the file (a real death drops the flock; Release would remove it).
	l, err := lock.Acquire(inv.LockDir(), 7, "create")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Update(Record("create", private, mnt)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(inv.LockDir(), "7.lck"))
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
	if err := os.WriteFile(filepath.Join(inv.LockDir(), "7.lck"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err = LockUntil(inv, 7, "ifup", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	for _, p := range []string{private, mnt, filepath.Join(inv.Paths.NamesDir(), "web")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after recovery (%v)", p, err)
		}
	}
}
