package templates

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"govz/ct/vzerror"
)

// aptSource is one enabled "deb" entry of the host's apt configuration.
type aptSource struct {
	uris   []string
	suites []string
}

// parseSourcesList reads one-line-style sources (sources.list, *.list):
//
//	deb [option=value ...] URI SUITE [COMPONENT...]
func parseSourcesList(r io.Reader) []aptSource {
	var out []aptSource
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		// Options are bracketed and may span several fields.
		if strings.HasPrefix(f[0], "[") {
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) < 2 {
			continue
		}
		out = append(out, aptSource{uris: f[:1], suites: f[1:2]})
	}
	return out
}

// parseDeb822 reads deb822-style sources (*.sources, sources.5): stanzas
// separated by blank lines, with Types, URIs, Suites and Enabled fields.
// Continuation lines (leading space) only occur in fields we do not use
// (Signed-By with an inline key).
func parseDeb822(r io.Reader) []aptSource {
	var out []aptSource
	fields := map[string]string{}
	flush := func() {
		types := strings.Fields(fields["types"])
		enabled := !strings.EqualFold(strings.TrimSpace(fields["enabled"]), "no")
		isDeb := false
		for _, t := range types {
			isDeb = isDeb || t == "deb"
		}
		if isDeb && enabled && fields["uris"] != "" && fields["suites"] != "" {
			out = append(out, aptSource{
				uris:   strings.Fields(fields["uris"]),
				suites: strings.Fields(fields["suites"]),
			})
		}
		fields = map[string]string{}
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case strings.HasPrefix(line, "#"), strings.HasPrefix(line, " "), strings.HasPrefix(line, "\t"):
		default:
			k, v, ok := strings.Cut(line, ":")
			if ok {
				fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
	}
	flush()
	return out
}

// hostAptSources reads the apt sources under aptDir (/etc/apt): sources.list,
// then sources.list.d/*.list and *.sources in name order, as apt does.
// Unreadable files are skipped: the result only picks a default mirror.
func hostAptSources(aptDir string) []aptSource {
	var out []aptSource
	read := func(p string, parse func(io.Reader) []aptSource) {
		f, err := os.Open(p)
		if err != nil {
			return
		}
		defer f.Close()
		out = append(out, parse(f)...)
	}
	read(filepath.Join(aptDir, "sources.list"), parseSourcesList)
	entries, _ := os.ReadDir(filepath.Join(aptDir, "sources.list.d"))
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(aptDir, "sources.list.d", n)
		switch {
		case strings.HasSuffix(n, ".list"):
			read(p, parseSourcesList)
		case strings.HasSuffix(n, ".sources"):
			read(p, parseDeb822)
		}
	}
	return out
}

// defaultMirror picks the archive to debootstrap distro from: the first
// host source that serves one of distro's release suites and is not a
// security archive, else the distribution's main archive. Matching on the
// suite name skips third-party repositories (their suites are not Debian
// code names).
func defaultMirror(sources []aptSource, distro string, a arch) string {
	isRelease := func(s string) bool {
		switch s {
		case "stable", "oldstable", "testing":
			return distro == "debian"
		}
		for _, r := range releases {
			if r.distro == distro && r.suite == s {
				return true
			}
		}
		return false
	}
	for _, src := range sources {
		ok := false
		for _, s := range src.suites {
			ok = ok || isRelease(s)
		}
		if !ok {
			continue
		}
		for _, u := range src.uris {
			if strings.Contains(u, "security") || checkMirror(u) != nil {
				continue
			}
			return strings.TrimSuffix(u, "/")
		}
	}
	if distro == "ubuntu" {
		if a.deb == "amd64" || a.deb == "i386" {
			return "http://archive.ubuntu.com/ubuntu"
		}
		return "http://ports.ubuntu.com/ubuntu-ports"
	}
	return "http://deb.debian.org/debian"
}

// checkMirror accepts the URL schemes debootstrap fetches from.
func checkMirror(m string) error {
	u, err := url.Parse(m)
	if err != nil || u.Host == "" && u.Scheme != "file" || strings.ContainsAny(m, " \t\n") {
		return fmt.Errorf("mirror %q is not a URL: %w", m, vzerror.ErrInvalidValue)
	}
	switch u.Scheme {
	case "http", "https", "ftp", "file":
		return nil
	}
	return fmt.Errorf("mirror %q: scheme %q not supported (http, https, ftp, file): %w",
		m, u.Scheme, vzerror.ErrInvalidValue)
}
