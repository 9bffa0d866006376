package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/checkpoint-restore/go-criu/v7/rpc"

	"govz/ct/vzerror"
)

func TestPreDumpOptions(t *testing.T) {
	o := PreDumpOptions(target(), 7, "../1")
	if o.GetPid() != 4000 || o.GetImagesDirFd() != 7 || o.GetLogFile() != "predump.log" {
		t.Fatalf("pid/images/log = %d/%d/%q", o.GetPid(), o.GetImagesDirFd(), o.GetLogFile())
	}
	if !o.GetTrackMem() || o.GetParentImg() != "../1" {
		t.Fatalf("track-mem %v, parent %q: a pre-dump tracks memory for the next one", o.GetTrackMem(), o.GetParentImg())
	}
	if o.LeaveRunning != nil {
		t.Fatal("a pre-dump leaves the tree running anyway: leave-running must not be set")
	}
	if first := PreDumpOptions(target(), 7, ""); first.ParentImg != nil {
		t.Fatalf("the first pre-dump has no parent: %q", first.GetParentImg())
	}
}

// recorder is an Engine that records the options of its requests and
// fails a pre-dump as CRIU does without soft-dirty bits, when told to.
type recorder struct {
	fakeEngine
	dump, pre *rpc.CriuOpts
	noTrack   bool
}

func (r *recorder) Dump(o *rpc.CriuOpts) error { r.dump = o; return nil }
func (r *recorder) MemTrack() (bool, error)    { return !r.noTrack, nil }
func (r *recorder) PreDump(o *rpc.CriuOpts) error {
	r.pre = o
	if r.noTrack {
		log := filepath.Join(fmt.Sprintf("/proc/self/fd/%d", o.GetImagesDirFd()), "predump.log")
		os.WriteFile(log, []byte("(00.001) Error (criu/kerndat.c:412): Tracking memory is not available. Consider omitting --track-mem option.\n"), 0o600)
		return errors.New("exit status 1")
	}
	return nil
}

// DumpOnto adds the parent and track-mem to the dump's options (CRIU
// ignores a parent without it); without a parent it is Dump's.
func TestDumpOnto(t *testing.T) {
	e := &recorder{fakeEngine: fakeEngine{version: 40101}}
	if err := DumpOnto(e, target(), filepath.Join(t.TempDir(), "final"), "../2"); err != nil {
		t.Fatal(err)
	}
	if !e.dump.GetTrackMem() || e.dump.GetParentImg() != "../2" || e.dump.GetLeaveRunning() {
		t.Fatalf("track-mem %v parent %q leave-running %v", e.dump.GetTrackMem(), e.dump.GetParentImg(), e.dump.GetLeaveRunning())
	}
	if err := DumpOnto(e, target(), filepath.Join(t.TempDir(), "final"), ""); err != nil {
		t.Fatal(err)
	}
	if e.dump.TrackMem != nil || e.dump.ParentImg != nil {
		t.Fatalf("no parent: track-mem %v parent %q", e.dump.GetTrackMem(), e.dump.GetParentImg())
	}
}

// A pre-dump CRIU refuses for want of soft-dirty bits is ErrNoMemTrack
// (the migration goes on without pre-dumps), not a checkpoint failure;
// either way its directory goes. An engine that cannot pre-dump and a
// target Preflight refuses fail before anything is written.
func TestPreDump(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "1")
	e := &recorder{fakeEngine: fakeEngine{version: 40101}, noTrack: true}
	err := PreDump(e, target(), dir, "")
	if !errors.Is(err, ErrNoMemTrack) || errors.Is(err, vzerror.ErrChkpnt) {
		t.Fatalf("no soft-dirty: %v", err)
	}
	if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
		t.Fatalf("the failed pre-dump's directory stayed: %v", serr)
	}
	if ok, why := CanPreDump(e); ok || !strings.Contains(why, "soft-dirty") {
		t.Fatalf("CanPreDump = %v, %q", ok, why)
	}
	if ok, why := CanPreDump(&fakeEngine{}); ok || why == "" {
		t.Fatalf("an engine without pre-dumps: CanPreDump = %v, %q", ok, why)
	}
	if err := PreDump(&fakeEngine{}, target(), dir, ""); !errors.Is(err, vzerror.ErrChkpnt) {
		t.Fatalf("an engine without pre-dumps: %v", err)
	}
	tg := target()
	tg.Console = Device{}
	e.noTrack, e.pre = false, nil
	if err := PreDump(e, tg, dir, ""); !errors.Is(err, vzerror.ErrChkpnt) || e.pre != nil {
		t.Fatalf("refused target: %v (engine called: %v)", err, e.pre != nil)
	}
	if err := PreDump(e, target(), dir, "../0"); err != nil || e.pre.GetParentImg() != "../0" {
		t.Fatalf("pre-dump: %v, parent %q", err, e.pre.GetParentImg())
	}
}
