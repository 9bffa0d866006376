//go:build linux

package untar

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"govz/internal/roottest"
)

// TestHostile extracts archives that try to write outside the destination
// and checks, whatever the outcome, that nothing outside it changed: no
// new path beside it (the sentinel directory stays empty) and the "host"
// file the archive aims at keeps its content, owner, mode, link count and
// times. Targets are inside t.TempDir(), never real host files.
func TestHostile(t *testing.T) {
	roottest.Require(t, "chown, mknod, security.capability")
	type outcome int
	const (
		rejected  outcome = iota // error wrapping ErrBadTemplate
		contained                // success, everything landed inside dest
	)
	cases := []struct {
		name    string
		members func(l *layout) []member
		want    outcome
		mention string // for rejected: the error names the member
		check   func(t *testing.T, l *layout)
	}{
		{
			name:    "dotdot name",
			members: func(*layout) []member { return []member{reg("../sentinel/evil", "x", 0o644)} },
			mention: "../sentinel/evil",
		},
		{
			name:    "dotdot inside name",
			members: func(*layout) []member { return []member{dir("a/", 0o755), reg("a/../../sentinel/evil", "x", 0o644)} },
			mention: "a/../../sentinel/evil",
		},
		{
			name:    "dotdot directory",
			members: func(*layout) []member { return []member{dir("../sentinel/sub/", 0o755)} },
			mention: "../sentinel/sub/",
		},
		{
			name: "absolute name is stripped",
			members: func(l *layout) []member {
				return []member{reg(filepath.Join(l.sentinel, "evil"), "x", 0o644)}
			},
			want: contained,
			check: func(t *testing.T, l *layout) {
				if got := readString(t, filepath.Join(l.dest, l.sentinel, "evil")); got != "x" {
					t.Errorf("stripped member content %q", got)
				}
			},
		},
		{
			name: "absolute symlink then member through it",
			members: func(l *layout) []member {
				return []member{symlink("etc", l.host), reg("etc/passwd", "pwned", 0o644)}
			},
			mention: "etc/passwd", // l.host does not exist inside dest
		},
		{
			name: "absolute symlink to a tree that exists inside",
			members: func(l *layout) []member {
				return []member{dir(l.host+"/", 0o755), symlink("etc", l.host), reg("etc/passwd", "pwned", 0o644)}
			},
			want: contained,
			check: func(t *testing.T, l *layout) {
				if got := readString(t, filepath.Join(l.dest, l.host, "passwd")); got != "pwned" {
					t.Errorf("member through in-root symlink: %q", got)
				}
			},
		},
		{
			name: "relative symlink climbing out",
			members: func(l *layout) []member {
				return []member{symlink("x", "../../../../../../../.."), reg("x"+l.passwd, "pwned", 0o644)}
			},
			want: contained, // ".." stops at dest; the missing directories are made inside
			check: func(t *testing.T, l *layout) {
				if got := readString(t, filepath.Join(l.dest, l.passwd)); got != "pwned" {
					t.Errorf("member through x -> ../..: %q", got)
				}
			},
		},
		{
			name: "relative symlink to the sentinel",
			members: func(l *layout) []member {
				return []member{symlink("x", "../sentinel"), reg("x/evil", "x", 0o644)}
			},
			mention: "x/evil",
		},
		{
			name: "symlink chain climbing out",
			members: func(l *layout) []member {
				return []member{
					dir("a/b/", 0o755),
					symlink("a/b/up", "../.."),
					symlink("a/up2", "b/up/.."),
					reg("a/up2/sentinel/evil", "x", 0o644),
				}
			},
			want: contained, // a/up2 is dest itself: ".." stops there
			check: func(t *testing.T, l *layout) {
				if got := readString(t, filepath.Join(l.dest, "sentinel/evil")); got != "x" {
					t.Errorf("member through the chain: %q", got)
				}
			},
		},
		{
			name: "symlink to root then absolute host path",
			members: func(l *layout) []member {
				return []member{symlink("r", "/"), reg("r"+l.passwd, "pwned", 0o644)}
			},
			want: contained,
			check: func(t *testing.T, l *layout) {
				if got := readString(t, filepath.Join(l.dest, l.passwd)); got != "pwned" {
					t.Errorf("member through r -> /: %q", got)
				}
			},
		},
		{
			name: "symlink at the final component is replaced, not followed",
			members: func(l *layout) []member {
				return []member{symlink("passwd", l.passwd), reg("passwd", "pwned", 0o600)}
			},
			want: contained,
			check: func(t *testing.T, l *layout) {
				st := lstat(t, filepath.Join(l.dest, "passwd"))
				if st.Mode&0o170000 != 0o100000 || readString(t, filepath.Join(l.dest, "passwd")) != "pwned" {
					t.Errorf("passwd was not replaced by a regular file")
				}
			},
		},
		{
			name: "symlink at the final component of a directory member",
			members: func(l *layout) []member {
				d := dir("d/", 0o700)
				d.hdr.Uid = 1234
				return []member{symlink("d", l.sentinel), d}
			},
			want: contained,
			check: func(t *testing.T, l *layout) {
				if st := lstat(t, filepath.Join(l.dest, "d")); st.Mode&0o170000 != 0o040000 || st.Uid != 1234 {
					t.Errorf("d was not replaced by a directory")
				}
			},
		},
		{
			name: "symlink at the final component of a hard link, fifo and symlink",
			members: func(l *layout) []member {
				return []member{
					reg("target", "t", 0o644),
					symlink("h", l.passwd), hardlink("h", "target"),
					symlink("p", l.passwd), fifo("p"),
					symlink("s", l.passwd), symlink("s", "elsewhere"),
				}
			},
			want: contained,
		},
		{
			name: "symlink member metadata stays on the link",
			members: func(l *layout) []member {
				s := symlink("s", l.passwd)
				s.hdr.Uid, s.hdr.Gid, s.hdr.Mode = 1234, 1234, 0o7777
				s.hdr.ModTime = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
				s.hdr.PAXRecords = map[string]string{"SCHILY.xattr.trusted.evil": "x"}
				return []member{s}
			},
			want: contained,
			check: func(t *testing.T, l *layout) {
				if st := lstat(t, filepath.Join(l.dest, "s")); st.Uid != 1234 {
					t.Errorf("symlink owner %d, want 1234", st.Uid)
				}
			},
		},
		{
			name:    "hard link with dotdot target",
			members: func(l *layout) []member { return []member{hardlink("h", "../host/passwd")} },
			mention: `"h"`,
		},
		{
			name:    "hard link with absolute target",
			members: func(l *layout) []member { return []member{hardlink("h", l.passwd)} },
			mention: `"h"`, // stripped: no such member inside dest
		},
		{
			name: "hard link through a symlink",
			members: func(l *layout) []member {
				return []member{symlink("s", l.host), hardlink("h", "s/passwd")}
			},
			mention: `"h"`,
		},
		{
			name: "hard link through a climbing symlink",
			members: func(l *layout) []member {
				return []member{symlink("s", "../host"), hardlink("h", "s/passwd")}
			},
			mention: `"h"`,
		},
		{
			name: "hard link to a planted symlink links the symlink",
			members: func(l *layout) []member {
				return []member{symlink("s", l.passwd), hardlink("h", "s")}
			},
			want: contained,
			check: func(t *testing.T, l *layout) {
				if st := lstat(t, filepath.Join(l.dest, "h")); st.Mode&0o170000 != 0o120000 {
					t.Errorf("h is not the symlink itself")
				}
			},
		},
		{
			name: "directory replaced by a symlink before its times are set",
			members: func(l *layout) []member {
				d := dir("d/", 0o755)
				d.hdr.ModTime = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
				return []member{d, symlink("d", l.host)}
			},
			want: contained,
		},
		{
			name: "root member of another type",
			members: func(l *layout) []member {
				return []member{symlink("./", l.sentinel)}
			},
			mention: "extraction root",
		},
		{
			name: "device node through a symlink",
			members: func(l *layout) []member {
				return []member{symlink("dev", "../sentinel"), fifo("dev/evil")}
			},
			mention: "dev/evil",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayout(t)
			err := extractBytes(t, l.dest, tarBytes(t, tc.members(l)...), Options{})
			switch tc.want {
			case rejected:
				requireBadTemplate(t, err, tc.mention)
			case contained:
				if err != nil {
					t.Fatalf("extraction failed: %v", err)
				}
			}
			l.assertUntouched(t)
			if tc.check != nil {
				tc.check(t, l)
			}
		})
	}
}

func TestLeadingSlashWarning(t *testing.T) {
	roottest.Require(t, "chown, mknod, security.capability")
	var warnings []string
	opt := Options{Warnf: func(f string, a ...any) { warnings = append(warnings, f) }}
	dest := t.TempDir()
	err := extractBytes(t, dest, tarBytes(t, reg("/a", "a", 0o644), reg("//b", "b", 0o644)), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "leading '/'") {
		t.Errorf("warnings %q, want one about leading slashes", warnings)
	}
	for _, n := range []string{"a", "b"} {
		if _, err := os.Lstat(filepath.Join(dest, n)); err != nil {
			t.Error(err)
		}
	}
}
