package migrate

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// session runs script as the switch's session would run on the
// destination, with its output read as startSwitch reads it.
func session(t *testing.T, script string) *pendingSwitch {
	t.Helper()
	p := &pendingSwitch{m: &migration{id: 101, o: Options{Dest: "dst"}}, cmd: exec.Command("sh", "-c", script),
		ready: make(chan struct{}), done: make(chan struct{})}
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go p.read(r)
	return p
}

// The freeze waits for the destination's RestoreReady line, which is
// not part of what the session said; go then gets the restore's status.
func TestSwitchReady(t *testing.T) {
	p := session(t, `echo checking; echo '`+RestoreReady+`'; read -r go; [ "$go" = go ] && echo restored`)
	if err := p.waitReady(); err != nil {
		t.Fatalf("waitReady: %v", err)
	}
	code, out := p.commit()
	if code != 0 || out != "checking\nrestored" {
		t.Fatalf("commit: %d %q", code, out)
	}
}

// A destination that refuses before it is ready (its checks failed)
// stops the migration before the freeze, with its words and exit code.
func TestSwitchRefusedBeforeReady(t *testing.T) {
	p := session(t, `echo "Container 101: ip address 10.0.0.1 is in use by container 7" >&2; exit 12`)
	err := p.waitReady()
	var me *Error
	if !errors.As(err, &me) || me.Code != ExitDestStart || !strings.Contains(err.Error(), "in use by container 7") {
		t.Fatalf("waitReady: %v", err)
	}
	p.abort()
}
