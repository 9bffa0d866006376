package exitcode

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"govz/conf"
	"govz/ct/attach"
	"govz/ct/caps"
	"govz/ct/cgroup"
	"govz/ct/grants"
	"govz/ct/idmap"
	"govz/ct/lock"
	"govz/ct/nsinit"
	"govz/ct/rootfs"
	"govz/ct/vzerror"
	"govz/templates/untar"
)

// Every code a command can return, each from at least one error chain as
// the code builds it: through the package's own function where that is
// cheap and needs no root, otherwise in the wrap shape its call site uses
// (context, the class, the cause).
func TestEveryCodeHasARealChain(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) error {
		t.Helper()
		if err == nil {
			t.Fatal("want an error")
		}
		return err
	}
	cfg := func(key, value string) error {
		var c conf.Config
		err := c.SetString(key, value)
		if err == nil {
			err = c.Validate()
		}
		return must(err)
	}
	held, err := lock.Acquire(dir, 101, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	_, lockErr := lock.Acquire(dir, 101, "again")
	_, notRunning := attach.Exec(t.TempDir(), []string{"true"}, attach.Options{})
	corrupt := filepath.Join(dir, "corrupt.tar.gz")
	os.WriteFile(corrupt, []byte("\x1f\x8b\x08\x00garbage"), 0o644)
	os.Mkdir(filepath.Join(dir, "dest"), 0o755)
	_, capErr := caps.ParseChanges([]string{"flying:on"})
	_, kernelCap := caps.Bounding(37, []caps.Change{{Cap: 39, On: true}})
	cause := errors.New("cause")

	chains := []struct {
		name string
		err  error
		want int
	}{
		{"success", nil, 0},
		{"plain error", cause, 3},
		{"set ubc", fmt.Errorf("setting physpages: %w: %w", vzerror.ErrSetUBC, cause), 1},
		{"set cpu", fmt.Errorf("setting cpus: %w: %w", vzerror.ErrSetCPU, cause), 2},
		{"system", fmt.Errorf("encoding json: %w: %w", cause, vzerror.ErrSystem), 3},
		{"capability above the kernel's", must(kernelCap), 5},
		{"cgroup controller missing", fmt.Errorf("cgroup controller %q not available: %w", "io", cgroup.ErrUnsupported), 5},
		{"bad kernel", fmt.Errorf("idmapped mounts: %w", vzerror.ErrBadKernel), 5},
		{"cgroup parent empty", fmt.Errorf("copying cpuset.cpus: %w", cgroup.ErrNoResource), 6},
		{"resource", fmt.Errorf("no free id range: %w", vzerror.ErrResource), 6},
		{"id pool exhausted", must(func() error {
			_, err := idmap.Allocate(idmap.Range{Start: 100000, Count: idmap.Size}, []idmap.Used{{Range: idmap.Range{Start: 100000, Count: idmap.Size}, Owner: "ct"}})
			return err
		}()), 6},
		{"bad id pool", cfg("local_id_pool", "x"), 21},
		{"bad feature", must(func() error { _, err := grants.ParseFeatures([]string{"bogus:on"}); return err }()), 21},
		{"env create", fmt.Errorf("starting 101: %w: %w", vzerror.ErrEnvCreate, cause), 7},
		{"exec", attach.CommandError(1), 8},
		{"exec2 status", attach.StatusError(42), 42},
		{"locked", must(lockErr), 9},
		{"no global config", fmt.Errorf("vz.toml: %w", vzerror.ErrNoGlobalConfig), 10},
		{"no script", fmt.Errorf("101.start: %w", vzerror.ErrNoScript), 11},
		{"permission", fmt.Errorf("must be root: %w", vzerror.ErrPermission), 12},
		{"no config", fmt.Errorf("container 101: %w", vzerror.ErrNoConfig), 14},
		{"checkpoint", fmt.Errorf("container 101: %w", vzerror.ErrChkpnt), 16},
		{"restore", fmt.Errorf("container 101: %w", vzerror.ErrRestore), 17},
		{"unknown key", cfg("no_such_key", "1"), 20},
		{"usage", fmt.Errorf("unexpected argument %q: %w", "x", vzerror.ErrSyntax), 20},
		{"bad value", cfg("onboot", "maybe"), 21},
		{"bad capability", must(capErr), 21},
		{"bad cgroup path", fmt.Errorf("cgroup parent %q: %w", "../x", cgroup.ErrBadPath), 21},
		{"not enough params", fmt.Errorf("usage: vzctl exec CTID COMMAND: %w", vzerror.ErrNotEnoughParams), 27},
		{"no os template", fmt.Errorf("container 101: %w", vzerror.ErrNoOSTemplate), 29},
		{"not running", must(notRunning), 31},
		{"running", fmt.Errorf("container 101: %w", vzerror.ErrRunning), 32},
		{"cgroup populated", fmt.Errorf("removing cgroup %s: 3 %w", "x", cgroup.ErrPopulated), 32},
		{"stop", fmt.Errorf("stopping 101: %w: %w", vzerror.ErrStop, cause), 33},
		{"kill timeout", fmt.Errorf("killing cgroup x: 2 %w (%w)", cgroup.ErrKillTimeout, os.ErrDeadlineExceeded), 33},
		{"cant add ip", fmt.Errorf("adding 10.0.0.1: %w: %w", vzerror.ErrCantAddIP, cause), 34},
		{"not mounted", fmt.Errorf("container 101: %w", vzerror.ErrNotMounted), 40},
		{"mounted", fmt.Errorf("container 101: %w", vzerror.ErrMounted), 41},
		{"no private", fmt.Errorf("/vz/private/101: %w", vzerror.ErrNoPrivate), 43},
		{"private exists", fmt.Errorf("/vz/private/101: %w", vzerror.ErrPrivateExists), 44},
		{"no disk space", fmt.Errorf("extracting %q: write: %w: %w", "x", cause, untar.ErrNoSpace), 46},
		{"disk space", fmt.Errorf("resizing: %w", vzerror.ErrNoDiskSpace), 46},
		{"corrupt template", must(untar.ExtractFile(corrupt, filepath.Join(dir, "dest"), untar.Options{})), 47},
		{"broken template", fmt.Errorf("exec /sbin/init: %w", vzerror.ErrBadTemplate), 47},
		{"untar destination", fmt.Errorf("extracting %q: mkdir: %w: %w", "x", cause, untar.ErrDestination), 48},
		{"create private", fmt.Errorf("creating %s: %w: %w", "x", cause, vzerror.ErrCreatePrivate), 48},
		{"mount point", fmt.Errorf("%s: %w", "x", vzerror.ErrMountPoint), 49},
		{"mount", fmt.Errorf("mounting %s: %w: %w", "x", cause, vzerror.ErrMount), 50},
		{"umount", fmt.Errorf("unmounting %s: %w: %w", "x", cause, vzerror.ErrUmount), 51},
		{"delete private", fmt.Errorf("removing %s: %w: %w", "x", cause, vzerror.ErrDeletePrivate), 52},
		{"quota", fmt.Errorf("project quota: %w: %w", cause, vzerror.ErrQuotaSet), 62},
		{"diskspace not set", fmt.Errorf("layout image: %w", vzerror.ErrDiskspaceNotSet), 63},
		{"bad hostname", cfg("hostname", "-bad-"), 70},
		{"bad ip", cfg("ip_address", "300.1.1.1"), 71},
		{"bad nameserver", cfg("nameserver", "x.y"), 72},
		{"bad search domain", cfg("searchdomain", "-x-"), 73},
		{"ip in use", fmt.Errorf("10.0.0.1 is used by 102: %w", vzerror.ErrIPInUse), 78},
		{"action script", fmt.Errorf("101.mount: %w: %w", cause, vzerror.ErrActionScript), 79},
		{"no sample", must(func() error { _, err := conf.LoadSample(conf.Paths{Root: dir}, "nosuch"); return err }()), 82},
		{"config file", must(func() error { _, err := conf.Parse("101.toml", []byte("hostname = 5\n"), conf.CT); return err }()), 85},
		{"invalid config", fmt.Errorf("local_uid: %w", vzerror.ErrInvalidConfig), 85},
		{"devices", fmt.Errorf("device cgroup: %w: %w", cause, vzerror.ErrSetDevices), 86},
		{"template missing", must(untar.ExtractFile(filepath.Join(dir, "none.tar"), dir, untar.Options{})), 91},
		{"template not cached", fmt.Errorf("%s: %w", "x", vzerror.ErrTemplateMissing), 91},
		{"layout", fmt.Errorf("btrfs on ext4: %w", vzerror.ErrLayout), 99},
		{"start disabled", fmt.Errorf("container 101: %w", vzerror.ErrStartDisabled), 105},
		{"veth", fmt.Errorf("veth101.0: %w: %w", cause, vzerror.ErrVeth), 130},
		{"bad name", cfg("name", "12"), 131},
		{"name", fmt.Errorf("name web is taken: %w", vzerror.ErrName), 131},
		{"wait", fmt.Errorf("101 did not report ready: %w", vzerror.ErrWaitFailed), 133},
		{"config save", must((&conf.Config{}).Save(filepath.Join(dir, "no", "dir", "101.toml"), "")), 139},
		{"config save class", fmt.Errorf("%w: %w", cause, vzerror.ErrConfigSave), 139},
		{"set io", fmt.Errorf("ioprio: %w: %w", cause, vzerror.ErrSetIO), 148},
		{"resize", fmt.Errorf("resize2fs: %w: %w", cause, vzerror.ErrResizeImage), 154},
	}
	covered := map[int]bool{}
	for _, c := range chains {
		if got := Of(c.err); got != c.want {
			t.Errorf("%s: %v: exit %d, want %d", c.name, c.err, got, c.want)
		}
		covered[c.want] = true
	}
	for _, r := range Table() {
		if !covered[r.Code] {
			t.Errorf("exit %d (%v): no chain produces it", r.Code, r.Err)
		}
	}
}

// The regression of issue 11: the lowest code anywhere in the tree won, so
// a stop that failed on an invalid value exited 21 instead of 33.
func TestOutermostClassWins(t *testing.T) {
	var c conf.Config
	invalid := c.SetString("stop_timeout", "x")
	if invalid == nil {
		invalid = c.Validate()
	}
	if Of(invalid) != 21 {
		t.Fatalf("cause %v: exit %d, want 21", invalid, Of(invalid))
	}
	for name, tc := range map[string]struct {
		err  error
		want int
	}{
		"stop: class then cause":  {fmt.Errorf("stop 101: %w: %w", vzerror.ErrStop, invalid), 33},
		"stop: class invalid":     {fmt.Errorf("stop 101: %w: %w", vzerror.ErrStop, fmt.Errorf("bad value %q: %w", "x", vzerror.ErrInvalidValue)), 33},
		"stop: nested":            {fmt.Errorf("vzctl stop: %w", fmt.Errorf("stop 101: %w: %w", vzerror.ErrStop, invalid)), 33},
		"cause then class":        {fmt.Errorf("%w: %w", invalid, vzerror.ErrConfigSave), 139},
		"join: first class wins":  {errors.Join(fmt.Errorf("a: %w", vzerror.ErrStop), fmt.Errorf("b: %w", vzerror.ErrSyntax)), 33},
		"exact status outermost":  {fmt.Errorf("x: %w", &vzerror.ExitError{Status: 7, Err: fmt.Errorf("y: %w", vzerror.ErrStop)}), 7},
		"class outside a status":  {fmt.Errorf("x: %w: %w", vzerror.ErrMount, &vzerror.ExitError{Status: 7, Err: cause()}), 50},
		"file error over its key": {parseErr(conf.Parse("101.toml", []byte("hostname = \"-bad-\"\n"), conf.CT)), 85},
	} {
		if got := Of(tc.err); got != tc.want {
			t.Errorf("%s: %v: exit %d, want %d", name, tc.err, got, tc.want)
		}
	}
}

func cause() error { return errors.New("cause") }

func parseErr(_ *conf.Config, err error) error { return err }

// A failure in the supervisor or the container's child reaches vzctl as an
// nsinit.RemoteError: the code is the one it would have had in the process
// that failed.
func TestCodeAcrossProcesses(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("stop 101: %w: %w", vzerror.ErrStop, fmt.Errorf("k: %w", conf.ErrBadValue)), 33},
		{fmt.Errorf("init: %w", vzerror.ErrBadTemplate), 47},
		{fmt.Errorf("killing: %w", cgroup.ErrKillTimeout), 33},
		{fmt.Errorf("boot: %w", &rootfs.StepError{Err: cause()}), 50}, // a class by its Is method
		{&vzerror.ExitError{Status: 200, Err: cause()}, 200},
		{cause(), 3},
	} {
		b, jerr := json.Marshal(nsinit.NewRemoteError(tc.err))
		if jerr != nil {
			t.Fatal(jerr)
		}
		var back nsinit.RemoteError
		if jerr := json.Unmarshal(b, &back); jerr != nil {
			t.Fatal(jerr)
		}
		if here, there := Of(tc.err), Of(fmt.Errorf("101: %w", &back)); here != tc.want || there != tc.want {
			t.Errorf("%v: exit %d here, %d across the wire, want %d", tc.err, here, there, tc.want)
		}
	}
}

// Only the commands map errors to exit codes: no library package imports
// this one (tests may, to assert a command's code).
func TestOnlyCommandsImport(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		for _, im := range f.Imports {
			if p, _ := strconv.Unquote(im.Path.Value); p == "govz/internal/exitcode" &&
				!strings.HasPrefix(rel, "cmd/") && !strings.HasPrefix(rel, "internal/clidoc/") {
				t.Errorf("%s imports internal/exitcode: only cmd/* (and their docs) map errors to exit codes", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Every lifecycle class has exactly one code, and every code one class
// (vzctl(8)'s EXIT STATUS lists Classes).
func TestClassesComplete(t *testing.T) {
	codes := map[int]bool{}
	for _, r := range Classes() {
		if codes[r.Code] {
			t.Errorf("code %d twice", r.Code)
		}
		codes[r.Code] = true
	}
	for _, s := range vzerror.Sentinels() {
		n := 0
		for _, r := range Classes() {
			if errors.Is(r.Err, s) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("class %q has %d rows, want 1", s, n)
		}
	}
}
