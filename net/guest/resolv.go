package guest

import (
	"net/netip"
	"os"
	"strings"
)

// DNS goes where the guest's resolver takes it from:
//   - systemd-resolved (resolv.conf a link to its stub or its own file,
//     systemd-resolved(8)): a drop-in, resolved.conf(5), so the link and
//     resolved's stub stay;
//   - Debian's resolvconf (resolv.conf a link into /run/resolvconf,
//     resolvconf(8)): resolv.conf.d/base, which it puts in every file it
//     makes;
//   - otherwise /etc/resolv.conf itself (resolv.conf(5)), a link in the
//     guest replaced by a file.
const (
	ResolvedDropinDir = "/etc/systemd/resolved.conf.d"
	ResolvedDropin    = ResolvedDropinDir + "/60-govz.conf"
	ResolvconfBase    = "/etc/resolvconf/resolv.conf.d/base"
)

func applyDNS(t tree, c Config) error {
	link := t.readlink(ResolvFile)
	switch {
	case strings.Contains(link, "systemd/resolve/") &&
		t.anyExists("/lib/systemd/systemd-resolved", "/usr/lib/systemd/systemd-resolved"):
		if err := t.mkdir(ResolvedDropinDir, 0o755); err != nil {
			return err
		}
		old, err := t.read(ResolvedDropin)
		if err != nil {
			return err
		}
		return t.writeOwned(ResolvedDropin, ResolvedConf(old, c.Nameservers, c.Search), 0o644)
	case strings.Contains(link, "resolvconf/") && t.isDir("/etc/resolvconf/resolv.conf.d"):
		old, err := t.read(ResolvconfBase)
		if err != nil {
			return err
		}
		return t.r.WriteFile(ResolvconfBase, []byte(Resolv(old, c.Nameservers, c.Search)), 0o644)
	}
	old, err := t.read(ResolvFile)
	if err != nil {
		return err
	}
	return t.r.WriteFile(ResolvFile, []byte(Resolv(old, c.Nameservers, c.Search)), 0o644)
}

// ResolvedConf is systemd-resolved's drop-in: DNS= and Domains= of the
// [Resolve] section (resolved.conf(5)). No servers keeps old's DNS= line,
// nil search its Domains= line; an empty search list clears the domains.
func ResolvedConf(old string, servers, search []string) string {
	dns, domains := "", ""
	for _, l := range splitLines(old) {
		if strings.HasPrefix(l, "DNS=") {
			dns = l
		}
		if strings.HasPrefix(l, "Domains=") {
			domains = l
		}
	}
	if len(servers) > 0 {
		dns = "DNS=" + strings.Join(servers, " ")
	}
	if search != nil {
		domains = "Domains=" + strings.Join(search, " ")
	}
	var b strings.Builder
	b.WriteString(Marker + "\n[Resolve]\n")
	for _, l := range []string{dns, domains} {
		if l != "" && l != "Domains=" {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
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
