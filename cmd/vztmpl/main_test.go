package main

import (
	"errors"
	"testing"

	"govz/ct/vzerror"
)

func TestUsageErrorsExitCodes(t *testing.T) {
	cache := t.TempDir()
	cases := []struct {
		args []string
		want error
	}{
		{[]string{"vztmpl", "frobnicate"}, vzerror.ErrSyntax},
		{[]string{"vztmpl", "list", "--bogus"}, vzerror.ErrSyntax},
		{[]string{"vztmpl", "list", "--cache", cache, "extra"}, vzerror.ErrSyntax},
		{[]string{"vztmpl", "build", "alpine"}, vzerror.ErrSyntax},
		{[]string{"vztmpl", "build", "debian", "--cache", cache, "--suite", "stable"}, vzerror.ErrInvalidValue},
		{[]string{"vztmpl", "build", "busybox", "--cache", cache, "--compress", "lz4"}, vzerror.ErrInvalidValue},
	}
	for _, c := range cases {
		err := newApp().Run(c.args)
		if !errors.Is(err, c.want) {
			t.Errorf("%v: %v, want %v", c.args, err, c.want)
		}
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 1023: "1023", 1024: "1.0K", 1048302: "1024K", 65746378: "63M", 5 << 30: "5.0G",
	} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
}
