package grants

import (
	"errors"
	"govz/ct/vzerror"
	"slices"
	"strings"
	"testing"

	"govz/ct/rootfs"
)

func TestParseFeatures(t *testing.T) {
	fs, err := ParseFeatures([]string{"tun:on,fuse:on", "ppp:off", "bridge:on", "nfs:off", "tun:off", "TUN:on"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := FeatureDevNodes(fs), []string{"fuse:rw", "net/tun:rw"}; !slices.Equal(got, want) {
		t.Fatalf("devnodes %v, want %v", got, want)
	}
	for _, bad := range []string{"bogus:on", "tun", "tun:yes", "nfs:on", "nfsd:on", "bridge:off", "sysfs:off", ":on"} {
		_, err := ParseFeatures([]string{bad})
		if !errors.Is(err, ErrBadValue) {
			t.Errorf("%s: %v, want invalid value", bad, err)
			continue
		}
		name, _, _ := strings.Cut(bad, ":")
		if !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %q does not name the value", bad, err)
		}
	}
}

func TestParseDevNodes(t *testing.T) {
	d, err := ParseDevNodes([]string{"net/tun:rw", "fuse:wr", "kvm:r", "kvm:none"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []DevNode{{"net/tun", "rw"}, {"fuse", "rw"}}; !slices.Equal(d, want) {
		t.Fatalf("%v, want %v", d, want)
	}
	for _, bad := range []string{"tun", "fuse:x", "fuse:rwq", "fuse:", "/dev/fuse:rw", "../sda:rw", "net//tun:rw", "pts/0:rw", "console:rw", ":rw"} {
		// Paths the runtime manages are refused by ct/rootfs, with its class.
		if _, err := ParseDevNodes([]string{bad}); !errors.Is(err, ErrBadValue) && !errors.Is(err, vzerror.ErrInvalidValue) {
			t.Errorf("%s: %v, want invalid value", bad, err)
		}
	}
}

func TestParseDevices(t *testing.T) {
	r, err := ParseDevices([]string{"c:10:200:rw", "b:8:all:r", "c:1:1:w", "c:1:1:none"})
	if err != nil {
		t.Fatal(err)
	}
	want := []rootfs.Rule{{Type: 'c', Major: 10, Minor: 200, Access: "rw"}, {Type: 'b', Major: 8, Minor: -1, Access: "r"}}
	if !slices.Equal(r, want) {
		t.Fatalf("%v, want %v", r, want)
	}
	for _, bad := range []string{"all:rw", "x:1:2:rw", "c:1:rw", "c:a:2:rw", "c:1:b:rw", "c:-1:2:rw", "c:1:2:rwq", "c:1:2:m", "c:4096:0:r"} {
		if _, err := ParseDevices([]string{bad}); !errors.Is(err, ErrBadValue) || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: %v, want invalid value naming it", bad, err)
		}
	}
}

func TestCheckNetfilter(t *testing.T) {
	if err := CheckNetfilter("full"); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"disabled", "stateless", "stateful", "bogus", ""} {
		if err := CheckNetfilter(v); !errors.Is(err, ErrBadValue) || !strings.Contains(err.Error(), "netfilter") {
			t.Errorf("%q: %v", v, err)
		}
	}
}
