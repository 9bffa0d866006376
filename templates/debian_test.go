package templates

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"govz/internal/roottest"
)

// TestBuildDebian builds the Debian template for real. It downloads about
// 100 packages and takes a minute or more, so it only runs with
// GOVZ_TEST_DEBIAN=1 (GOVZ_TEST_DEBIAN_SUITE picks another suite).
func TestBuildDebian(t *testing.T) {
	if os.Getenv("GOVZ_TEST_DEBIAN") != "1" {
		t.Skip("set GOVZ_TEST_DEBIAN=1 to build the Debian template (network, about a minute)")
	}
	roottest.Require(t, "namespaces, mknod, chroot")
	cache := t.TempDir()
	var out bytes.Buffer
	start := time.Now()
	p, err := Build(context.Background(), "debian", BuildOptions{
		CacheDir: cache, Suite: os.Getenv("GOVZ_TEST_DEBIAN_SUITE"), Out: &out,
	})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, out.String())
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s in %v", p, humanSize(st.Size()), time.Since(start).Round(time.Second))
	if got := dirNames(t, cache); len(got) != 1 {
		t.Errorf("cache holds %v, want only the template", got)
	}

	tb := readTarball(t, p)
	for name, e := range tb {
		if e.hdr.Uname != "" || e.hdr.Gname != "" {
			t.Errorf("%s: owner names %q/%q, want numeric only", name, e.hdr.Uname, e.hdr.Gname)
			break
		}
		if strings.HasPrefix(name, "./dev/") && name != "./dev/" {
			t.Errorf("%s: /dev must be empty", name)
		}
		if strings.HasPrefix(name, "./var/lib/apt/lists/") && e.hdr.Typeflag == tar.TypeReg {
			t.Errorf("%s: apt lists must be cleaned", name)
		}
	}
	link := func(name, target string) {
		t.Helper()
		e, ok := tb[name]
		if !ok || e.hdr.Typeflag != tar.TypeSymlink || e.hdr.Linkname != target {
			t.Errorf("%s: want a symlink to %s, got %+v", name, target, e.hdr)
		}
	}
	// Merged /usr (bookworm on): /sbin is a link to usr/sbin.
	init := "./sbin/init"
	if e, ok := tb["./sbin"]; ok && e.hdr.Typeflag == tar.TypeSymlink && e.hdr.Linkname == "usr/sbin" {
		init = "./usr/sbin/init"
	}
	link(init, "/lib/systemd/systemd")
	link("./etc/systemd/system/systemd-udevd.service", "/dev/null")
	link("./etc/systemd/system/systemd-timesyncd.service", "/dev/null")
	link("./etc/systemd/system/systemd-remount-fs.service", "/dev/null")
	link("./etc/systemd/system/getty.target.wants/console-getty.service", "/lib/systemd/system/console-getty.service")
	link("./etc/systemd/system/default.target", "/lib/systemd/system/multi-user.target")
	for _, empty := range []string{"./etc/machine-id", "./etc/hostname", "./etc/resolv.conf"} {
		e, ok := tb[empty]
		if !ok || e.hdr.Size != 0 {
			t.Errorf("%s: want an empty file", empty)
		}
	}
	if _, ok := tb["./etc/systemd/system/getty.target.wants/getty@tty1.service"]; ok {
		t.Errorf("getty@tty1 is enabled")
	}
	shadow := string(tb["./etc/shadow"].data)
	if !strings.HasPrefix(shadow, "root:!") {
		t.Errorf("root is not locked: %q", strings.SplitN(shadow, "\n", 2)[0])
	}
	// ping's file capability travels as an xattr.
	ping := tb["./usr/bin/ping"].hdr
	if ping == nil || ping.PAXRecords["SCHILY.xattr.security.capability"] == "" {
		t.Errorf("./usr/bin/ping lost its security.capability xattr")
	}
}
