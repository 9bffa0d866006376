package guestuser

import (
	"errors"
	"strings"
	"testing"
)

const (
	passwd = "root:x:0:0:root:/root:/bin/sh\nbin:x:1:1::/bin:/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/sh\n"
	shadow = "root:*:19000:0:99999:7:::\nbin:!:19000::::::\nalice:$6$old$x:19000:0:99999:7:::\n"
	group  = "root:x:0:\nbin:x:1:\nalice:x:1000:\nstaff:x:1001:\n"
)

func TestExistingUser(t *testing.T) {
	out, created, err := SetHash(Files{[]byte(passwd), []byte(shadow), []byte(group)}, "root", "$6$salt$hash", 20000, "/bin/sh")
	if err != nil || created {
		t.Fatal(err, created)
	}
	if want := strings.Replace(shadow, "root:*:19000:", "root:$6$salt$hash:20000:", 1); string(out.Shadow) != want {
		t.Fatalf("shadow:\n%s", out.Shadow)
	}
	if string(out.Passwd) != passwd || string(out.Group) != group {
		t.Fatal("passwd or group changed for an existing user")
	}
}

func TestNewUser(t *testing.T) {
	out, created, err := SetHash(Files{[]byte(passwd), []byte(shadow), []byte(group)}, "bob", "$6$s$h", 20000, "/bin/bash")
	if err != nil || !created {
		t.Fatal(err, created)
	}
	// 1000 is alice's, 1001 the staff group's.
	if !strings.HasSuffix(string(out.Passwd), "\nbob:x:1002:1002::/home/bob:/bin/bash\n") ||
		!strings.HasSuffix(string(out.Group), "\nbob:x:1002:\n") ||
		!strings.HasSuffix(string(out.Shadow), "\nbob:$6$s$h:20000:0:99999:7:::\n") {
		t.Fatalf("files:\n%s\n%s\n%s", out.Passwd, out.Group, out.Shadow)
	}
	// A file without a final newline, and no group file at all.
	out, _, err = SetHash(Files{Passwd: []byte("root:x:0:0::/root:/bin/sh"), Shadow: nil}, "bob", "$6$s$h", 1, "/bin/sh")
	if err != nil || string(out.Passwd) != "root:x:0:0::/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n" || string(out.Group) != "bob:x:1000:\n" {
		t.Fatalf("%v\n%s\n%s", err, out.Passwd, out.Group)
	}
}

func TestHostileValues(t *testing.T) {
	f := Files{[]byte(passwd), []byte(shadow), []byte(group)}
	for _, u := range []string{"", "a:b", "a\nb", "a\x00b", "../etc", "a/b", "-rf", ".hidden", "1abc", strings.Repeat("a", 33), "root\n"} {
		if _, _, err := SetHash(f, u, "$6$s$h", 1, "/bin/sh"); !errors.Is(err, ErrBadUser) {
			t.Errorf("user %q: %v", u, err)
		}
	}
	if _, _, err := SetHash(f, "root", "$6$s$h:0:0", 1, "/bin/sh"); !errors.Is(err, ErrBadFile) {
		t.Errorf("hash with a colon: %v", err)
	}
	if _, _, err := SetHash(Files{[]byte(passwd), []byte("root:x\x00:1\n"), nil}, "root", "$6$s$h", 1, "/bin/sh"); !errors.Is(err, ErrBadFile) {
		t.Errorf("NUL in shadow: %v", err)
	}
}
