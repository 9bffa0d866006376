package ct

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"govz/internal/inroot"
)

// A guest tree shaped like Debian's (merged /usr, units in /usr/lib,
// enablement and overrides in /etc) gets drop-ins for exactly the units
// whose effective settings make namespaces CRIU cannot save.
func TestCheckpointDropIns(t *testing.T) {
	root := t.TempDir()
	write := func(p, content string) {
		t.Helper()
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, p string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	lib := "usr/lib/systemd/system/"
	write(lib+"logind.service", "[Service]\nProtectHostname=yes\nPrivateTmp=yes\n")
	write(lib+"plain.service", "[Service]\nExecStart=/bin/true\n")
	write(lib+"masked.service", "[Service]\nPrivateIPC=yes\n")
	write(lib+"overridden.service", "[Service]\nPrivateIPC=yes\n")
	write(lib+"ipc@.service", "[Service]\nPrivateIPC=yes\n")
	write(lib+"admins.service", "[Service]\nProtectHostname=yes\n")
	write(lib+"etconly.service", "[Service]\nPrivateUsers=yes\n")
	// /lib is /usr/lib: the same files seen twice count once.
	link("usr/lib", "lib")
	etc := "etc/systemd/system/"
	write(etc+"multi-user.target.wants/.keep", "")
	link("/dev/null", etc+"masked.service")
	link("/usr/lib/systemd/system/logind.service", etc+"dbus-org.freedesktop.login1.service")
	write(etc+"overridden.service.d/local.conf", "[Service]\nPrivateIPC=no\n")
	// The admin's file at our path (no marker) stays as it is.
	write(etc+"admins.service.d/govz-checkpoint.conf", "[Service]\n# mine\n")
	// A unit file in /etc replaces the one in /usr/lib.
	write(etc+"etconly.service", "[Service]\nExecStart=/bin/true\n")

	r, err := inroot.Open(root, inroot.SameMount)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := checkpointDropIns(r); err != nil {
		t.Fatal(err)
	}
	got, _ := filepath.Glob(filepath.Join(root, etc, "*.d/govz-checkpoint.conf"))
	var units []string
	for _, p := range got {
		units = append(units, strings.TrimSuffix(filepath.Base(filepath.Dir(p)), ".d"))
	}
	if want := []string{"admins.service", "ipc@.service", "logind.service"}; !slices.Equal(units, want) {
		t.Fatalf("drop-ins for %v, want %v", units, want)
	}
	b, _ := os.ReadFile(filepath.Join(root, etc, "logind.service.d/govz-checkpoint.conf"))
	if !strings.HasSuffix(string(b), "[Service]\nProtectHostname=no\n") {
		t.Fatalf("logind drop-in:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(root, etc, "admins.service.d/govz-checkpoint.conf")); string(b) != "[Service]\n# mine\n" {
		t.Fatalf("the admin's file was changed:\n%s", b)
	}
	// Again (a template made from such a container): ours are rewritten
	// the same, nothing else appears.
	if err := checkpointDropIns(r); err != nil {
		t.Fatal(err)
	}
	if again, _ := filepath.Glob(filepath.Join(root, etc, "*.d/govz-checkpoint.conf")); !slices.Equal(again, got) {
		t.Fatalf("second run: %v, first %v", again, got)
	}
}
