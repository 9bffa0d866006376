// Command vzmigrate moves a container to another node over SSH, with
// OpenVZ vzmigrate's grammar and exit codes:
//
//	vzmigrate [--online] [--keep-dst] [-r yes|no] [--ssh=OPTS] [--json] DEST CTID
//
// It parses, calls ct/migrate and prints: one line on error, or with
// --json one JSON object a line (progress stages, then "done" or "error"
// with the exit code), for orchestration tools.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"govz/ct"
	"govz/ct/lxcfs"
	"govz/ct/migrate"
	"govz/ct/nsinit"
	"govz/ct/supervisor"
	"govz/ct/vzerror"
	"govz/ct/vzlog"
	"govz/internal/clidoc"
	"govz/internal/exitcode"
	"govz/internal/progress"
)

const usage = "usage: vzmigrate [--online] [--keep-dst] [-r yes|no] [--ssh=OPTS] [--json] DEST CTID"

type args struct {
	o    migrate.Options
	json bool
	ctid string
}

func parse(argv []string) (args, error) {
	var a args
	var pos []string
	for i := 0; i < len(argv); i++ {
		s := argv[i]
		val := func() (string, error) {
			if k, v, ok := strings.Cut(s, "="); ok && strings.HasPrefix(k, "--") {
				return v, nil
			}
			if i+1 >= len(argv) {
				return "", fmt.Errorf("%s needs a value", s)
			}
			i++
			return argv[i], nil
		}
		name, _, _ := strings.Cut(s, "=")
		switch name {
		case "--online":
			a.o.Online = true
		case "--keep-dst":
			a.o.KeepDst = true
		case "--json":
			a.json = true
		case "-r", "--remove-area":
			v, err := val()
			if err != nil {
				return a, err
			}
			switch v {
			case "yes":
			case "no":
				a.o.KeepSrc = true
			default:
				return a, fmt.Errorf("-r %q: must be yes or no", v)
			}
		case "--ssh":
			v, err := val()
			if err != nil {
				return a, err
			}
			a.o.SSH = append(a.o.SSH, strings.Fields(v)...)
		case "-h", "--help":
			return a, errors.New("help")
		default:
			if strings.HasPrefix(s, "-") {
				return a, fmt.Errorf("unknown option %q", s)
			}
			pos = append(pos, s)
		}
	}
	if len(pos) != 2 {
		return a, fmt.Errorf("need DEST and CTID, got %d arguments", len(pos))
	}
	a.o.Dest, a.ctid = pos[0], pos[1]
	if strings.HasPrefix(a.o.Dest, "-") || a.o.Dest == "" {
		return a, fmt.Errorf("bad destination %q", a.o.Dest)
	}
	return a, nil
}

func main() {
	// Stopping and starting a container re-executes this binary as its
	// supervisor (and the supervisor's helpers), as vzctl does.
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case supervisor.Verb:
			os.Exit(ct.SupervisorMain(os.Args[2:]))
		case nsinit.Verb:
			nsinit.Main()
		case lxcfs.Verb:
			os.Exit(lxcfs.Main(os.Args[2:]))
		case clidoc.Verb, clidoc.ValuesVerb:
			os.Exit(docMain(os.Args[1:]))
		}
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(argv []string, stdout, stderr io.Writer) int {
	a, err := parse(argv)
	if err != nil {
		if err.Error() == "help" {
			fmt.Fprintln(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "vzmigrate: %v (%s)\n", err, usage)
		return migrate.ExitUsage
	}
	log := &vzlog.Logger{Prog: "vzmigrate", Out: stdout, Err: stderr}
	defer log.Close()
	var enc *json.Encoder
	if a.json {
		enc = json.NewEncoder(stdout)
		log.Out = stderr
		a.o.Progress = func(stage string, done, total int64) {
			ev := map[string]any{"event": "progress", "stage": stage}
			if done > 0 {
				ev["done"], ev["total"] = done, total
			}
			enc.Encode(ev)
		}
	} else {
		// On a terminal the copy's bytes go to a bar (total unknown: a
		// stream), finished and cleared when the next stage starts.
		var copyBar func(done, total int64)
		var copied int64
		if progress.IsTerminal(stdout) {
			copyBar = progress.Bytes(stdout, "Copying")
		}
		a.o.Progress = func(stage string, done, total int64) {
			if stage == "copy" && done > 0 {
				if copyBar != nil {
					copyBar(done, total)
					copied = done
				}
				return
			}
			if copied > 0 {
				copyBar(copied, copied)
				copied = 0
			}
			if done == 0 {
				log.Infof("%s", map[string]string{"check": "Checking the destination", "stop": "Stopping the container",
					"copy": "Copying config and private area", "start": "Starting the container on the destination",
					"cleanup": "Cleaning up", "predump": "Pre-dumping memory", "sync": "Syncing the private area",
					"freeze": "Freezing: final dump, last sync", "restore": "Restoring the container on the destination"}[stage])
			}
		}
	}
	res, err := migrateCT(log, a)
	code := exitCode(err)
	if enc != nil {
		if err != nil {
			enc.Encode(map[string]any{"event": "error", "code": code, "message": err.Error()})
		} else {
			enc.Encode(map[string]any{"event": "done", "code": 0, "result": res})
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "vzmigrate: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return code
	}
	if !a.json {
		how := "offline"
		if res.Online {
			how = fmt.Sprintf("online, %d memory pre-dumps", res.PreDumps)
		}
		log.Infof("Container %d migrated to %s in %.1f s (%s, downtime %.3f s, %d bytes)", res.CTID, res.Dest, res.Seconds, how, res.Downtime, res.Bytes)
	}
	return 0
}

func migrateCT(log *vzlog.Logger, a args) (*migrate.Result, error) {
	n, err := ct.OpenNode(log)
	if err != nil {
		return nil, err
	}
	id, err := n.Resolve(a.ctid)
	if err != nil {
		return nil, &migrate.Error{Code: migrate.ExitNoSource, Err: err}
	}
	log.CT = id
	return migrate.Migrate(n, id, a.o)
}

// exitCode is vzmigrate's code for err: the migration's own, else 1 for a
// bad value, else a system failure (vzmigrate has no code of its own for
// one; 3 as vzctl).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var me *migrate.Error
	if errors.As(err, &me) {
		return me.Code
	}
	if errors.Is(err, vzerror.ErrInvalidValue) || errors.Is(err, vzerror.ErrSyntax) {
		return migrate.ExitUsage
	}
	return exitcode.Of(err)
}
