package templates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"govz/net/guest"
)

// Contents is what a template's tree holds, as net/guest detects it in a
// container made from it: the distribution, the init and the network
// configurations the host writes for it.
type Contents struct {
	OS      string   `json:"os,omitempty"`
	Init    string   `json:"init,omitempty"`
	Network []string `json:"network,omitempty"`
}

// contentsSuffix names the file next to a template that records its
// Contents (written by Build, or by the first Contents call): not a
// template suffix, so List never takes it for one.
const contentsSuffix = ".contents.json"

func contentsOf(g guest.Guest) Contents {
	c := Contents{OS: g.OS.ID, Init: g.Init, Network: g.Network}
	if g.OS.Version != "" {
		c.OS += " " + g.OS.Version
	}
	return c
}

// detectContents looks at a built tree.
func detectContents(rootfs, name string) (Contents, error) {
	g, err := guest.Detect(rootfs, name)
	if err != nil {
		return Contents{}, err
	}
	return contentsOf(g), nil
}

func writeContents(dir, name string, c Contents) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".govz-contents-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, name+contentsSuffix))
}

// probePatterns are the members of a tarball detection reads (net/guest
// looks only in /etc and at the binaries of inits and network stacks), so
// a template without a contents file is read without unpacking all of it.
var probePatterns = []string{"./etc/*", "./sbin", "./sbin/*", "./usr/sbin/*", "./lib", "./usr/lib/os-release",
	"./lib/systemd/systemd-resolved", "./usr/lib/systemd/systemd-resolved", "./usr/share/netplan/netplan.script",
	"./usr/bin/dhcpcd"}

// Contents returns what template t holds: from the file Build wrote next
// to it, else from its tarball (a template copied into the cache), which
// is then recorded the same way when the cache is writable.
func (c Cache) Contents(ctx context.Context, t Template) (Contents, error) {
	b, err := os.ReadFile(filepath.Join(c.Dir, t.Name+contentsSuffix))
	if err == nil {
		var ct Contents
		if err := json.Unmarshal(b, &ct); err != nil {
			return Contents{}, fmt.Errorf("reading %s: %w", filepath.Join(c.Dir, t.Name+contentsSuffix), err)
		}
		return ct, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return Contents{}, err
	}
	tmp, err := os.MkdirTemp("", "govz-contents-")
	if err != nil {
		return Contents{}, err
	}
	defer os.RemoveAll(tmp)
	// GNU tar detects the compression; members that are not there make
	// it exit 2 after extracting the rest, which is expected.
	args := append([]string{"-xf", t.Path, "-C", tmp, "--no-same-owner", "--no-same-permissions", "--no-recursion",
		"--wildcards", "--exclude=./dev/*"}, probePatterns...)
	out, err := exec.CommandContext(ctx, "tar", args...).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 2) {
		return Contents{}, fmt.Errorf("reading %s: %w: %s", t.Path, err, strings.TrimSpace(string(out)))
	}
	ct, err := detectContents(tmp, t.Name)
	if err != nil {
		return Contents{}, err
	}
	_ = writeContents(c.Dir, t.Name, ct) // a read-only cache only costs a re-read
	return ct, nil
}
