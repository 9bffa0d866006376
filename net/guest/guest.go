// Package guest writes a container's own network configuration from the
// host, as vzctl's per-distribution scripts did (vzctl.md §5.2): the host
// name (/etc/hostname, a line in /etc/hosts), DNS (resolv.conf), and the
// routed venet0 interface in the form the guest's networking service
// reads, so that restarting that service inside the container keeps
// venet0 configured: ifupdown's /etc/network/interfaces (Debian, Ubuntu)
// and a systemd-networkd unit. Every file is reached through
// internal/inroot, which keeps paths inside the container's root and
// refuses a FIFO, socket or device where a file belongs.
//
// The generators are pure functions of the old file and the wanted
// configuration; only Apply touches files.
package guest

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"govz/internal/inroot"
)

// Config is what the guest should say about its network.
type Config struct {
	Hostname    string         // "" = leave the host name alone
	Addrs       []netip.Prefix // routed addresses on venet0; none = no venet0
	IPv6        bool           // the IPv6 gateway exists
	Nameservers []string       // "" = leave resolv.conf's nameserver lines
	Search      []string       // nil = leave the search line
	GatewayV4   netip.Addr
	GatewayV6   netip.Addr
	Iface       string // "venet0"
}

// Files the generators own.
const (
	HostnameFile  = "/etc/hostname"
	HostsFile     = "/etc/hosts"
	ResolvFile    = "/etc/resolv.conf"
	InterfacesDir = "/etc/network"
	Interfaces    = "/etc/network/interfaces"
	NetworkdDir   = "/etc/systemd/network"
	NetworkdFile  = "/etc/systemd/network/10-govz-venet0.network"
)

// Apply brings the guest's files under root (the container's root on the
// host) in line with c. It writes only what c sets and only the
// networking flavours the guest has.
func Apply(root string, c Config) error {
	// Nothing is mounted inside a container's tree in the host's mount
	// namespace (the container's own mounts live in its namespace).
	r, err := inroot.Open(root, inroot.SameMount)
	if err != nil {
		return err
	}
	defer r.Close()
	var errs []error
	if c.Hostname != "" {
		errs = append(errs, r.WriteFile(HostnameFile, []byte(c.Hostname+"\n"), 0o644))
		old, err := readOptional(r, HostsFile)
		if err == nil {
			err = r.WriteFile(HostsFile, []byte(Hosts(old, c.Hostname, hostsAddr(c.Addrs))), 0o644)
		}
		errs = append(errs, err)
	}
	if len(c.Nameservers) > 0 || c.Search != nil {
		old, err := readOptional(r, ResolvFile)
		if err == nil {
			err = r.WriteFile(ResolvFile, []byte(Resolv(old, c.Nameservers, c.Search)), 0o644)
		}
		errs = append(errs, err)
	}
	if r.Exists(InterfacesDir) {
		old, err := readOptional(r, Interfaces)
		if err == nil {
			if upd := IfupdownFile(old, c); upd != old {
				err = r.WriteFile(Interfaces, []byte(upd), 0o644)
			}
		}
		errs = append(errs, err)
	}
	if r.Exists(NetworkdDir) {
		if len(c.Addrs) == 0 {
			errs = append(errs, r.Remove(NetworkdFile))
		} else {
			errs = append(errs, r.WriteFile(NetworkdFile, []byte(Networkd(c)), 0o644))
		}
	}
	return joinLine(errs)
}

// joinLine is errors.Join on one line: vzctl's errors are one line each.
func joinLine(errs []error) error {
	var set []any
	for _, err := range errs {
		if err != nil {
			set = append(set, err)
		}
	}
	if len(set) == 0 {
		return nil
	}
	return fmt.Errorf(strings.TrimSuffix(strings.Repeat("%w; ", len(set)), "; "), set...)
}

// maxFile bounds what is read from a guest's file: the guest controls it.
const maxFile = 1 << 20

func readOptional(r *inroot.Root, p string) (string, error) {
	b, err := r.ReadFile(p, maxFile)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	return string(b), err
}

// hostsAddr is the address /etc/hosts gives the host name: the first
// routed IPv4 address, else the first address, else Debian's 127.0.1.1.
func hostsAddr(addrs []netip.Prefix) string {
	for _, p := range addrs {
		if p.Addr().Is4() {
			return p.Addr().String()
		}
	}
	if len(addrs) > 0 {
		return addrs[0].Addr().String()
	}
	return "127.0.1.1"
}

// hostsMark ends the /etc/hosts line govz maintains.
const hostsMark = "# govz: host name"

// Hosts returns /etc/hosts with govz's line for hostname at addr,
// replacing the previous one, and a localhost line if there was none.
// Other lines stay as they are.
func Hosts(old, hostname, addr string) string {
	var lines []string
	hasLocalhost := false
	for _, l := range splitLines(old) {
		if strings.HasSuffix(l, hostsMark) {
			continue
		}
		f := strings.Fields(l)
		if len(f) > 1 && f[0] == "127.0.0.1" && slices.Contains(f[1:], "localhost") {
			hasLocalhost = true
		}
		lines = append(lines, l)
	}
	if !hasLocalhost {
		lines = append([]string{"127.0.0.1\tlocalhost"}, lines...)
	}
	names := hostname
	if short, _, ok := strings.Cut(hostname, "."); ok && short != "" {
		names += " " + short
	}
	lines = append(lines, addr+"\t"+names+"\t"+hostsMark)
	return strings.Join(lines, "\n") + "\n"
}

// Resolv returns resolv.conf with its nameserver lines replaced by
// servers (when given) and its search/domain lines by search (when not
// nil; empty removes them). Options and comments stay.
func Resolv(old string, servers, search []string) string {
	var keep []string
	for _, l := range splitLines(old) {
		f := strings.Fields(l)
		if len(f) > 0 && len(servers) > 0 && f[0] == "nameserver" {
			continue
		}
		if len(f) > 0 && search != nil && (f[0] == "search" || f[0] == "domain") {
			continue
		}
		keep = append(keep, l)
	}
	var out []string
	if len(search) > 0 {
		out = append(out, "search "+strings.Join(search, " "))
	}
	out = append(out, keep...)
	for _, s := range servers {
		out = append(out, "nameserver "+s)
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// The block of /etc/network/interfaces govz maintains.
const (
	ifBegin = "# BEGIN govz venet0: written by vzctl from ip_address; changes here are lost"
	ifEnd   = "# END govz venet0"
)

// IfupdownFile returns /etc/network/interfaces with govz's venet0 block
// for c in place of the previous one (or none when c has no addresses).
// ifupdown runs the commands on `ifup`, at boot and on every restart of
// its networking service; "replace" makes them idempotent, so an ifup of
// an interface the host already configured succeeds. A loopback stanza
// is added when the file has none, as vzctl's debian-add_ip did.
func IfupdownFile(old string, c Config) string {
	var lines []string
	in, found := false, false
	hasLo := false
	for _, l := range splitLines(old) {
		switch {
		case l == ifBegin:
			in, found = true, true
			continue
		case l == ifEnd && in:
			in = false
			continue
		case in:
			continue
		}
		if f := strings.Fields(l); len(f) >= 2 && (f[0] == "iface" || f[0] == "auto") && f[1] == "lo" {
			hasLo = true
		}
		lines = append(lines, l)
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	if len(c.Addrs) == 0 {
		if !found {
			return old
		}
		if len(lines) == 0 {
			return ""
		}
		return strings.Join(lines, "\n") + "\n"
	}
	if !hasLo {
		lines = append(lines, "", "auto lo", "iface lo inet loopback")
	}
	dev := c.Iface
	block := []string{"", ifBegin, "auto " + dev, "iface " + dev + " inet manual",
		"\tup ip link set dev " + dev + " up"}
	for _, p := range c.Addrs {
		if p.Addr().Is4() {
			block = append(block, fmt.Sprintf("\tup ip addr replace %s dev %s noprefixroute", p, dev))
		} else {
			block = append(block, fmt.Sprintf("\tup ip -6 addr replace %s dev %s noprefixroute nodad", p, dev))
		}
	}
	block = append(block, fmt.Sprintf("\tup ip route replace default via %s dev %s onlink", c.GatewayV4, dev))
	if c.IPv6 {
		block = append(block, fmt.Sprintf("\tup ip -6 route replace default via %s dev %s", c.GatewayV6, dev))
	}
	block = append(block, "\tdown ip addr flush dev "+dev+" scope global", ifEnd)
	return strings.Join(append(lines, block...), "\n") + "\n"
}

// Networkd returns the systemd-networkd unit for venet0: the same
// addresses without subnet routes, broadcast or duplicate address
// detection, the gateways, and no DHCP or router advertisements.
func Networkd(c Config) string {
	var b strings.Builder
	b.WriteString("# Written by vzctl from ip_address; changes here are lost.\n")
	fmt.Fprintf(&b, "[Match]\nName=%s\n\n[Network]\nDHCP=no\nIPv6AcceptRA=no\n", c.Iface)
	for _, p := range c.Addrs {
		fmt.Fprintf(&b, "\n[Address]\nAddress=%s\nAddPrefixRoute=no\n", p)
		if p.Addr().Is6() {
			b.WriteString("DuplicateAddressDetection=none\n")
		} else {
			// The kernel keeps an address's broadcast on a replace:
			// networkd wanting one the address lacks rewrites it forever.
			b.WriteString("Broadcast=no\n")
		}
	}
	fmt.Fprintf(&b, "\n[Route]\nGateway=%s\nGatewayOnLink=yes\n", c.GatewayV4)
	if c.IPv6 {
		fmt.Fprintf(&b, "\n[Route]\nGateway=%s\n", c.GatewayV6)
	}
	return b.String()
}

// HostResolv returns the nameservers and search domains of the host's
// resolv.conf (for "inherit"). A host running systemd-resolved lists its
// stub 127.0.0.53, useless inside a container: the upstream servers in
// resolved's own file are taken then.
func HostResolv(path string) (servers, search []string) {
	servers, search = parseResolv(path)
	loopback := len(servers) > 0
	for _, s := range servers {
		if a, err := netip.ParseAddr(s); err != nil || !a.IsLoopback() {
			loopback = false
		}
	}
	if loopback && path == "/etc/resolv.conf" {
		if up, _ := parseResolv("/run/systemd/resolve/resolv.conf"); len(up) > 0 {
			servers = up
		}
	}
	return servers, search
}

func parseResolv(path string) (servers, search []string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil
	}
	for _, l := range splitLines(string(b)) {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			servers = append(servers, f[1])
		case "search", "domain":
			search = f[1:]
		}
	}
	return servers, search
}
