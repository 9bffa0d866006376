package tests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A template that froze what must be unique per machine (a machine-id,
// SSH host keys, a random seed), as foreign (OpenVZ, image-built)
// templates do: every container made from it gets its own at create.

// frozenTemplate writes template NAME into the node's cache: the busybox
// template plus the given files.
func (n *node) frozenTemplate(name string, files map[string][]byte) {
	n.t.Helper()
	in, err := os.Open(busyboxTmpl)
	if err != nil {
		n.t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		n.t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tr := tar.NewReader(zr)
	dirs := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			n.t.Fatal(err)
		}
		if h.Typeflag == tar.TypeDir {
			dirs[strings.Trim(strings.TrimPrefix(h.Name, "."), "/")] = true
		}
		if err := tw.WriteHeader(h); err != nil {
			n.t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			n.t.Fatal(err)
		}
	}
	for p, b := range files {
		var parents []string
		for d := filepath.Dir(p); d != "." && !dirs[d]; d = filepath.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			tw.WriteHeader(&tar.Header{Name: "./" + d + "/", Typeflag: tar.TypeDir, Mode: 0o755})
			dirs[d] = true
		}
		mode := int64(0o644)
		if strings.Contains(p, "_key") && !strings.HasSuffix(p, ".pub") || strings.Contains(p, "random-seed") {
			mode = 0o600
		}
		if err := tw.WriteHeader(&tar.Header{Name: "./" + p, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(b))}); err != nil {
			n.t.Fatal(err)
		}
		tw.Write(b)
	}
	if err := tw.Close(); err != nil {
		n.t.Fatal(err)
	}
	zw.Close()
	n.writeFile("template/cache/"+name+".tar.gz", buf.String())
}

func TestFirstBootIdentity(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatal("the test needs the host's ssh-keygen (openssh-client)")
	}
	n := newNode(t)
	keyDir := t.TempDir()
	key := filepath.Join(keyDir, "k")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	priv, _ := os.ReadFile(key)
	pub, _ := os.ReadFile(key + ".pub")
	const frozenID = "0123456789abcdef0123456789abcdef\n"
	seed := bytes.Repeat([]byte{7}, 512)
	n.frozenTemplate("frozen-x86_64", map[string][]byte{
		"etc/machine-id":                   []byte(frozenID),
		"var/lib/dbus/machine-id":          []byte(frozenID),
		"etc/ssh/ssh_host_ed25519_key":     priv,
		"etc/ssh/ssh_host_ed25519_key.pub": pub,
		"var/lib/systemd/random-seed":      seed,
	})
	read := func(id, p string) []byte {
		b, err := os.ReadFile(n.path("private/" + id + "/" + p))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	got := map[string]map[string]string{}
	for _, id := range []string{"101", "102"} {
		n.ok("vzctl", "create", id, "--ostemplate", "frozen-x86_64")
		mid := string(read(id, "etc/machine-id"))
		if len(strings.TrimSpace(mid)) != 32 || strings.Trim(strings.TrimSpace(mid), "0123456789abcdef") != "" || mid == frozenID {
			t.Fatalf("container %s: machine-id %q", id, mid)
		}
		if d := string(read(id, "var/lib/dbus/machine-id")); d != mid {
			t.Fatalf("container %s: dbus machine-id %q, /etc's %q", id, d, mid)
		}
		k, kp := read(id, "etc/ssh/ssh_host_ed25519_key"), read(id, "etc/ssh/ssh_host_ed25519_key.pub")
		if bytes.Equal(k, priv) || bytes.Equal(kp, pub) || !strings.HasPrefix(string(kp), "ssh-ed25519 ") {
			t.Fatalf("container %s: the template's host key stayed or the new one is no ed25519 key: %q", id, kp)
		}
		// The fresh key is a key pair: its public half derives from it.
		derived, err := exec.Command("ssh-keygen", "-y", "-f", n.path("private/"+id+"/etc/ssh/ssh_host_ed25519_key")).Output()
		if err != nil || strings.Fields(string(derived))[1] != strings.Fields(string(kp))[1] {
			t.Fatalf("container %s: host key and its .pub do not match: %v", id, err)
		}
		if st, err := os.Stat(n.path("private/" + id + "/etc/ssh/ssh_host_ed25519_key")); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("container %s: host key mode: %v %v", id, st.Mode(), err)
		}
		s := read(id, "var/lib/systemd/random-seed")
		if len(s) != 512 || bytes.Equal(s, seed) {
			t.Fatalf("container %s: random seed kept", id)
		}
		got[id] = map[string]string{"machine-id": mid, "key": string(kp), "seed": string(s)}
	}
	for k := range got["101"] {
		if got["101"][k] == got["102"][k] {
			t.Errorf("containers 101 and 102 share their %s", k)
		}
	}
	if m := n.mounts(); len(m) != 0 {
		t.Fatalf("create left mounts: %v", m)
	}
	// A template that leaves machine-id empty (govz's own) keeps it
	// empty: systemd makes one at first boot.
	n.frozenTemplate("firstboot-x86_64", map[string][]byte{"etc/machine-id": nil})
	n.ok("vzctl", "create", "103", "--ostemplate", "firstboot-x86_64")
	if b := read("103", "etc/machine-id"); len(b) != 0 {
		t.Fatalf("an empty machine-id was filled: %q", b)
	}
}
