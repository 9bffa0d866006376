package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"govz/ct"
	"govz/ct/backup"
	"govz/ct/migrate"
	"govz/ct/vzerror"
	"govz/internal/exitcode"
	"govz/internal/progress"
)

// The backup verbs follow vzctl's "verb CTID ARG" shape and its
// hyphenated compound names (snapshot-switch, snapshot-delete): "backup
// CTID FILE" takes one, "restore-backup FILE [CTID]" brings one back, a
// distinct name from vzctl's "restore", which resumes a checkpoint.

// jsonOut writes --json's machine-readable lines on w: progress events
// (at most five a second per stage), then one final "done" or "error".
type jsonOut struct {
	enc  *json.Encoder
	last map[string]time.Time
}

func newJSONOut(w io.Writer) *jsonOut {
	return &jsonOut{enc: json.NewEncoder(w), last: map[string]time.Time{}}
}

func (j *jsonOut) progress(stage string, done, total int64) {
	if time.Since(j.last[stage]) < 200*time.Millisecond && done != total {
		return
	}
	j.last[stage] = time.Now()
	j.enc.Encode(map[string]any{"event": "progress", "stage": stage, "done": done, "total": total})
}

func (j *jsonOut) finish(result any, err error) error {
	if err != nil {
		j.enc.Encode(map[string]any{"event": "error", "code": exitcode.Of(err), "message": errorLine(err)})
		return err
	}
	j.enc.Encode(map[string]any{"event": "done", "code": 0, "result": result})
	return nil
}

// stageBars draws one terminal bar per stage; nil when out is not a
// terminal.
func (e *env) stageBars(titles map[string]string) backup.Progress {
	if e.log.Quiet || !progress.IsTerminal(e.log.Out) {
		return nil
	}
	bars := map[string]func(done, total int64){}
	return func(stage string, done, total int64) {
		b, ok := bars[stage]
		if !ok {
			b = progress.Bytes(e.log.Out, titles[stage])
			bars[stage] = b
		}
		if b != nil {
			b(done, total)
		}
	}
}

var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print progress and the final status as JSON lines on stdout"}

func backupCmd(e *env, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:         "backup",
		Usage:        "write a container's config and private area to one file (zstd, checksummed), from a frozen copy: a running container keeps running",
		ArgsUsage:    "CTID FILE",
		OnUsageError: usageErr,
		Flags:        []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return fmt.Errorf("usage: vzctl backup CTID FILE [--json]: %w", vzerror.ErrSyntax)
			}
			var j *jsonOut
			prog := e.stageBars(map[string]string{"archive": "Archiving"})
			if c.Bool("json") {
				j = newJSONOut(stdout)
				e.log.Out = e.log.Err
				prog = j.progress
			}
			var res *backup.Result
			err := e.withID(c.Args().Get(0), func(n *ct.Node, id int) (err error) {
				res, err = backup.Backup(n, id, c.Args().Get(1), prog)
				return err
			})
			if j != nil {
				return j.finish(res, err)
			}
			if err != nil {
				return err
			}
			e.log.Infof("Backup of container %d written to %s: %d bytes, sha256 %s (%s, %.1f s)",
				res.CTID, res.File, res.Bytes, res.SHA256[:16], res.Copy, res.Seconds)
			return nil
		},
	}
}

func restoreBackupCmd(e *env, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:         "restore-backup",
		Usage:        "make a container from a backup file (its own CTID, or CTID); a damaged file is refused before anything is written",
		ArgsUsage:    "FILE [CTID]",
		OnUsageError: usageErr,
		Flags:        []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 || c.NArg() > 2 {
				return fmt.Errorf("usage: vzctl restore-backup FILE [CTID] [--json]: %w", vzerror.ErrSyntax)
			}
			var j *jsonOut
			prog := e.stageBars(map[string]string{"verify": "Verifying", "extract": "Restoring"})
			if c.Bool("json") {
				j = newJSONOut(stdout)
				e.log.Out = e.log.Err
				prog = j.progress
			}
			res, err := e.restoreBackup(c.Args().Get(0), c.Args().Get(1), prog)
			if j != nil {
				return j.finish(res, err)
			}
			if err != nil {
				return err
			}
			e.log.Infof("Container %d restored from %s (layout %s, %.1f s)", res.CTID, res.File, res.Layout, res.Seconds)
			return nil
		},
	}
}

func (e *env) restoreBackup(file, ctid string, prog backup.Progress) (*backup.RestoreResult, error) {
	n, err := e.node()
	if err != nil {
		return nil, err
	}
	id := 0
	if ctid != "" {
		v, ok, err := ct.ParseID(ctid)
		if err != nil || !ok {
			return nil, fmt.Errorf("bad container id %q: %w", ctid, vzerror.ErrInvalidValue)
		}
		id = v
		e.log.CT = id
	}
	return backup.Restore(n, file, id, prog)
}

// receiveCmd is the destination's half of vzmigrate: a backup stream on
// stdin becomes container CTID, committed only once its checksum matched.
// The final status is always a JSON line on stdout, for vzmigrate.
func receiveCmd(e *env, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:         "receive",
		Usage:        "(used by vzmigrate) make container CTID from a backup streamed on stdin",
		ArgsUsage:    "CTID",
		OnUsageError: usageErr,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "set-aside", Usage: "(vzmigrate --keep-dst) instead: take the stopped container CTID that failed to start off this node, keeping its files as CTID.toml.kept and PRIVATE.kept"},
		},
		Action: func(c *cli.Context) error {
			j := newJSONOut(stdout)
			e.log.Out = e.log.Err
			var res *backup.RestoreResult
			err := e.withCT(c, func(n *ct.Node, id int) (err error) {
				if c.Bool("set-aside") {
					return n.Retire(id, migrate.KeptSuffix, true)
				}
				res, err = backup.Receive(n, os.Stdin, id, nil)
				return err
			})
			return j.finish(res, err)
		},
	}
}
