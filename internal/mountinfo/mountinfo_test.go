package mountinfo

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := Parse(string(b))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{22, 1, "8:1", "/", "/", []string{"rw", "relatime"}, []string{"shared:1"}, "ext4", "/dev/sda1", []string{"rw", "errors=remount-ro"}},
		{25, 22, "0:22", "/", "/dev/pts", []string{"rw", "nosuid", "noexec", "relatime"}, []string{"shared:2", "master:1"}, "devpts", "devpts",
			[]string{"rw", "gid=5", "mode=620", "ptmxmode=000"}},
		{40, 22, "0:38", "/", "/sys/fs/cgroup", []string{"rw", "nosuid", "nodev", "noexec", "relatime"}, []string{}, "cgroup2", "cgroup2",
			[]string{"rw", "nsdelegate"}},
		{99, 22, "0:51", "/", "/var/lib/lxcfs", []string{"rw", "nosuid", "nodev", "relatime"}, []string{"shared:5"}, "fuse.lxcfs", "lxcfs",
			[]string{"rw", "user_id=0", "group_id=0"}},
		{101, 22, "8:1", "/srv/my data", "/mnt/with space", []string{"rw"}, []string{}, "ext4", "/dev/sda1", []string{"rw"}},
		{102, 22, "0:60", "/", "/mnt/tab\tand\nnewline", []string{"rw"}, []string{}, "tmpfs", "my tmp", []string{"rw", "size=1024k"}},
		// An escape at the very end of a field counts too.
		{103, 22, "0:61", "/", `/mnt/back\slash `, []string{"rw"}, []string{}, "tmpfs", "none", []string{"rw"}},
		// Backslashes the kernel never writes unescaped stay as they are.
		{104, 22, "0:62", `/a\b`, `/mnt/odd\9`, []string{"rw"}, []string{}, "tmpfs", "none", []string{"rw"}},
	}
	if len(ms) != len(want) {
		t.Fatalf("%d mounts, want %d", len(ms), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(ms[i], want[i]) {
			t.Errorf("line %d:\n got %#v\nwant %#v", i+1, ms[i], want[i])
		}
	}
	if !IsMountPoint(ms, "/mnt/with space") || IsMountPoint(ms, `/mnt/with\040space`) || IsMountPoint(ms, "/mnt") {
		t.Error("IsMountPoint")
	}
	if m, ok := ByID(ms, 25); !ok || m.MountPoint != "/dev/pts" {
		t.Errorf("ByID(25) = %v, %v", m, ok)
	}
	if _, ok := ByID(ms, 7); ok {
		t.Error("ByID found a missing mount")
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		``:                    ``,
		`/plain`:              `/plain`,
		`/a\040b`:             "/a b",
		`\011\012\134\040`:    "\t\n\\ ",
		`/srv/my\040cg\011x\`: "/srv/my cg\tx\\",
		`/x\04`:               `/x\04`,
		`/x\999`:              `/x\999`,
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseMalformed(t *testing.T) {
	for _, bad := range []string{
		"1 2 0:3 / /x rw cgroup cgroup rw,cpu", // no separator
		"1 2 0:3 / /x rw - cgroup",             // truncated
		"x 2 0:3 / /x rw - tmpfs none rw",      // bad id
		"1 y 0:3 / /x rw - tmpfs none rw",      // bad parent
	} {
		if _, err := Parse("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n" + bad + "\n"); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("Parse(%q) = %v, want an error naming line 2", bad, err)
		}
	}
}

// The real table must parse and contain the root.
func TestReadSelf(t *testing.T) {
	ms, err := Read(0)
	if err != nil {
		t.Fatal(err)
	}
	if !IsMountPoint(ms, "/") {
		t.Errorf("/ is not a mount point in %d mounts", len(ms))
	}
}
