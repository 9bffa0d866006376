package authkeys

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// blob is an SSH wire-format public key of type t (RFC 4253 6.6).
func blob(t string, body byte) string {
	var b []byte
	b = binary.BigEndian.AppendUint32(b, uint32(len(t)))
	b = append(b, t...)
	b = binary.BigEndian.AppendUint32(b, 32)
	for i := 0; i < 32; i++ {
		b = append(b, body)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func TestParse(t *testing.T) {
	good := "ssh-ed25519 " + blob("ssh-ed25519", 1) + " admin@host two words"
	k, err := Parse(good)
	if err != nil || k.Comment != "admin@host two words" || k.String() != good {
		t.Fatalf("Parse(good) = %+v, %v", k, err)
	}
	if k, err := Parse("ssh-ed25519 " + blob("ssh-ed25519", 1)); err != nil || k.Comment != "" {
		t.Fatalf("no comment: %+v, %v", k, err)
	}
	for name, line := range map[string]string{
		"newline":       good + "\nssh-rsa " + blob("ssh-rsa", 2),
		"cr":            good + "\rx",
		"nul":           good + "\x00",
		"options":       `command="/bin/sh" ` + good,
		"one field":     "ssh-ed25519",
		"empty":         "",
		"bad base64":    "ssh-ed25519 !!!!",
		"type mismatch": "ssh-rsa " + blob("ssh-ed25519", 1),
		"short blob":    "ssh-ed25519 AAAA",
		"length past":   "ssh-ed25519 " + base64.StdEncoding.EncodeToString([]byte{0, 0, 1, 0, 's'}),
		"control":       good + " \x1b[2J",
		"too long":      "ssh-rsa " + strings.Repeat("A", maxBlob+4),
	} {
		if _, err := Parse(line); !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: Parse = %v, want ErrBadKey", name, err)
		} else if strings.ContainsAny(err.Error(), "\n\r") {
			t.Errorf("%s: error spans lines: %q", name, err)
		}
	}
}

func TestParseList(t *testing.T) {
	a, b := "ssh-ed25519 "+blob("ssh-ed25519", 1)+" a", "ssh-rsa "+blob("ssh-rsa", 2)
	keys, err := ParseList([]byte("# mine\n\n"+a+"\r\n"+b), "f.pub")
	if err != nil || len(keys) != 2 || keys[0].Comment != "a" || keys[1].Type != "ssh-rsa" {
		t.Fatalf("ParseList = %+v, %v", keys, err)
	}
	if _, err := ParseList([]byte("# only\n\n"), "f.pub"); !errors.Is(err, ErrBadKey) {
		t.Fatalf("no key: %v", err)
	}
	if _, err := ParseList([]byte(a+"\nfrom=\"*\" "+b+"\n"), "f.pub"); !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "f.pub line 2") {
		t.Fatalf("options line: %v", err)
	}
}

func TestAdd(t *testing.T) {
	a, _ := Parse("ssh-ed25519 " + blob("ssh-ed25519", 1) + " a")
	b, _ := Parse("ssh-rsa " + blob("ssh-rsa", 2) + " b")
	out, n := Add(nil, []Key{a, a})
	if n != 1 || string(out) != a.String()+"\n" {
		t.Fatalf("Add to empty: %d %q", n, out)
	}
	// Present under other options and comment; a file without its last
	// line break.
	file := []byte(`no-pty ` + a.Type + " " + a.Blob + " other\n# c\nx")
	out, n = Add(file, []Key{a, b})
	if n != 1 || string(out) != string(file)+"\n"+b.String()+"\n" {
		t.Fatalf("Add: %d %q", n, out)
	}
	if out2, n := Add(out, []Key{a, b}); n != 0 || string(out2) != string(out) {
		t.Fatalf("Add again: %d %q", n, out2)
	}
}
