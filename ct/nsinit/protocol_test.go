package nsinit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"

	"govz/ct/vzerror"
)

func TestRemoteErrorKeepsSentinel(t *testing.T) {
	orig := fmt.Errorf("init /sbin/init: no such file: %w", vzerror.ErrBadTemplate)
	// Across the wire and back.
	b, err := json.Marshal(&message{Type: msgError, Error: NewRemoteError(orig)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := decode(b)
	if err != nil {
		t.Fatal(err)
	}
	wrapped := fmt.Errorf("container 101: %w", m.Error)
	if !errors.Is(wrapped, vzerror.ErrBadTemplate) || vzerror.Code(wrapped) != 47 {
		t.Errorf("%v: code %d", wrapped, vzerror.Code(wrapped))
	}
	if errors.Is(wrapped, vzerror.ErrMount) || errors.Is(wrapped, vzerror.ErrSystem) || errors.Is(wrapped, io.EOF) {
		t.Error("matches a sentinel it does not carry")
	}
	if wrapped.Error() != "container 101: "+orig.Error() {
		t.Errorf("message %q", wrapped)
	}
	// A plain error is a system error (3), and matches only ErrSystem.
	plain := NewRemoteError(errors.New("boom"))
	if !errors.Is(plain, vzerror.ErrSystem) || errors.Is(plain, io.EOF) || vzerror.Code(plain) != 3 {
		t.Errorf("plain error: code %d", vzerror.Code(plain))
	}
	// An exact status with no sentinel survives too.
	exit := NewRemoteError(&vzerror.ExitError{Status: 200, Err: errors.New("cmd")})
	if vzerror.Code(fmt.Errorf("x: %w", exit)) != 200 {
		t.Errorf("exit status lost: %d", vzerror.Code(exit))
	}
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
