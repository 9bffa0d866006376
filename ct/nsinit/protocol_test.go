package nsinit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"

	"govz/conf"
	"govz/ct/cgroup"
	"govz/ct/vzerror"
)

func TestRemoteErrorKeepsSentinel(t *testing.T) {
	orig := fmt.Errorf("init /sbin/init: no such file: %w", vzerror.ErrBadTemplate)
	wrapped := fmt.Errorf("container 101: %w", roundTrip(t, orig))
	if !errors.Is(wrapped, vzerror.ErrBadTemplate) {
		t.Errorf("%v: lost ErrBadTemplate", wrapped)
	}
	if errors.Is(wrapped, vzerror.ErrMount) || errors.Is(wrapped, vzerror.ErrSystem) || errors.Is(wrapped, io.EOF) {
		t.Error("matches a sentinel it does not carry")
	}
	if wrapped.Error() != "container 101: "+orig.Error() {
		t.Errorf("message %q", wrapped)
	}
	// A plain error carries nothing but its text.
	if plain := roundTrip(t, errors.New("boom")); len(plain.Unwrap()) != 0 || plain.Error() != "boom" {
		t.Errorf("plain error: %#v", plain)
	}
	// An exact status with no sentinel survives too.
	var ee *vzerror.ExitError
	exit := roundTrip(t, &vzerror.ExitError{Status: 200, Err: errors.New("cmd")})
	if !errors.As(fmt.Errorf("x: %w", exit), &ee) || ee.Status != 200 {
		t.Errorf("exit status lost: %#v", exit)
	}
	// Every sentinel of every package, in the order the chain had them,
	// also after a second hop (child -> supervisor -> vzctl).
	multi := fmt.Errorf("stop: %w: %w", vzerror.ErrStop, fmt.Errorf("cgroup: %w: %w", cgroup.ErrKillTimeout, conf.ErrBadValue))
	back := roundTrip(t, fmt.Errorf("hop: %w", roundTrip(t, multi)))
	got := back.Unwrap()
	want := []error{vzerror.ErrStop, cgroup.ErrKillTimeout, conf.ErrBadValue}
	if len(got) != len(want) {
		t.Fatalf("chain %v, want %v", back.Chain, want)
	}
	for i := range want {
		if !errors.Is(got[i], want[i]) {
			t.Errorf("chain[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	// A name from another version is dropped, not matched to anything.
	if u := (&RemoteError{Msg: "x", Chain: []string{"vzerror: no such class"}}).Unwrap(); len(u) != 0 {
		t.Errorf("unknown name gave %v", u)
	}
}

// The names on the wire are unique: two sentinels with one name would
// come back as the wrong one.
func TestWireNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, w := range wireSentinels() {
		if seen[w.name] {
			t.Errorf("wire name %q twice", w.name)
		}
		seen[w.name] = true
	}
}

func roundTrip(t *testing.T, err error) *RemoteError {
	t.Helper()
	b, merr := json.Marshal(&message{Type: msgError, Error: NewRemoteError(err)})
	if merr != nil {
		t.Fatal(merr)
	}
	m, derr := decode(b)
	if derr != nil {
		t.Fatal(derr)
	}
	return m.Error
}

func TestGuestKind(t *testing.T) {
	for p, want := range map[string]string{
		"/lib/systemd/systemd": KindSystemd, "/usr/lib/systemd/systemd": KindSystemd,
		"/bin/busybox": KindBusybox, "/sbin/init": KindOther, "/usr/sbin/openrc-init": KindOther,
	} {
		if got := guestKind(p); got != want {
			t.Errorf("guestKind(%s) = %s, want %s", p, got, want)
		}
	}
}
