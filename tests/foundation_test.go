package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestCreateStatusDestroy(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101", "--hostname", "ct101", "--ipadd", "10.9.0.1")
	if r := n.ok("vzctl", "status", "101"); r.out != "CTID 101 exist unmounted down\n" {
		t.Fatalf("status: %q", r.out)
	}
	// The private area holds the template's tree.
	if fi, err := os.Lstat(n.path("private/101/sbin/init")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("private/101/sbin/init: %v %v", fi, err)
	}
	cfg, err := os.ReadFile(n.path("conf/101.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`hostname = "ct101"`, `ip_address = ["10.9.0.1"]`, `ostemplate = "busybox-` + arch() + `"`, `origin_sample = "vswap-256m"`, `physpages = "0:`} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config lacks %s:\n%s", want, cfg)
		}
	}
	n.ok("vzctl", "destroy", "101")
	if r := n.ok("vzctl", "status", "101"); r.out != "CTID 101 deleted unmounted down\n" {
		t.Fatalf("status after destroy: %q", r.out)
	}
	// No trace: no config, private area, mount point, lock or name.
	for _, p := range []string{"conf/101.toml", "private/101", "private/101.tmp", "root/101", "lock/101.lck", "run/101"} {
		if _, err := os.Lstat(n.path(p)); !os.IsNotExist(err) {
			t.Errorf("%s left after destroy: %v", p, err)
		}
	}
	// And the same CTID can be created again.
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "delete", "101")
}

func TestMountUmount(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "mount", "101")
	if r := n.ok("vzctl", "status", "101"); r.out != "CTID 101 exist mounted down\n" {
		t.Fatalf("status: %q", r.out)
	}
	if _, err := os.Stat(n.path("root/101/bin/busybox")); err != nil {
		t.Fatalf("root not showing the private area: %v", err)
	}
	n.fails(41, "vzctl", "mount", "101")
	n.fails(41, "vzctl", "destroy", "101")
	n.ok("vzctl", "umount", "101")
	if m := n.mounts(); len(m) != 0 {
		t.Fatalf("mounts left: %v", m)
	}
	n.fails(40, "vzctl", "umount", "101")
	if r := n.ok("vzctl", "status", "101"); r.out != "CTID 101 exist unmounted down\n" {
		t.Fatalf("status: %q", r.out)
	}
}

func TestSetSaveRoundTrip(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	n.ok("vzctl", "set", "101", "--hostname", "web.example.com", "--name", "web", "--description", "front end",
		"--onboot", "yes", "--bootorder", "7", "--disabled", "yes", "--nameserver", "10.0.0.53",
		"--nameserver", "fd00::53", "--searchdomain", "example.com", "--ipadd", "10.9.0.5", "--ipadd", "fd00:9::5/64", "--save")
	// Names work wherever a CTID does.
	if r := n.ok("vzctl", "status", "web"); r.out != "CTID 101 exist unmounted down\n" {
		t.Fatalf("status by name: %q", r.out)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(n.ok("vzlist", "-a", "-j").out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("vzlist -j: %v", got)
	}
	c := got[0]
	check := func(k string, want any) {
		t.Helper()
		b1, _ := json.Marshal(c[k])
		b2, _ := json.Marshal(want)
		if string(b1) != string(b2) {
			t.Errorf("%s = %s, want %s", k, b1, b2)
		}
	}
	check("ctid", 101)
	check("hostname", "web.example.com")
	check("name", "web")
	check("description", "front end")
	check("onboot", true)
	check("bootorder", 7)
	check("disabled", true)
	check("nameserver", []string{"10.0.0.53", "fd00::53"})
	check("searchdomain", []string{"example.com"})
	check("ip", []string{"10.9.0.5", "fd00:9::5/64"})
	// Deleting one address keeps the other; a new name frees the old one.
	n.ok("vzctl", "set", "web", "--ipdel", "10.9.0.5", "--name", "web2", "--save")
	if r := n.ok("vzlist", "-a", "-H", "-o", "ip,name"); strings.Join(strings.Fields(r.out), " ") != "fd00:9::5/64 web2" {
		t.Fatalf("after ipdel/rename: %q", r.out)
	}
	n.fails(21, "vzctl", "status", "web")
	// Without --save nothing changes on a stopped container.
	n.ok("vzctl", "set", "101", "--hostname", "other")
	if r := n.ok("vzlist", "-a", "-H", "-o", "hostname"); strings.TrimSpace(r.out) != "web.example.com" {
		t.Fatalf("set without --save changed the config: %q", r.out)
	}
	// A name can only be set with --save (vzctl).
	n.fails(20, "vzctl", "set", "101", "--name", "x")
	// Bad values exit with vzctl's codes and change nothing.
	n.fails(70, "vzctl", "set", "101", "--hostname", "bad_host!", "--save")
	n.fails(71, "vzctl", "set", "101", "--ipadd", "10.9.0.300", "--save")
	n.fails(72, "vzctl", "set", "101", "--nameserver", "dns.example.com", "--save")
	n.fails(73, "vzctl", "set", "101", "--searchdomain", "-bad-", "--save")
	n.fails(21, "vzctl", "set", "101", "--physpages", "12Q", "--save")
	n.fails(20, "vzctl", "set", "101", "--no-such-option", "1")
	// Sizes in vzctl's forms are normalised to the key's unit.
	n.ok("vzctl", "set", "101", "--physpages", "0:512M", "--diskspace", "1G:1.1G", "--numproc", "unlimited", "--save")
	r := n.ok("vzlist", "-a", "-H", "-o", "physpages.l,diskspace.s,diskspace.h,numproc.l")
	want := []string{"131072", "1048576", "1153434", "9223372036854775807"}
	if strings.Join(strings.Fields(r.out), " ") != strings.Join(want, " ") {
		t.Fatalf("normalised sizes: %q, want %v", r.out, want)
	}
}

func TestVzlist(t *testing.T) {
	n := newNode(t)
	n.ok("vzctl", "create", "103", "--hostname", "b.example", "--ipadd", "10.9.0.3")
	n.ok("vzctl", "create", "101", "--hostname", "c.example", "--ipadd", "10.9.0.1", "--ipadd", "10.9.0.11")
	n.ok("vzctl", "create", "102", "--hostname", "a.example", "--name", "alpha")
	// Default: running containers only; none run.
	if r := n.ok("vzlist"); strings.Contains(r.out, "101") {
		t.Fatalf("vzlist without -a listed a stopped container: %q", r.out)
	}
	r := n.ok("vzlist", "-a")
	lines := strings.Split(strings.TrimRight(r.out, "\n"), "\n")
	wantHdr := "      CTID      NPROC STATUS    IP_ADDR         HOSTNAME"
	if lines[0] != wantHdr {
		t.Fatalf("header %q, want %q", lines[0], wantHdr)
	}
	// vzctl's layout: %10s %10s %-9s %-15s %s; only the first IP of a list
	// shows when it is not the last column.
	if lines[1] != "       101          - stopped   10.9.0.1        c.example" {
		t.Fatalf("row %q", lines[1])
	}
	if len(lines) != 4 {
		t.Fatalf("want 3 rows: %q", r.out)
	}
	// -H -o, -1, sort by field and reversed.
	if r := n.ok("vzlist", "-a", "-H", "-o", "ctid", "-s", "hostname"); ids(r.out) != "102 103 101" {
		t.Fatalf("sort by hostname: %q", r.out)
	}
	if r := n.ok("vzlist", "-a", "-1", "-s", "-ctid"); ids(r.out) != "103 102 101" {
		t.Fatalf("-1 reverse sort: %q", r.out)
	}
	if r := n.ok("vzlist", "-aH", "-o", "ip", "101"); strings.TrimSpace(r.out) != "10.9.0.1 10.9.0.11" {
		t.Fatalf("last column keeps the whole list: %q", r.out)
	}
	if r := n.ok("vzlist", "-a", "-n", "-H", "-o", "smart_name", "-N", "alp*"); strings.TrimSpace(r.out) != "alpha" {
		t.Fatalf("name filter: %q", r.out)
	}
	if r := n.ok("vzlist", "-a", "-H", "-1", "-h", "*.example", "alpha", "101"); ids(r.out) != "101 102" {
		t.Fatalf("CTID arguments and names: %q", r.out)
	}
	// JSON parses, with vzctl's types.
	var js []map[string]any
	if err := json.Unmarshal([]byte(n.ok("vzlist", "-a", "-j").out), &js); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range js {
		if c["status"] != "stopped" {
			t.Errorf("status %v", c["status"])
		}
		got = append(got, c["hostname"].(string))
	}
	sort.Strings(got)
	if strings.Join(got, " ") != "a.example b.example c.example" {
		t.Fatalf("json hostnames %v", got)
	}
	if _, ok := js[0]["physpages"].(map[string]any)["limit"]; !ok {
		t.Fatalf("physpages not an object: %v", js[0]["physpages"])
	}
	n.fails(1, "vzlist", "-a", "-o", "nosuchfield")
	n.fails(1, "vzlist", "-a", "-j", "-o", "physpages.l")
	if r := n.ok("vzlist", "-L"); !strings.Contains(r.out, "numproc.f") {
		t.Fatalf("-L lacks suffixed fields: %q", r.out)
	}
}

func ids(out string) string { return strings.Join(strings.Fields(out), " ") }

func TestBadInput(t *testing.T) {
	n := newNode(t)
	for _, id := range []string{"abc", "../1", "0", "2147483645", "99999999999999999999", "-1", "1/2"} {
		n.fails(21, "vzctl", "status", id)
		n.fails(21, "vzctl", "create", id)
	}
	// Nothing was created from those.
	if ents, _ := os.ReadDir(n.path("private")); len(ents) != 0 {
		t.Fatalf("private area entries after bad ids: %v", ents)
	}
	n.ok("vzctl", "create", "101")
	n.fails(44, "vzctl", "create", "101")
	n.fails(91, "vzctl", "create", "102", "--ostemplate", "no-such-template")
	n.fails(82, "vzctl", "create", "102", "--config", "no-such-sample")
	n.ok("vzctl", "set", "101", "--ipadd", "10.9.0.1", "--save")
	n.fails(78, "vzctl", "create", "102", "--ipadd", "10.9.0.1/24", "--name", "n102")
	if _, err := os.Lstat(n.path("conf/names/n102")); !os.IsNotExist(err) {
		t.Fatalf("failed create left its name: %v", err)
	}
	n.fails(14, "vzctl", "mount", "102")
	n.fails(20, "vzctl", "frobnicate", "101")
	// A malformed config: the message names the file and the line.
	n.writeFile("conf/105.toml", "hostname = \"x\"\nip_address = [\"10.9.0.7\"\nname = 3\n")
	os.MkdirAll(n.path("private/105"), 0o755)
	r := n.fails(85, "vzctl", "mount", "105")
	if !strings.Contains(r.err, n.path("conf/105.toml")+":") {
		t.Fatalf("error does not name the file: %q", r.err)
	}
	n.writeFile("conf/105.toml", "hostname = 5\n")
	r = n.fails(85, "vzctl", "mount", "105")
	if !strings.Contains(r.err, "105.toml:1") || !strings.Contains(r.err, "hostname") {
		t.Fatalf("type error lacks file:line and key: %q", r.err)
	}
	n.writeFile("conf/105.toml", "lockdir = \"/tmp\"\n")
	r = n.fails(85, "vzctl", "mount", "105")
	if !strings.Contains(r.err, "lockdir") {
		t.Fatalf("global key in a container config: %q", r.err)
	}
	// A broken global config stops every command.
	n.writeFile("conf/vz.toml", "verbose = \"loud\"\n")
	r = n.fails(85, "vzctl", "status", "101")
	if !strings.Contains(r.err, "vz.toml:1") {
		t.Fatalf("global config error: %q", r.err)
	}
}

func TestRelocation(t *testing.T) {
	// Everything a command writes lands under VZ_ROOT, including the log.
	n := newNode(t)
	n.ok("vzctl", "create", "101")
	log, err := os.ReadFile(n.path("log/vzctl.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "vzctl : CT 101 : Container private area was created") {
		t.Fatalf("log line format: %q", log)
	}
	// --private and --root place the container elsewhere; destroy finds it.
	alt := t.TempDir()
	n.ok("vzctl", "create", "102", "--private", filepath.Join(alt, "p/$VEID"), "--root", filepath.Join(alt, "r/$VEID"))
	if _, err := os.Stat(filepath.Join(alt, "p/102/bin/busybox")); err != nil {
		t.Fatal(err)
	}
	n.ok("vzctl", "mount", "102")
	if _, err := os.Stat(filepath.Join(alt, "r/102/bin/busybox")); err != nil {
		t.Fatal(err)
	}
	n.ok("vzctl", "umount", "102")
	n.ok("vzctl", "destroy", "102")
	if _, err := os.Stat(filepath.Join(alt, "p/102")); !os.IsNotExist(err) {
		t.Fatalf("custom private area left: %v", err)
	}
}
