package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// checkMigrateJSON checks vzmigrate --json output as vzmigrate(8)
// documents it: every line a JSON object with an event; progress events
// with a known stage; exactly one final event, last, with the exit code:
// done with its result fields, or error with a message.
func checkMigrateJSON(t *testing.T, out string, wantCode int) map[string]any {
	t.Helper()
	evs := jsonEvents(t, out)
	stages := map[string]bool{"check": true, "stop": true, "copy": true, "start": true, "cleanup": true,
		"predump": true, "sync": true, "freeze": true, "restore": true}
	for i, ev := range evs {
		switch ev["event"] {
		case "progress":
			if !stages[ev["stage"].(string)] {
				t.Errorf("--json line %d: unknown stage %v", i, ev)
			}
			if d, ok := ev["done"]; ok {
				if _, ok := d.(float64); !ok || ev["total"] == nil {
					t.Errorf("--json line %d: done/total: %v", i, ev)
				}
			}
		case "done", "error":
			if i != len(evs)-1 {
				t.Errorf("--json: final event %v is not last", ev)
			}
		default:
			t.Errorf("--json line %d: no known event: %v", i, ev)
		}
	}
	last := evs[len(evs)-1]
	if code, _ := last["code"].(float64); int(code) != wantCode {
		t.Fatalf("--json final event %v: want code %d", last, wantCode)
	}
	if wantCode != 0 {
		if m, _ := last["message"].(string); last["event"] != "error" || m == "" {
			t.Errorf("--json final event %v: want an error with a message", last)
		}
		return nil
	}
	res, ok := last["result"].(map[string]any)
	if last["event"] != "done" || !ok {
		t.Fatalf("--json final event %v: want done with a result", last)
	}
	for _, f := range []string{"ctid", "bytes", "seconds", "downtime_seconds"} {
		if _, ok := res[f].(float64); !ok {
			t.Errorf("--json result lacks number %s: %v", f, res)
		}
	}
	if _, ok := res["dest"].(string); !ok {
		t.Errorf("--json result lacks dest: %v", res)
	}
	if _, ok := res["was_running"].(bool); !ok {
		t.Errorf("--json result lacks was_running: %v", res)
	}
	return res
}

func exists(n *node, rel string) bool {
	_, err := os.Lstat(n.path(rel))
	return err == nil
}

// TestMigrateConflictsKeepDst: a name (15), an address (12) or the host ID
// range (6) taken on the destination is refused before the stop; a container that does not start
// there (its premount script fails: 7) is destroyed there, or with
// --keep-dst set aside as 101.toml.kept and private/101.kept, unregistered,
// so a retry goes through. That retry with -r no keeps the private area
// here, the config as 101.toml.migrated, and releases the name: its link
// no longer points at the retired config.
func TestMigrateConflictsKeepDst(t *testing.T) {
	w := newMigWorld(t)
	src, dst := w.src, w.dst
	const addr = "10.78.0.50"
	src.ok("vzctl", "create", "101", "--ostemplate", "busybox-"+arch(), "--ipadd", addr, "--name", "migweb", "--local_uid", "auto")
	src.ok("vzctl", "start", "101")
	src.ok("vzctl", "exec2", "101", "echo before > /root/f")
	boot := func() string { s, _ := src.runState("101"); return s }
	boot0 := boot()

	dst.ok("vzctl", "create", "200", "--ostemplate", "busybox-"+arch(), "--name", "migweb")
	r := src.result(w.vzmigrate("--json", "root@10.78.0.3", "101"))
	if r.code != 15 || !strings.Contains(r.err, "migweb") {
		t.Errorf("name taken on the destination: want exit 15 naming it, got:\n%s", r)
	}
	checkMigrateJSON(t, r.out, 15)
	dst.ok("vzctl", "destroy", "200")

	dst.ok("vzctl", "create", "201", "--ostemplate", "busybox-"+arch(), "--ipadd", addr+"/24")
	r = src.result(w.vzmigrate("root@10.78.0.3", "101"))
	if r.code != 12 || !strings.Contains(r.err, addr) {
		t.Errorf("address taken on the destination: want exit 12 naming it, got:\n%s", r)
	}
	dst.ok("vzctl", "destroy", "201")

	// Its host ID range is taken there: receive keeps a backup's range.
	uid := strings.TrimSpace(src.ok("vzlist", "-H", "-o", "local_uid", "101").out)
	dst.ok("vzctl", "create", "202", "--ostemplate", "busybox-"+arch(), "--local_uid", uid, "--local_gid", uid)
	r = src.result(w.vzmigrate("root@10.78.0.3", "101"))
	if r.code != 6 || !strings.Contains(r.err, "host IDs") {
		t.Errorf("ID range taken on the destination: want exit 6 naming it, got:\n%s", r)
	}
	dst.ok("vzctl", "destroy", "202")
	nothingOn(t, dst, "101")
	if b := boot(); b != boot0 {
		t.Errorf("a refused migration stopped the container (boot %q -> %q)", boot0, b)
	}
	w.runningWith(t, src, "101", "before", addr)

	// The container does not start on the destination.
	dst.writeFile("conf/vps.premount", "#!/bin/sh\necho no mounts today >&2\nexit 1\n")
	os.Chmod(dst.path("conf/vps.premount"), 0o755)
	r = src.result(w.vzmigrate("root@10.78.0.3", "101"))
	if r.code != 7 {
		t.Errorf("start fails on the destination: want exit 7, got:\n%s", r)
	}
	nothingOn(t, dst, "101")
	w.runningWith(t, src, "101", "before", addr)

	r = src.result(w.vzmigrate("--keep-dst", "root@10.78.0.3", "101"))
	if r.code != 7 {
		t.Errorf("--keep-dst, start fails on the destination: want exit 7, got:\n%s", r)
	}
	for _, p := range []string{"conf/101.toml.kept", "private/101.kept/root/f"} {
		if !exists(dst, p) {
			t.Errorf("--keep-dst: the destination has no %s", p)
		}
	}
	for _, p := range []string{"conf/101.toml", "private/101", "conf/names/migweb"} {
		if exists(dst, p) {
			t.Errorf("--keep-dst: the destination still registers %s", p)
		}
	}
	if st := dst.ok("vzctl", "status", "101").out; !strings.Contains(st, "deleted") {
		t.Errorf("--keep-dst: destination status %q", st)
	}
	w.runningWith(t, src, "101", "before", addr)

	// The retry, with -r no.
	os.Remove(dst.path("conf/vps.premount"))
	src.ok("vzctl", "exec2", "101", "echo after > /root/f")
	r = src.result(w.vzmigrate("--json", "-r", "no", "root@10.78.0.3", "101"))
	if r.code != 0 {
		t.Fatalf("retry after --keep-dst:\n%s", r)
	}
	if res := checkMigrateJSON(t, r.out, 0); res["was_running"] != true || res["ctid"] != float64(101) || res["dest"] != "root@10.78.0.3" {
		t.Errorf("--json result: %v", res)
	}
	w.runningWith(t, dst, "migweb", "after", addr)
	if !exists(dst, "private/101.kept") {
		t.Error("the retry removed the kept copy (the admin's)")
	}
	for _, p := range []string{"conf/101.toml.migrated", "private/101/root/f"} {
		if !exists(src, p) {
			t.Errorf("-r no: the source has no %s", p)
		}
	}
	for _, p := range []string{"conf/101.toml", "conf/names/migweb"} {
		if exists(src, p) {
			t.Errorf("-r no: the source still has %s", p)
		}
	}
	if r := src.run("vzctl", "status", "migweb"); r.code == 0 {
		t.Errorf("-r no: the name still resolves on the source:\n%s", r)
	}
	if ids := strings.Fields(src.ok("vzlist", "-a", "-H", "-o", "ctid").out); len(ids) != 0 {
		t.Errorf("-r no: the source lists %v", ids)
	}
}

// TestMigrateBridged moves a container whose only interface is a veth on
// the node bridge br0: on the destination it is on that node's br0 with
// the same MAC (the LAN's neighbour caches stay right), the source has no
// host end left, and the LAN reaches it.
func TestMigrateBridged(t *testing.T) {
	w := newMigWorld(t)
	src, dst := w.src, w.dst
	const addr = "10.78.0.61"
	src.ok("vzctl", "create", "102", "--ostemplate", "busybox-"+arch(), "--name", "bridged")
	src.ok("vzctl", "set", "102", "--netif_add", "eth0,,,,br0", "--save")
	src.ok("vzctl", "start", "102")
	setAddr := func(n *node) {
		n.ok("vzctl", "exec", "102", "ip link set eth0 up && ip addr add "+addr+"/24 dev eth0")
	}
	setAddr(src)
	src.ok("vzctl", "exec2", "102", "echo bridged > /root/f")
	mac := strings.TrimSpace(src.ok("vzctl", "exec2", "102", "cat /sys/class/net/eth0/address").out)
	if !regexp.MustCompile(`^[0-9a-f:]{17}$`).MatchString(mac) || !w.lanPings(addr) {
		t.Fatalf("bridged container on the source: mac %q, LAN reaches it: false", mac)
	}
	r := src.result(w.vzmigrate("root@10.78.0.3", "102"))
	if r.code != 0 {
		t.Fatalf("vzmigrate:\n%s", r)
	}
	nothingOn(t, src, "102")
	if out, _ := exec.Command("ip", "-n", src.netns, "link").CombinedOutput(); strings.Contains(string(out), "veth102") {
		t.Errorf("the source keeps the host end:\n%s", out)
	}
	if got := strings.TrimSpace(dst.ok("vzctl", "exec2", "102", "cat /sys/class/net/eth0/address").out); got != mac {
		t.Errorf("MAC on the destination %q, was %q", got, mac)
	}
	if out, err := exec.Command("ip", "-n", dst.netns, "-o", "link", "show", "master", "br0").CombinedOutput(); err != nil || !strings.Contains(string(out), "veth102.0") {
		t.Errorf("veth102.0 not on the destination's br0 (%v):\n%s", err, out)
	}
	// busybox keeps no network configuration of its own: set it again.
	setAddr(dst)
	w.runningWith(t, dst, "bridged", "bridged", addr)
}

// TestMigrateDebian moves a running Debian 12 (systemd) guest with a routed
// address: it boots on the destination to a running system with no failed
// unit, with its files, and the LAN reaches it.
func TestMigrateDebian(t *testing.T) {
	w := newMigWorld(t)
	src, dst := w.src, w.dst
	tmpl := debianTemplate(t)
	if err := os.Link(tmpl, src.path("template/cache/"+filepath.Base(tmpl))); err != nil {
		t.Fatal(err)
	}
	const addr = "10.78.0.70"
	name := strings.TrimSuffix(filepath.Base(tmpl), ".tar.gz")
	src.ok("vzctl", "create", "103", "--ostemplate", name, "--ipadd", addr, "--hostname", "deb103")
	src.ok("vzctl", "start", "103", "--wait")
	src.ok("vzctl", "exec2", "103", "echo debian > /root/f")
	r := src.result(w.vzmigrate("--json", "root@10.78.0.3", "103"))
	if r.code != 0 {
		t.Fatalf("vzmigrate:\n%s", r)
	}
	res := checkMigrateJSON(t, r.out, 0)
	t.Logf("offline migration of a Debian guest: %.2f s, downtime %.2f s, %v bytes", res["seconds"], res["downtime_seconds"], res["bytes"])
	nothingOn(t, src, "103")
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := strings.TrimSpace(dst.run("vzctl", "exec2", "103", "systemctl", "is-system-running", "--wait").out)
		if st == "running" {
			break
		}
		if time.Now().After(deadline) {
			failed := dst.run("vzctl", "exec2", "103", "systemctl", "--failed", "--no-legend", "--no-pager")
			t.Fatalf("is-system-running on the destination: %q; failed units:\n%s", st, failed.out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	w.runningWith(t, dst, "103", "debian", addr)
	if got := strings.TrimSpace(dst.ok("vzctl", "exec2", "103", "hostname").out); got != "deb103" {
		t.Errorf("hostname on the destination %q", got)
	}
}
