package templates

import (
	"os"
	"path/filepath"
	"testing"
)

func writeApt(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	err := os.Mkdir(filepath.Join(dir, "sources.list.d"), 0o755)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644)
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDefaultMirror(t *testing.T) {
	amd64, _ := archFor("amd64")
	arm64, _ := archFor("arm64")
	cases := []struct {
		name   string
		files  map[string]string
		distro string
		a      arch
		want   string
	}{
		{
			name: "deb822 as on a stock bookworm host, third-party first",
			files: map[string]string{
				"sources.list.d/0-nodesource.sources": "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\nComponents: main\n",
				"sources.list.d/debian.sources": "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\n" +
					"URIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n" +
					"Types: deb deb-src\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n" +
					"Signed-By: -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n",
			},
			distro: "debian", a: amd64, want: "http://mirror.example/debian",
		},
		{
			name: "disabled deb822 stanza and deb-src only are ignored",
			files: map[string]string{
				"sources.list.d/a.sources": "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n\n" +
					"Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n",
				"sources.list.d/b.sources.disabled": "Types: deb\nURIs: http://nope.example/debian\nSuites: bookworm\n",
			},
			distro: "debian", a: amd64, want: "http://deb.debian.org/debian",
		},
		{
			name: "one-line sources.list with options",
			files: map[string]string{
				"sources.list": "# comment\ndeb-src http://src.example/debian bookworm main\n" +
					"deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://list.example/debian trixie main # tail\n",
			},
			distro: "debian", a: amd64, want: "http://list.example/debian",
		},
		{
			name: "ubuntu target on a debian host: distribution default",
			files: map[string]string{
				"sources.list": "deb http://list.example/debian bookworm main\n",
			},
			distro: "ubuntu", a: amd64, want: "http://archive.ubuntu.com/ubuntu",
		},
		{
			name:   "ubuntu ports",
			files:  map[string]string{},
			distro: "ubuntu", a: arm64, want: "http://ports.ubuntu.com/ubuntu-ports",
		},
		{
			name: "ubuntu host",
			files: map[string]string{
				"sources.list.d/ubuntu.sources": "Types: deb\nURIs: http://security.ubuntu.com/ubuntu\nSuites: noble-security\n\n" +
					"Types: deb\nURIs: http://de.archive.ubuntu.com/ubuntu/\nSuites: noble noble-updates\n",
			},
			distro: "ubuntu", a: amd64, want: "http://de.archive.ubuntu.com/ubuntu",
		},
	}
	for _, c := range cases {
		dir := writeApt(t, c.files)
		got := defaultMirror(hostAptSources(dir), c.distro, c.a)
		if got != c.want {
			t.Errorf("%s: mirror %q, want %q", c.name, got, c.want)
		}
	}
}
