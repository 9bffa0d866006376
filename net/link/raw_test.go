package link

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"govz/internal/roottest"
)

// newAddrMsg is an RTM_NEWADDR of 10.9.9.9/32 on lo, as `ip addr save`
// saves one.
func newAddrMsg() []byte {
	m := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofIfAddrmsg, 64)
	h := m[unix.NLMSG_HDRLEN:]
	h[0], h[1] = unix.AF_INET, 32
	binary.NativeEndian.PutUint32(h[4:], 1) // lo
	for _, typ := range []uint16{unix.IFA_LOCAL, unix.IFA_ADDRESS} {
		m = binary.NativeEndian.AppendUint16(m, 8)
		m = binary.NativeEndian.AppendUint16(m, typ)
		m = append(m, 10, 9, 9, 9)
	}
	binary.NativeEndian.PutUint32(m, uint32(len(m)))
	binary.NativeEndian.PutUint16(m[4:], unix.RTM_NEWADDR)
	binary.NativeEndian.PutUint16(m[6:], unix.NLM_F_MULTI) // as dumped
	return m
}

// Raw sends saved messages into the namespace, not the caller's, and
// reports an existing object as ErrExist; InNetNS runs code there.
func TestRaw(t *testing.T) {
	roottest.Require(t, "network namespaces")
	ns := testNS(t, "r")
	r, err := OpenRawAt("/run/netns/" + ns)
	must(t, err)
	defer r.Close()
	must(t, r.Request(newAddrMsg(), unix.NLM_F_CREATE|unix.NLM_F_EXCL))
	if out := ip(t, "-n", ns, "addr", "show", "dev", "lo"); !strings.Contains(out, "10.9.9.9/32") {
		t.Fatalf("address not in the namespace:\n%s", out)
	}
	if out := ip(t, "addr", "show", "dev", "lo"); strings.Contains(out, "10.9.9.9") {
		t.Fatal("address added to the caller's namespace")
	}
	if err := r.Request(newAddrMsg(), unix.NLM_F_CREATE|unix.NLM_F_EXCL); !errors.Is(err, ErrExist) {
		t.Fatalf("adding it again: %v, want ErrExist", err)
	}
	if err := r.Request(newAddrMsg()[:10], 0); err == nil {
		t.Fatal("a truncated message sent")
	}

	ip(t, "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_default_ttl=77")
	var ttl []byte
	must(t, InNetNS("/run/netns/"+ns, func() (err error) {
		ttl, err = os.ReadFile("/proc/sys/net/ipv4/ip_default_ttl")
		return err
	}))
	if strings.TrimSpace(string(ttl)) != "77" {
		t.Fatalf("ip_default_ttl %q in the namespace, want 77", ttl)
	}
	own, err := os.ReadFile("/proc/sys/net/ipv4/ip_default_ttl")
	must(t, err)
	if strings.TrimSpace(string(own)) == "77" {
		t.Fatal("the test's own namespace has the value: test not meaningful")
	}
}
