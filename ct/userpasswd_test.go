package ct

import (
	"errors"
	"strings"
	"testing"

	"govz/ct/vzerror"
)

func TestParseUserPasswd(t *testing.T) {
	up, err := ParseUserPasswd("root:a:b,c d")
	if err != nil || up.User != "root" || up.Password != "a:b,c d" {
		t.Fatalf("%+v %v", up, err)
	}
	const secret = "S3cr3t"
	for _, c := range []struct {
		in   string
		want error
	}{
		{"root" + secret, vzerror.ErrSyntax},
		{"ro/ot:" + secret, vzerror.ErrInvalidValue},
		{"..:" + secret, vzerror.ErrInvalidValue},
		{"root:", vzerror.ErrInvalidValue},
		{"root:" + secret + "\n", vzerror.ErrInvalidValue},
		{"root:" + secret + "\x00", vzerror.ErrInvalidValue},
	} {
		_, err := ParseUserPasswd(c.in)
		if !errors.Is(err, c.want) {
			t.Errorf("%q: %v, want %v", c.in, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) && strings.Contains(c.in, ":") {
			t.Errorf("%q: the error shows the password: %v", c.in, err)
		}
	}
}
