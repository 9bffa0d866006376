package checkpoint

import (
	"strings"
	"testing"
)

// Debian 12's units as shipped (systemd 252), abridged.
const (
	logindUnit = `[Unit]
Description=User Login Management

[Service]
ExecStart=/lib/systemd/systemd-logind
PrivateTmp=yes
ProtectHostname=yes
ProtectSystem=strict
ReadWritePaths=/etc /run
`
	hostnamedUnit = `[Service]
ExecStart=/lib/systemd/systemd-hostnamed
PrivateNetwork=yes
PrivateTmp=yes
`
)

func TestSystemdDropIns(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sources []string
		want    []string // the [Service] lines; none: no drop-in
	}{
		{"logind", []string{logindUnit}, []string{"ProtectHostname=no"}},
		// Mount and network namespaces CRIU saves: left alone.
		{"hostnamed", []string{hostnamedUnit}, nil},
		{"no sandboxing", []string{"[Service]\nExecStart=/bin/true\n"}, nil},
		{"every kind", []string{"[Service]\nProtectHostname=private\nPrivateIPC=true\nPrivateUsers=self\nPrivatePIDs=1\n"},
			[]string{"ProtectHostname=no", "PrivateIPC=no", "PrivateUsers=no", "PrivatePIDs=no"}},
		{"joined ipc namespace", []string{"[Service]\nIPCNamespacePath=/run/x/ipc\n"}, []string{"IPCNamespacePath="}},
		// The admin's (or the distribution's) drop-in already turned
		// it off; an empty assignment resets to the default (off).
		{"turned off by a drop-in", []string{logindUnit, "[Service]\nProtectHostname=no\n"}, nil},
		{"reset by a drop-in", []string{logindUnit, "[Service]\nProtectHostname=\n"}, nil},
		{"turned on by a drop-in", []string{hostnamedUnit, "[Service]\nPrivateIPC=yes\n"}, []string{"PrivateIPC=no"}},
		{"later assignment wins", []string{"[Service]\nPrivateIPC=yes\nPrivateIPC=no\n"}, nil},
		// Only [Service] counts; comments are not settings.
		{"other section", []string{"[Unit]\nProtectHostname=yes\n[Install]\nPrivateIPC=yes\n"}, nil},
		{"comment", []string{"[Service]\n#ProtectHostname=yes\n; PrivateIPC=yes\n"}, nil},
		{"continued line", []string{"[Service]\nExecStart=/bin/sh -c \\\n  true\nProtectHostname= yes\n"}, []string{"ProtectHostname=no"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := Unit{Name: "x.service"}
			for _, s := range tc.sources {
				u.Sources = append(u.Sources, []byte(s))
			}
			got := SystemdDropIns([]Unit{u})
			if tc.want == nil {
				if len(got) != 0 {
					t.Fatalf("want no drop-in, got %s", got[0].Content)
				}
				return
			}
			if len(got) != 1 || got[0].Path != "/etc/systemd/system/x.service.d/govz-checkpoint.conf" {
				t.Fatalf("drop-ins %+v", got)
			}
			c := string(got[0].Content)
			_, body, ok := strings.Cut(c, "\n[Service]\n")
			if !ok || strings.TrimSpace(body) != strings.Join(tc.want, "\n") {
				t.Fatalf("drop-in:\n%s\nwant [Service] %q", c, tc.want)
			}
			// It says why, and is recognised as govz's.
			if !strings.Contains(c, "CRIU cannot save") || !IsOwnDropIn(got[0].Content) {
				t.Fatalf("drop-in without its reason:\n%s", c)
			}
			for _, l := range strings.Split(strings.TrimSpace(c), "\n") {
				if !strings.HasPrefix(l, "#") && l != "[Service]" && !strings.Contains(l, "=") {
					t.Fatalf("not a unit file line: %q", l)
				}
			}
		})
	}
	if IsOwnDropIn([]byte("[Service]\nProtectHostname=yes\n")) {
		t.Fatal("an admin's file taken for govz's")
	}
}

func TestUnitOf(t *testing.T) {
	const root = "/system.slice/govz.service/101/ct"
	for _, tc := range []struct{ cgroup, want string }{
		{root + "/system.slice/systemd-logind.service", "systemd-logind.service"},
		{root + "/init.scope", "init.scope"},
		// A delegated service's sub-cgroups are its own.
		{root + "/user.slice/user-0.slice/user@0.service/init.scope", "user@0.service"},
		{root + "/user.slice/user-0.slice/session-1.scope", "session-1.scope"},
		// busybox: no units; the host's units above the root do not count.
		{root, ""},
		{"/system.slice/other.service", ""},
		{root + "x/a.service", ""},
	} {
		if got := unitOf(tc.cgroup, root); got != tc.want {
			t.Errorf("unitOf(%q) = %q, want %q", tc.cgroup, got, tc.want)
		}
	}
	if got := unitOf(root+"/a.service", ""); got != "" {
		t.Errorf("without a root: %q", got)
	}
	hybrid := "12:pids:/p/101/ct/system.slice/a.service\n9:name=systemd:/p/101/ct/system.slice/b.service\n0::/p/101/ct/system.slice/c.service\n"
	if got := systemdCgroup(hybrid); got != "/p/101/ct/system.slice/b.service" {
		t.Errorf("v1 hybrid: %q", got)
	}
	if got := systemdCgroup("0::/p/101/ct/init.scope\n"); got != "/p/101/ct/init.scope" {
		t.Errorf("v2: %q", got)
	}
}
