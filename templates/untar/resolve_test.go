//go:build linux

package untar

import (
	"errors"
	"testing"
)

func TestCleanName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		abs, bad bool
	}{
		{in: "./usr/bin/ls", want: "usr/bin/ls"},
		{in: "./etc/", want: "etc"},
		{in: "./", want: ""},
		{in: ".", want: ""},
		{in: "etc", want: "etc"},
		{in: "/etc/passwd", want: "etc/passwd", abs: true},
		{in: "///etc//./passwd", want: "etc/passwd", abs: true},
		{in: "/", want: "", abs: true},
		{in: "././a/./b//", want: "a/b"},
		{in: "a/.../b", want: "a/.../b"},
		{in: "..a/b..", want: "..a/b.."},
		{in: "..", bad: true},
		{in: "../etc", bad: true},
		{in: "a/../b", bad: true},
		{in: "a/..", bad: true},
		{in: "/../etc", bad: true},
		{in: "a/b/../../..", bad: true},
	} {
		got, abs, err := cleanName(tc.in)
		if tc.bad {
			if !errors.Is(err, errDotDot) {
				t.Errorf("cleanName(%q) = %q, %v; want errDotDot", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want || abs != tc.abs {
			t.Errorf("cleanName(%q) = %q, %v, %v; want %q, %v", tc.in, got, abs, err, tc.want, tc.abs)
		}
	}
}

func TestCleanNameDoesNotAllocate(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		if _, _, err := cleanName("./usr/lib/x86_64-linux-gnu/libc.so.6"); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("cleanName allocates %v times for a tidy name", n)
	}
}
