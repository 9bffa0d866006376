package supervisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"govz/internal/reexec"
)

// TestIdleContractNames keeps idle.h (and idle.c) and idle_contract.go in
// step: verb, modes, variables, the hand-off's fields in order, and the
// wake reasons.
func TestIdleContractNames(t *testing.T) {
	hb, err := os.ReadFile("idle.h")
	if err != nil {
		t.Fatal(err)
	}
	h := string(hb)
	defines := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^#define (\w+) "([^"]*)"`).FindAllStringSubmatch(h, -1) {
		defines[m[1]] = m[2]
	}
	for name, want := range map[string]string{
		"IDLE_VERB": reexec.Supervisor, "IDLE_MODE": modeIdle, "MONITOR_MODE": modeMonitor,
		"IDLE_ENV": idleEnv, "WAKE_ENV": wakeEnv,
	} {
		if defines[name] != want {
			t.Errorf("idle.h %s = %q, Go has %q", name, defines[name], want)
		}
		delete(defines, name)
	}
	if Verb != reexec.Supervisor {
		t.Errorf("Verb %q is not reexec.Supervisor", Verb)
	}
	wakes := map[string]string{
		"WAKE_ERROR": wakeError, "WAKE_EXIT": wakeExit, "WAKE_CONTROL": wakeControl, "WAKE_CONSOLE": wakeConsole,
		"WAKE_NOTIFY": wakeNotify, "WAKE_READY": wakeReady, "WAKE_SIGNAL": wakeSignalPrefix,
	}
	for name, want := range wakes {
		if defines[name] != want {
			t.Errorf("idle.h %s = %q, Go has %q", name, defines[name], want)
		}
		delete(defines, name)
	}
	if len(defines) != 0 {
		t.Errorf("idle.h defines names Go does not know: %v", defines)
	}
	fm := regexp.MustCompile(`#define IDLE_FIELDS\(X\)((?: X\(\w+\))+)`).FindStringSubmatch(h)
	if fm == nil {
		t.Fatal("idle.h has no IDLE_FIELDS(X) list")
	}
	var cFields, goFields []string
	for _, m := range regexp.MustCompile(`X\((\w+)\)`).FindAllStringSubmatch(fm[1], -1) {
		cFields = append(cFields, m[1])
	}
	for _, x := range (&idleFields{}).named() {
		goFields = append(goFields, x.name)
	}
	if strings.Join(cFields, " ") != strings.Join(goFields, " ") {
		t.Errorf("IDLE_FIELDS %v, Go's %v", cFields, goFields)
	}

	cb, err := os.ReadFile("idle.c")
	if err != nil {
		t.Fatal(err)
	}
	c := string(cb)
	if !strings.Contains(c, `#include "idle.h"`) {
		t.Error("idle.c does not include idle.h")
	}
	// No bare strings in place of the names.
	if m := regexp.MustCompile(`wake\([^,]+, "|#define (IDLE|WAKE)_|"--(idle|monitor)"|GOVZ_SUPERVISOR_(IDLE|WAKE)`).FindString(c); m != "" {
		t.Errorf("idle.c spells a contract name itself: %q", m)
	}
	for name := range wakes {
		if !strings.Contains(c, name) {
			t.Errorf("idle.c never wakes with %s", name)
		}
	}
}

// TestIdleFieldsRoundTrip: what Go writes, Go's parser (idle.c's rules)
// reads back; anything but every field once is refused.
func TestIdleFieldsRoundTrip(t *testing.T) {
	f := idleFields{Master: 100, Log: -1, Control: 102, Notify: 103, FIFO: 104, Ring: 105, PID: 4242, Ready: true}
	s := f.String()
	if s != "master=100 log=-1 control=102 notify=103 fifo=104 ring=105 pid=4242 ready=1" {
		t.Errorf("String = %q", s)
	}
	if g, err := parseIdleFields(s); err != nil || g != f {
		t.Errorf("parse(%q) = %+v, %v", s, g, err)
	}
	if g, err := parseIdleFields("ready=0 pid=1 ring=2 fifo=3 notify=4 control=5 log=6 master=7"); err != nil || g.Master != 7 || g.Ready {
		t.Errorf("reordered: %+v, %v", g, err)
	}
	for _, bad := range []string{
		"100 -1 102 103 104 105 4242 1",                                                     // the old positional format
		"master=100 log=-1 control=102 notify=103 fifo=104 ring=105 pid=4242",               // missing ready
		"master=100 log=-1 control=102 notify=103 fifo=104 ring=105 pid=4242 ready=1 x=1",   // unknown
		"master=100 master=1 control=102 notify=103 fifo=104 ring=105 pid=4242 ready=1",     // repeated
		"master=1x log=-1 control=102 notify=103 fifo=104 ring=105 pid=4242 ready=1",        // not decimal
		"master=99999999999 log=-1 control=102 notify=103 fifo=104 ring=105 pid=42 ready=1", // too big
	} {
		if _, err := parseIdleFields(bad); err == nil {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
}

// idleEchoEnv makes the test binary, re-entered from idle.c with
// modeMonitor, print the wake reason instead of supervising.
const idleEchoEnv = "GOVZ_TEST_IDLE_ECHO"

func idleEcho() {
	fmt.Print(os.Getenv(wakeEnv))
	os.Exit(0)
}

// TestIdleHandoff runs idle.c (linked into this test binary) with a
// hand-off written by Go and checks the reason it wakes Go with, for each
// event it waits for: the C parser and the Go writer agree, and each wake
// reason reaches Go under its name.
func TestIdleHandoff(t *testing.T) {
	if !idleAvailable {
		t.Skip("built without cgo: no C idle loop to test")
	}
	for _, tc := range []struct {
		name  string
		env   func(f idleFields) string
		ready bool
		act   func(t *testing.T, w idleWorld)
		want  string
	}{
		{name: "positional hand-off refused", env: func(idleFields) string { return "3 -1 4 5 6 7 1 0" }, want: wakeError},
		{name: "missing field refused", env: func(f idleFields) string { return strings.Replace(f.String(), "ring=", "rong=", 1) }, want: wakeError},
		{name: "init exits", act: func(t *testing.T, w idleWorld) { w.init.Process.Kill() }, want: wakeExit},
		{name: "control connection", act: func(t *testing.T, w idleWorld) { w.control.Write([]byte{1}) }, want: wakeControl},
		{name: "readiness line before ready", act: func(t *testing.T, w idleWorld) { w.fifo.Write([]byte("READY\n")) }, want: wakeReady},
		{name: "notify before ready", act: func(t *testing.T, w idleWorld) { unix.Write(w.notify, []byte("READY=1")) }, want: wakeNotify},
		{name: "notify after ready drained", ready: true, act: func(t *testing.T, w idleWorld) {
			unix.Write(w.notify, []byte("READY=1"))
			time.Sleep(200 * time.Millisecond) // drained, not a wake
			w.init.Process.Kill()
		}, want: wakeExit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := runIdle(t, tc.env, tc.ready, tc.act); got != tc.want {
				t.Errorf("woke with %q, want %q", got, tc.want)
			}
		})
	}
}

// idleWorld is what an idle loop under test waits on.
type idleWorld struct {
	init          *exec.Cmd // stands for the container's init
	control, fifo *os.File  // write ends
	notify        int       // the other end of the notify socket pair
}

func runIdle(t *testing.T, env func(idleFields) string, ready bool, act func(*testing.T, idleWorld)) string {
	t.Helper()
	init := exec.Command("sleep", "60")
	if err := init.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { init.Process.Kill(); init.Wait() }()
	pipe := func() (r, w *os.File) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); w.Close() })
		return r, w
	}
	masterR, _ := pipe()
	controlR, controlW := pipe()
	fifoR, fifoW := pipe()
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	notifyR := os.NewFile(uintptr(sp[0]), "notify")
	defer notifyR.Close()
	defer unix.Close(sp[1])
	ringFD, err := ringFile(nil)
	if err != nil {
		t.Fatal(err)
	}
	ring := os.NewFile(uintptr(ringFD), "ring")
	defer ring.Close()
	// ExtraFiles land at 3, 4, ... in the child.
	f := idleFields{Master: 3, Log: -1, Control: 4, Notify: 5, FIFO: 6, Ring: 7, PID: init.Process.Pid, Ready: ready}
	val := f.String()
	if env != nil {
		val = env(f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/proc/self/exe", Verb, modeIdle)
	cmd.Args[0] = "govz-supervisor test"
	cmd.Env = append(os.Environ(), idleEnv+"="+val, idleEchoEnv+"=1")
	cmd.ExtraFiles = []*os.File{masterR, controlR, notifyR, fifoR, ring}
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if act != nil {
		time.Sleep(100 * time.Millisecond) // the loop is polling
		act(t, idleWorld{init: init, control: controlW, fifo: fifoW, notify: sp[1]})
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("idle loop: %v (output %q)", err, out.String())
	}
	return out.String()
}
