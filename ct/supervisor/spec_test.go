package supervisor

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"govz/ct/rootfs"
	"govz/ct/vzerror"
	"govz/internal/exitcode"
)

func TestContainerUUID(t *testing.T) {
	u := ContainerUUID("101")
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(u) {
		t.Errorf("ContainerUUID(101) = %s: not a version 5 UUID", u)
	}
	if ContainerUUID("101") != u || ContainerUUID("102") == u {
		t.Error("not stable per id, or not distinct between ids")
	}
}

func TestInitEnv(t *testing.T) {
	s := &Spec{ID: "7", Env: []string{"TERM=xterm", "LANG=C.UTF-8"}}
	env := strings.Join(initEnv(s, true), "\n") + "\n"
	for _, want := range []string{"container=govz\n", "container_uuid=" + ContainerUUID("7") + "\n", "NOTIFY_SOCKET=/run/host/notify\n", "TERM=xterm\n", "LANG=C.UTF-8\n", "HOME=/\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %q:\n%s", want, env)
		}
	}
	if strings.Count(env, "TERM=") != 1 {
		t.Errorf("TERM twice:\n%s", env)
	}
	if strings.Contains(strings.Join(initEnv(s, false), "\n"), "NOTIFY_SOCKET") {
		t.Error("NOTIFY_SOCKET without a notify socket")
	}
}

func TestSpecValidate(t *testing.T) {
	ok := func() *Spec { return &Spec{ID: "101", Rootfs: "/vz/root/101", RunDir: "/vz/run/101"} }
	s := ok()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Init[0] != "/sbin/init" || s.CgroupParent != "govz" || s.StopTimeout != DefaultStopTimeout {
		t.Errorf("defaults: %+v", s)
	}
	bad := map[string]func(*Spec){
		"relative root":  func(s *Spec) { s.Rootfs = "root/101" },
		"id with slash":  func(s *Spec) { s.ID = "1/2" },
		"relative init":  func(s *Spec) { s.Init = []string{"init"} },
		"long run dir":   func(s *Spec) { s.RunDir = "/" + strings.Repeat("x", 120) },
		"uid map only":   func(s *Spec) { s.UIDMappings = []IDMap{{0, 100000, 65536}} },
		"bad capability": func(s *Spec) { s.Capabilities = []string{"sys_flying:on"} },
		"bad env":        func(s *Spec) { s.Env = []string{"NOVALUE"} },
		"long hostname":  func(s *Spec) { s.Hostname = strings.Repeat("h", 65) },
		"bad device":     func(s *Spec) { s.DevNodes = []rootfs.DevNode{{Path: "../x", Type: 'c'}} },
		"empty id":       func(s *Spec) { s.ID = "" },
	}
	for name, f := range bad {
		s := ok()
		f(s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s accepted", name)
		} else if exitcode.Of(err) == 3 && !errors.Is(err, vzerror.ErrSystem) {
			t.Errorf("%s: %v has no vzctl code", name, err)
		}
	}
}
