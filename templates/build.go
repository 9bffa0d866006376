package templates

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"govz/ct/vzerror"
)

// BuildOptions tunes Build.
type BuildOptions struct {
	// CacheDir receives the template ($VZ_ROOT/template/cache). Created if
	// missing.
	CacheDir string
	// Suite is the debian recipe's release code name; DefaultSuite if empty.
	Suite string
	// Init is the debian recipe's guest init: "systemd" (default),
	// "sysvinit" or "openrc".
	Init string
	// Network is what configures the debian recipe's guest network:
	// "ifupdown" (default), "networkd", "netplan" or "networkmanager".
	// Anything but ifupdown needs systemd.
	Network string
	// Base names a template in CacheDir the debian recipe starts from
	// instead of debootstrap: one of the same distribution, release and
	// architecture (debian-12-x86_64 for debian-12-x86_64-sysvinit). The
	// result has the package set and configuration a debootstrap build
	// gets, with the base's package versions where they satisfy it; only
	// what differs is downloaded.
	Base string
	// Mirror overrides the archive URL the debian recipe downloads from;
	// the default is the host's own Debian (or Ubuntu) mirror from
	// /etc/apt, else the distribution's main archive.
	Mirror string
	// Compress is "gz" (default; pigz when installed), "xz" or "zst".
	Compress string
	// Out receives progress; nil discards it. A terminal gets an in-place
	// percentage while packing.
	Out io.Writer
	// Force rebuilds a template that is already in the cache; without it
	// Build returns the cached one.
	Force bool
	// Verbose passes the recipe's own output (debootstrap's log) to Out.
	// Without it only phases are shown, and the output's tail on failure.
	Verbose bool
}

// workPrefix starts the name of every build's work directory in the cache
// directory. The leading "." keeps it out of List; the PID lets a later build
// tell a dead build's leftovers from a running one.
const workPrefix = ".govz-build-"

// tailLines is how much recipe output a failed quiet build shows.
const tailLines = 30

// Build runs recipe ("busybox" or "debian") and stores the result in
// opt.CacheDir as NAME.tar.EXT, returning its path. The template is named for
// the recipe, suite and this machine's architecture (busybox-x86_64,
// debian-12-x86_64, ubuntu-24.04-x86_64). If it is already cached and
// opt.Force is false, Build returns the cached path without building. A
// forced rebuild replaces the cached template in every compression.
//
// Cancelling ctx stops the build; on any failure Build leaves no template and
// no work files behind (callers turn SIGINT/SIGTERM into a cancelled ctx).
func Build(ctx context.Context, recipeName string, opt BuildOptions) (string, error) {
	if opt.CacheDir == "" {
		return "", fmt.Errorf("building template: no cache directory: %w", vzerror.ErrInvalidValue)
	}
	// The recipe runs in its own working directory: a relative cache
	// path must be resolved against the caller's.
	abs, err := filepath.Abs(opt.CacheDir)
	if err != nil {
		return "", fmt.Errorf("building template: cache directory %s: %w: %w", opt.CacheDir, err, vzerror.ErrInvalidValue)
	}
	opt.CacheDir = abs
	comp, err := compressorFor(opt.Compress)
	if err != nil {
		return "", err
	}
	r, err := resolveRecipe(recipeName, opt, runtime.GOARCH, "/etc/apt")
	if err != nil {
		return "", err
	}
	if opt.Base != "" {
		r, err = withBase(r, Cache{Dir: opt.CacheDir}, opt.Base)
		if err != nil {
			return "", err
		}
	}
	if recipeName == "busybox" {
		err = checkStatic(busyboxPath)
		if err != nil {
			return "", fmt.Errorf("building %s: %w", r.template, err)
		}
	}
	return build(ctx, r, comp, opt)
}

// build runs a resolved recipe; tests call it with their own scripts.
func build(ctx context.Context, r recipe, comp compressor, opt BuildOptions) (string, error) {
	p := newProgress(opt.Out)
	cache := Cache{Dir: opt.CacheDir}
	if !opt.Force {
		path, err := cache.Find(r.template)
		if err == nil {
			p.phase("%s is already in the cache: %s (rebuild with --force)", r.template, path)
			return path, nil
		}
		if !errors.Is(err, vzerror.ErrTemplateMissing) {
			return "", err
		}
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		return "", fmt.Errorf("building %s: bash not found: %w", r.template, vzerror.ErrSystem)
	}
	tar, err := exec.LookPath("tar")
	if err != nil {
		return "", fmt.Errorf("building %s: GNU tar not found: %w", r.template, vzerror.ErrSystem)
	}
	err = comp.lookPath()
	if err != nil {
		return "", fmt.Errorf("building %s: %w", r.template, err)
	}
	err = os.MkdirAll(opt.CacheDir, 0o755)
	if err != nil {
		return "", fmt.Errorf("creating template cache %s: %w: %w", opt.CacheDir, err, vzerror.ErrSystem)
	}
	removeStaleWork(opt.CacheDir)

	work, err := os.MkdirTemp(opt.CacheDir, workPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", fmt.Errorf("building %s: %w: %w", r.template, err, vzerror.ErrSystem)
	}
	// The one cleanup: the tree, the script and the unfinished tarball all
	// live in work. Nothing is mounted in it (the recipe's mounts lived in
	// its own mount namespace, gone with it), so RemoveAll stays on this
	// filesystem.
	defer os.RemoveAll(work)

	rootfs := filepath.Join(work, "rootfs")
	script := filepath.Join(work, "recipe.sh")
	err = os.Mkdir(rootfs, 0o755)
	if err == nil {
		err = os.WriteFile(script, r.script, 0o644)
	}
	if err != nil {
		return "", fmt.Errorf("building %s: %w: %w", r.template, err, vzerror.ErrSystem)
	}

	p.phase("building %s with recipe %s", r.template, r.name)
	err = runRecipe(ctx, bash, script, work, append(r.env, "ROOTFS="+rootfs), p, opt.Verbose)
	if err != nil {
		return "", fmt.Errorf("building %s: %w", r.template, err)
	}
	// vzctl refuses a template without /sbin/init (VZ_FS_BAD_TMPL).
	_, err = os.Lstat(filepath.Join(rootfs, "sbin", "init"))
	if err != nil {
		return "", fmt.Errorf("building %s: recipe %s made no /sbin/init: %w", r.template, r.name, vzerror.ErrBadTemplate)
	}

	contents, err := detectContents(rootfs, r.template)
	if err != nil {
		return "", fmt.Errorf("building %s: %w", r.template, err)
	}

	final := filepath.Join(opt.CacheDir, r.template+".tar."+comp.ext)
	tmp := filepath.Join(work, r.template+".tar."+comp.ext)
	size, err := pack(ctx, tar, rootfs, tmp, comp, p)
	if err != nil {
		return "", fmt.Errorf("building %s: %w", r.template, err)
	}
	err = os.Rename(tmp, final)
	if err == nil {
		err = syncDir(opt.CacheDir)
	}
	if err != nil {
		return "", fmt.Errorf("storing %s: %w: %w", final, err, vzerror.ErrSystem)
	}
	// A rebuild in another compression must not leave the old tarball to
	// win Find's order.
	for _, s := range suffixes {
		other := filepath.Join(opt.CacheDir, r.template+s.ext)
		if other != final {
			err = os.Remove(other)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("removing old %s: %w: %w", other, err, vzerror.ErrSystem)
			}
		}
	}
	if err := writeContents(opt.CacheDir, r.template, contents); err != nil {
		return "", fmt.Errorf("storing the contents of %s: %w: %w", r.template, err, vzerror.ErrSystem)
	}
	p.phase("built %s in %.1fs: %s (%s)", r.template, time.Since(p.start).Seconds(), final, humanSize(size))
	return final, nil
}

// runRecipe runs the recipe script with bash as PID 1 of a new PID namespace
// with a private mount namespace (Go remounts / MS_REC|MS_PRIVATE when
// Unshareflags has CLONE_NEWNS). Killing that one process makes the kernel
// kill everything the recipe started, daemons included, and its mounts (proc
// and sys in debootstrap's chroot) vanish with the namespace. Pdeathsig
// covers vztmpl itself being killed.
func runRecipe(ctx context.Context, bash, script, dir string, env []string, p *progress, verbose bool) error {
	rd, wr, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("creating pipe: %w: %w", err, vzerror.ErrSystem)
	}
	defer rd.Close()
	cmd := exec.CommandContext(ctx, bash, script)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=/root", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}, env...)
	cmd.Stdout = wr
	cmd.Stderr = wr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:      true, // keep the terminal's ^C for vztmpl, which then cancels
		Cloneflags:   syscall.CLONE_NEWPID,
		Unshareflags: syscall.CLONE_NEWNS,
		Pdeathsig:    syscall.SIGKILL,
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGKILL) }
	err = cmd.Start()
	wr.Close()
	if err != nil {
		return fmt.Errorf("starting recipe: %w: %w", err, vzerror.ErrSystem)
	}

	// The pipe reaches EOF when the last process holding it exits, which
	// the PID namespace guarantees once bash is gone.
	var tail []string
	lastErr := ""
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if text, ok := strings.CutPrefix(line, "phase: "); ok {
			p.phase("%s", text)
			continue
		}
		if text, ok := strings.CutPrefix(line, "error: "); ok {
			lastErr = text
		}
		if verbose {
			p.detail(line)
		}
		tail = append(tail, line)
		if len(tail) > tailLines {
			tail = tail[1:]
		}
	}
	// A line longer than the scanner's buffer ends the loop early; keep the
	// pipe drained so the recipe never blocks writing to it.
	_, _ = io.Copy(io.Discard, rd)
	err = cmd.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	if err == nil {
		return nil
	}
	if !verbose && len(tail) > 0 {
		p.phase("last lines of the recipe's output:")
		for _, l := range tail {
			p.detail("    " + l)
		}
	}
	if lastErr == "" {
		lastErr = err.Error()
	}
	return fmt.Errorf("recipe failed: %s: %w", lastErr, vzerror.ErrSystem)
}

// removeStaleWork deletes the work directories of builds whose process is
// gone (killed with SIGKILL, or a crash). Those of running builds, this
// process's included, stay.
func removeStaleWork(cacheDir string) {
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), workPrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if unix.Kill(pid, 0) == unix.ESRCH {
			os.RemoveAll(filepath.Join(cacheDir, e.Name()))
		}
	}
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
