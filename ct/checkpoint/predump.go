package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	criu "github.com/checkpoint-restore/go-criu/v7"
	"github.com/checkpoint-restore/go-criu/v7/rpc"
	"google.golang.org/protobuf/proto"

	"govz/ct/vzerror"
)

// Pre-dumps (live migration): CRIU saves the memory of a running tree and
// lets it run on; a later pre-dump or the final dump given the previous
// directory as its parent writes only the pages written since. CRIU knows
// them from the kernel's soft-dirty bits (clear_refs 4, pagemap bit 55,
// CONFIG_MEM_SOFT_DIRTY): without them it refuses track-mem, and a dump
// saves all memory at once.

// ErrNoMemTrack is a pre-dump's failure when the kernel does not track
// written pages: nothing was saved, and nothing is wrong with the
// container; a dump without pre-dumps saves it.
var ErrNoMemTrack = errors.New("the kernel does not track written pages (soft-dirty bits, CONFIG_MEM_SOFT_DIRTY)")

// PreDumper is an Engine that pre-dumps.
type PreDumper interface {
	// MemTrack reports whether the kernel tracks written pages for CRIU.
	MemTrack() (bool, error)
	// PreDump saves the memory of the tree opts.Pid names into
	// opts.ImagesDirFd and leaves it running.
	PreDump(opts *rpc.CriuOpts) error
}

func (s *swrk) MemTrack() (bool, error) {
	var ok bool
	err := s.do(func(c *criu.Criu) error {
		f, err := c.FeatureCheck(&rpc.CriuFeatures{MemTrack: proto.Bool(true)})
		ok = err == nil && f.GetMemTrack()
		return err
	})
	return ok, err
}

func (s *swrk) PreDump(opts *rpc.CriuOpts) error {
	return s.do(func(c *criu.Criu) error { return c.PreDump(opts, criu.NoNotify{}) })
}

// CanPreDump reports whether e pre-dumps on this kernel; when not, the
// reason.
func CanPreDump(e Engine) (bool, string) {
	p, ok := e.(PreDumper)
	if !ok {
		return false, "this CRIU engine cannot pre-dump"
	}
	on, err := p.MemTrack()
	if err != nil {
		return false, fmt.Sprintf("asking %s about memory tracking: %v", e.Path(), err)
	}
	if !on {
		return false, ErrNoMemTrack.Error()
	}
	return true, ""
}

// PreDumpOptions are CRIU's options to pre-dump t into the directory open
// as imagesFD; parent is the previous pre-dump's directory relative to
// that one, or "" for the first.
func PreDumpOptions(t *Target, imagesFD int, parent string) *rpc.CriuOpts {
	// The dump's options: a pre-dump walks the same tree and mounts.
	o := DumpOptions(t, imagesFD)
	o.LogFile = proto.String("predump.log")
	o.LeaveRunning = nil
	o.TrackMem = proto.Bool(true)
	if parent != "" {
		o.ParentImg = proto.String(parent)
	}
	return o
}

// PreDump saves t's memory into dir, which must not exist yet, and leaves
// it running; parent as PreDumpOptions. A failure leaves dir removed and
// the container running.
func PreDump(e Engine, t *Target, dir, parent string) error {
	p, ok := e.(PreDumper)
	if !ok {
		return fmt.Errorf("container %s: %s cannot pre-dump: %w", t.ID, e.Path(), vzerror.ErrChkpnt)
	}
	if err := Preflight(t); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("container %s: %w: %w", t.ID, err, vzerror.ErrChkpnt)
	}
	d, err := os.Open(dir)
	if err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("container %s: %w: %w", t.ID, err, vzerror.ErrChkpnt)
	}
	defer d.Close()
	if err := p.PreDump(PreDumpOptions(t, int(d.Fd()), parent)); err != nil {
		reason := logReason(filepath.Join(dir, "predump.log"), err)
		os.RemoveAll(dir)
		// CRIU 4.1's feature check said yes on this project's VM (6.18)
		// where its pre-dump then refused track-mem: the pre-dump's own
		// answer decides.
		if strings.Contains(reason, "Tracking memory is not available") {
			return fmt.Errorf("container %s: %w", t.ID, ErrNoMemTrack)
		}
		return fmt.Errorf("container %s: pre-dump failed: %s: %w", t.ID, reason, vzerror.ErrChkpnt)
	}
	// The restored tasks read their pages as the container's root (see
	// Restore): a parent's images too.
	if err := shareTree(dir, t.DevOwner[1]); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("container %s: %w: %w", t.ID, err, vzerror.ErrChkpnt)
	}
	return nil
}

// DumpOnto is Dump writing only the pages written since the pre-dump in
// parent (relative to dir); "" is Dump.
func DumpOnto(e Engine, t *Target, dir, parent string) error {
	if parent == "" {
		return Dump(e, t, dir)
	}
	return Dump(onto{Engine: e, parent: parent}, t, dir)
}

// onto adds the parent images to a dump's options.
type onto struct {
	Engine
	parent string
}

func (o onto) Dump(opts *rpc.CriuOpts) error {
	// Without track-mem CRIU ignores the parent and saves every page.
	opts.TrackMem = proto.Bool(true)
	opts.ParentImg = proto.String(o.parent)
	return o.Engine.Dump(opts)
}
