package guest

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"govz/internal/inroot"
)

func cfg(addrs ...string) Config {
	c := Config{Iface: "venet0", IPv6: true, GatewayV4: netip.MustParseAddr("169.254.0.1"), GatewayV6: netip.MustParseAddr("fe80::1")}
	for _, a := range addrs {
		c.Addrs = append(c.Addrs, netip.MustParsePrefix(a))
	}
	return c
}

func TestHosts(t *testing.T) {
	for _, tc := range []struct{ name, old, host, addr, want string }{
		{"template", "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost\n", "ct1.example.com", "10.0.0.1",
			"127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost\n10.0.0.1\tct1.example.com ct1\t# govz: host name\n"},
		{"replaces its own line only", "127.0.0.1 localhost\n10.0.0.9 other\n10.0.0.1\told.example old\t# govz: host name\n", "new", "127.0.1.1",
			"127.0.0.1 localhost\n10.0.0.9 other\n127.0.1.1\tnew\t# govz: host name\n"},
		{"empty file gets localhost", "", "h", "10.0.0.1", "127.0.0.1\tlocalhost\n10.0.0.1\th\t# govz: host name\n"},
	} {
		if got := Hosts(tc.old, tc.host, tc.addr); got != tc.want {
			t.Errorf("%s:\n%q\nwant\n%q", tc.name, got, tc.want)
		}
	}
	if got := hostsAddr([]netip.Prefix{netip.MustParsePrefix("fd00::1/64"), netip.MustParsePrefix("10.1.1.1/32")}); got != "10.1.1.1" {
		t.Errorf("hosts address %s", got)
	}
}

func TestResolv(t *testing.T) {
	old := "# from dhcp\ndomain old.example\nsearch a.example\nnameserver 1.1.1.1\noptions rotate\nnameserver 8.8.8.8\n"
	for _, tc := range []struct {
		name            string
		servers, search []string
		want            string
	}{
		{"both", []string{"10.0.0.53", "fd00::53"}, []string{"x.example", "y.example"},
			"search x.example y.example\n# from dhcp\noptions rotate\nnameserver 10.0.0.53\nnameserver fd00::53\n"},
		{"servers only", []string{"10.0.0.53"}, nil,
			"# from dhcp\ndomain old.example\nsearch a.example\noptions rotate\nnameserver 10.0.0.53\n"},
		{"search only", nil, []string{"x.example"},
			"search x.example\n# from dhcp\nnameserver 1.1.1.1\noptions rotate\nnameserver 8.8.8.8\n"},
		{"clear search", nil, []string{},
			"# from dhcp\nnameserver 1.1.1.1\noptions rotate\nnameserver 8.8.8.8\n"},
	} {
		if got := Resolv(old, tc.servers, tc.search); got != tc.want {
			t.Errorf("%s:\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
}

const debianInterfaces = "# interfaces(5) file used by ifup(8) and ifdown(8)\n# Include files from /etc/network/interfaces.d:\nsource /etc/network/interfaces.d/*\n"

func TestIfupdown(t *testing.T) {
	c := cfg("10.77.0.10/24", "10.77.0.11/32", "fd00:77::10/64")
	got := IfupdownFile(debianInterfaces, c)
	want := debianInterfaces + `
auto lo
iface lo inet loopback

# BEGIN govz venet0: written by vzctl from ip_address; changes here are lost
auto venet0
iface venet0 inet manual
	up ip link set dev venet0 up
	up ip addr replace 10.77.0.10/24 dev venet0 noprefixroute
	up ip addr replace 10.77.0.11/32 dev venet0 noprefixroute
	up ip -6 addr replace fd00:77::10/64 dev venet0 noprefixroute nodad
	up ip route replace default via 169.254.0.1 dev venet0 onlink
	up ip -6 route replace default via fe80::1 dev venet0
	down ip addr flush dev venet0 scope global
# END govz venet0
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// Regenerating replaces the block and keeps the rest.
	user := got + "\nauto eth1\niface eth1 inet dhcp\n"
	again := IfupdownFile(user, cfg("10.77.0.12/32"))
	if strings.Contains(again, "10.77.0.10") || !strings.Contains(again, "10.77.0.12/32") ||
		!strings.Contains(again, "iface eth1 inet dhcp") || strings.Count(again, "iface lo") != 1 {
		t.Errorf("regenerated:\n%s", again)
	}
	// No addresses: the block goes, the rest stays.
	gone := IfupdownFile(user, cfg())
	if strings.Contains(gone, "venet0") || !strings.Contains(gone, "iface eth1 inet dhcp") {
		t.Errorf("without addresses:\n%s", gone)
	}
	if IfupdownFile(debianInterfaces, cfg()) != debianInterfaces {
		t.Error("a file without our block changed although there is nothing to write")
	}
}

func TestNetworkd(t *testing.T) {
	got := Networkd(cfg("10.77.0.10/24", "fd00:77::10/64"))
	want := Marker + `
[Match]
Name=venet0

[Network]
DHCP=no
IPv6AcceptRA=no

[Address]
Address=10.77.0.10/24
AddPrefixRoute=no
Broadcast=no

[Address]
Address=fd00:77::10/64
AddPrefixRoute=no
DuplicateAddressDetection=none

[Route]
Gateway=169.254.0.1
GatewayOnLink=yes

[Route]
Gateway=fe80::1
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestConfined plants the symlinks a hostile guest could and checks that
// writes stay inside its root.
func TestConfined(t *testing.T) {
	outside := t.TempDir()
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "etc/network"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "etc/systemd"), 0o755))
	// /etc/hostname -> the host's file (absolute), /etc/resolv.conf -> up
	// and out (relative), /etc/systemd/network -> an absolute directory
	// outside, /etc/hosts a regular file.
	must(os.WriteFile(filepath.Join(outside, "hostname"), []byte("host\n"), 0o644))
	must(os.Symlink(filepath.Join(outside, "hostname"), filepath.Join(root, "etc/hostname")))
	must(os.Symlink("../../../../../../../../.."+outside+"/resolv.conf", filepath.Join(root, "etc/resolv.conf")))
	must(os.Symlink(outside, filepath.Join(root, "etc/systemd/network")))
	must(os.WriteFile(filepath.Join(root, "etc/hosts"), []byte("127.0.0.1 localhost\n"), 0o600))

	c := cfg("10.77.0.10/32")
	c.Hostname, c.Nameservers = "ct.example", []string{"10.0.0.53"}
	// systemd/network resolves inside the root, to a directory that does
	// not exist there: the guest has no networkd configuration to write.
	must(Apply(root, c))
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 {
		t.Errorf("files appeared outside the root: %v", ents)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "hostname")); string(b) != "host\n" {
		t.Errorf("the host's hostname file changed: %q", b)
	}
	// The symlinks were replaced by files inside the root.
	for f, want := range map[string]string{"etc/hostname": "ct.example\n", "etc/resolv.conf": "nameserver 10.0.0.53\n"} {
		fi, err := os.Lstat(filepath.Join(root, f))
		if err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s: %v %v", f, fi, err)
			continue
		}
		if b, _ := os.ReadFile(filepath.Join(root, f)); string(b) != want {
			t.Errorf("%s: %q, want %q", f, b, want)
		}
	}
	if fi, _ := os.Stat(filepath.Join(root, "etc/hosts")); fi.Mode().Perm() != 0o600 {
		t.Errorf("hosts mode %v, want the old 0600 kept", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/network/interfaces")); !strings.Contains(string(b), "up ip addr replace 10.77.0.10/32 dev venet0") {
		t.Errorf("interfaces:\n%s", b)
	}
	left, _ := filepath.Glob(filepath.Join(root, "etc/.govz-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestApplyRefusesFifo: a guest's FIFO where resolv.conf belongs is
// refused by name, on one line, without blocking (the open used to hang).
func TestApplyRefusesFifo(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	if err := syscall.Mkfifo(filepath.Join(root, "etc", "resolv.conf"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "etc", "hosts"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- Apply(root, Config{Hostname: "h", Nameservers: []string{"10.0.0.53"}})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, inroot.ErrWrongType) || strings.Contains(err.Error(), "\n") ||
			!strings.Contains(err.Error(), root+"/etc/resolv.conf is a fifo") || !strings.Contains(err.Error(), root+"/etc/hosts is a fifo") {
			t.Errorf("Apply: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Apply blocked on the guest's FIFO")
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc", "hostname")); err != nil || string(b) != "h\n" {
		t.Errorf("hostname: %q %v", b, err)
	}
}
