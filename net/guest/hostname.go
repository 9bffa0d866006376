package guest

import (
	"net/netip"
	"slices"
	"strings"
)

// applyHostname writes /etc/hostname, which every family reads
// (hostname(5); SUSE and RHEL since systemd, Alpine's hostname service),
// and govz's line in /etc/hosts.
func applyHostname(t tree, c Config) error {
	err := t.r.WriteFile(HostnameFile, []byte(c.Hostname+"\n"), 0o644)
	old, herr := t.read(HostsFile)
	if herr == nil {
		herr = t.r.WriteFile(HostsFile, []byte(Hosts(old, c.Hostname, hostsAddr(c.Addrs))), 0o644)
	}
	return joinLine([]error{err, herr})
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
