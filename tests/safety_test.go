package tests

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// writeTemplate writes a gzip'ed tarball made of hdrs (a body per regular
// file) into the node's template cache.
func (n *node) writeTemplate(name string, entries []tarEntry) {
	n.t.Helper()
	f, err := os.Create(n.path("template/cache/" + name + ".tar.gz"))
	if err != nil {
		n.t.Fatal(err)
	}
	defer f.Close()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := e.hdr
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		h.Size = int64(len(e.body))
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(&h); err != nil {
			n.t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		n.t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		n.t.Fatal(err)
	}
}

type tarEntry struct {
	hdr  tar.Header
	body string
}

func dir(name string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}
func file(name, body string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg}, body: body}
}
func symlink(name, target string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target}}
}
func hardlink(name, target string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}}
}

func TestHostileTemplates(t *testing.T) {
	n := newNode(t)
	// A directory beside the installation that every archive aims at.
	outside := filepath.Join(t.TempDir(), "outside")
	os.MkdirAll(outside, 0o755)
	secret := filepath.Join(outside, "secret")
	os.WriteFile(secret, []byte("untouched"), 0o600)
	rel := func(from string) string { // a relative path from private/ID/<from> to outside
		r, _ := filepath.Rel(filepath.Join(n.path("private/200"), filepath.Dir(from)), outside)
		return r
	}
	base := []tarEntry{dir("./"), dir("./sbin/"), file("./sbin/init", "#!/bin/sh\n")}
	cases := map[string][]tarEntry{
		"dotdot":               {file("../../../../../../"+strings.TrimPrefix(outside, "/")+"/pwned", "x")},
		"dotdot-middle":        {dir("./a/"), file("./a/../../../../../../../../.."+outside+"/pwned", "x")},
		"absolute":             {file(outside+"/pwned", "x")},
		"symlink-abs":          {symlink("./etc", outside), file("./etc/pwned", "x")},
		"symlink-rel":          {symlink("./up", rel("up")), file("./up/pwned", "x")},
		"symlink-chain":        {symlink("./a", "../../../../../../../../.."), symlink("./b", "a"+outside), file("./b/pwned", "x")},
		"symlink-dir-then-dir": {symlink("./d", outside), dir("./d/sub/"), file("./d/sub/pwned", "x")},
		"hardlink-out":         {hardlink("./h", rel("h")+"/secret")},
		"hardlink-abs":         {hardlink("./h", secret)},
		"hardlink-via-symlink": {symlink("./s", outside), hardlink("./h", "./s/secret")},
		"symlink-overwrite":    {symlink("./victim", secret), file("./victim", "overwritten")},
	}
	for name, entries := range cases {
		t.Run(name, func(t *testing.T) {
			n.t = t
			n.writeTemplate("evil-"+name, append(append([]tarEntry{}, base...), entries...))
			r := n.run("vzctl", "create", "200", "--ostemplate", "evil-"+name)
			if r.code != 0 && r.code != 47 {
				t.Errorf("create: want success or 47 (broken template), got:\n%s", r)
			}
			ents, _ := os.ReadDir(outside)
			if len(ents) != 1 || ents[0].Name() != "secret" {
				t.Fatalf("something was written outside: %v", ents)
			}
			if b, _ := os.ReadFile(secret); string(b) != "untouched" {
				t.Fatalf("secret changed: %q", b)
			}
			var st syscall.Stat_t
			syscall.Stat(secret, &st)
			if st.Nlink != 1 {
				t.Fatalf("secret got %d hard links: linked from inside the container", st.Nlink)
			}
			if r.code == 0 {
				n.ok("vzctl", "destroy", "200")
			} else if r := n.ok("vzctl", "status", "200"); r.out != "CTID 200 deleted unmounted down\n" {
				t.Fatalf("failed create left a container: %q", r.out)
			}
			for _, p := range []string{"private/200", "private/200.tmp", "conf/200.toml"} {
				if _, err := os.Lstat(n.path(p)); !os.IsNotExist(err) {
					t.Fatalf("%s left behind: %v", p, err)
				}
			}
		})
	}
}

func TestConcurrentCreate(t *testing.T) {
	n := newNode(t)
	var wg sync.WaitGroup
	res := make([]result, 4)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = n.run("vzctl", "create", "101", "--hostname", fmt.Sprintf("h%d", i))
		}()
	}
	wg.Wait()
	wins := 0
	for _, r := range res {
		switch r.code {
		case 0:
			wins++
		case 9, 44:
		default:
			t.Errorf("loser failed uncleanly:\n%s", r)
		}
	}
	if wins != 1 {
		t.Fatalf("%d creates won, want 1: %v", wins, res)
	}
	if r := n.ok("vzctl", "status", "101"); r.out != "CTID 101 exist unmounted down\n" {
		t.Fatalf("status: %q", r.out)
	}
	if _, err := os.Stat(n.path("private/101.tmp")); !os.IsNotExist(err) {
		t.Fatalf("temp area left: %v", err)
	}
}

func TestKilledCreate(t *testing.T) {
	n := newNode(t)
	// A template big enough that create is still unpacking when killed.
	entries := []tarEntry{dir("./"), dir("./sbin/"), file("./sbin/init", "#!/bin/sh\n")}
	for d := 0; d < 40; d++ {
		entries = append(entries, dir(fmt.Sprintf("./d%d/", d)))
		for f := 0; f < 250; f++ {
			entries = append(entries, file(fmt.Sprintf("./d%d/f%d", d, f), strings.Repeat("x", 512)))
		}
	}
	n.writeTemplate("big", entries)
	c := n.cmd("vzctl", "create", "101", "--ostemplate", "big")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if ents, err := os.ReadDir(n.path("private/101.tmp")); err == nil && len(ents) > 3 {
			c.Process.Kill() // SIGKILL: no cleanup handler runs
			killed = true
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	c.Wait()
	if !killed {
		t.Fatal("create finished before it could be killed; make the template bigger")
	}
	if r := n.ok("vzctl", "status", "101"); r.out != "CTID 101 deleted unmounted down\n" {
		t.Fatalf("killed create looks like a container: %q", r.out)
	}
	if r := n.ok("vzlist", "-a", "-H"); strings.Contains(r.out, "101") {
		t.Fatalf("vzlist shows the half container: %q", r.out)
	}
	n.ok("vzctl", "create", "101")
	if r := n.ok("vzctl", "status", "101"); r.out != "CTID 101 exist unmounted down\n" {
		t.Fatalf("status: %q", r.out)
	}
	if _, err := os.Stat(n.path("private/101.tmp")); !os.IsNotExist(err) {
		t.Fatalf("temp area left: %v", err)
	}
	if _, err := os.Stat(n.path("private/101/d0")); !os.IsNotExist(err) {
		t.Fatalf("files of the killed create mixed in: %v", err)
	}
}

func TestLockHeld(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	// Hold the container's lock from another process, as a running vzctl would.
	os.MkdirAll(n.path("lock"), 0o755)
	holder := exec.Command("flock", "-o", n.path("lock/101.lck"), "sleep", "30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := n.run("vzctl", "mount", "101")
		if r.code == 9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want exit 9 while locked:\n%s", r)
		}
		if r.code == 0 {
			n.ok("vzctl", "umount", "101")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// status does not take the lock.
	n.ok("vzctl", "status", "101")
	holder.Process.Kill()
	holder.Wait()
	n.ok("vzctl", "mount", "101")
	n.ok("vzctl", "umount", "101")
}
