package supervisor

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"govz/ct/vzerror"
)

func TestSpecFileRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	s := &Spec{ID: "7", Rootfs: "/r", RunDir: dir, Hostname: "h",
		Prestart: []Step{{Name: "a", Data: json.RawMessage(`{"x":1}`)}},
		Poststop: []Step{{Name: "b"}}}
	if err := WriteSpec(dir, s); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, SpecName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("spec file: %v %v", st, err)
	}
	got, err := ReadSpec(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("read back %+v, want %+v", got, s)
	}
	// A run directory others may write to could hand root a spec.
	os.Chmod(dir, 0o777)
	if _, err := ReadSpec(dir); !errors.Is(err, vzerror.ErrSystem) {
		t.Errorf("world-writable run directory: %v", err)
	}
	if err := WriteSpec(dir, s); err == nil {
		t.Errorf("WriteSpec into a world-writable run directory: no error")
	}
}

func TestBindRunsStepsInOrder(t *testing.T) {
	var ran []string
	ex := Executors{
		"a": {Prestart: func(d json.RawMessage, pid int) error { ran = append(ran, "pre-a "+string(d)); return nil },
			Poststop: func(d json.RawMessage, reboot bool) { ran = append(ran, "post-a") }},
		"b": {Prestart: func(d json.RawMessage, pid int) error { return errors.New("no") }},
	}
	s := &Spec{ID: "7", Prestart: []Step{{Name: "a", Data: json.RawMessage(`1`)}, {Name: "b"}, {Name: "a"}},
		Poststop: []Step{{Name: "a"}}}
	if err := s.bind(ex); err != nil {
		t.Fatal(err)
	}
	if err := s.Hooks.Prestart(1); err == nil || err.Error() != "b: no" {
		t.Errorf("prestart error %v, want the failing step's", err)
	}
	s.Hooks.Poststop(false)
	if want := []string{"pre-a 1", "post-a"}; !reflect.DeepEqual(ran, want) {
		t.Errorf("ran %q, want %q (steps after a failure do not run)", ran, want)
	}
	bad := &Spec{ID: "7", Poststop: []Step{{Name: "b"}}}
	if err := bad.bind(ex); !errors.Is(err, vzerror.ErrInvalidValue) {
		t.Errorf("poststop step without an executor: %v", err)
	}
}
