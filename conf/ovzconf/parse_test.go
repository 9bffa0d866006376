package ovzconf

import (
	"strings"
	"testing"
)

func TestParseSyntax(t *testing.T) {
	data := strings.Join([]string{
		`# comment`,
		``,
		`   # indented comment`,
		`ONBOOT="yes"`,
		`HOSTNAME=ct.example.org`,
		`DESCRIPTION='single quoted'`,
		`NAME="web" # trailing comment`,
		`IP_ADDRESS="10.0.0.1 10.0.0.2"   `,
		`KMEMSIZE="14372700:14790164"`,
		`VE_PRIVATE="/vz/private/$VEID"`,
		`ESC="a\"b"`,
		`HASH="a#b # c"`,
		`HASHWORD=x#y`,
		`nonsense line`,
		`BAD KEY="x"`,
		`ONBOOT="no"`,
		`CONT="a \`,
		`EMPTY=""`,
		"CRLF=\"v\"\r",
	}, "\n")
	f := Parse("101.conf", []byte(data))
	want := map[string]string{
		"ONBOOT":      "no",
		"HOSTNAME":    "ct.example.org",
		"DESCRIPTION": "single quoted",
		"NAME":        "web",
		"IP_ADDRESS":  "10.0.0.1 10.0.0.2",
		"KMEMSIZE":    "14372700:14790164",
		"VE_PRIVATE":  "/vz/private/$VEID",
		"ESC":         `a"b`,
		"HASH":        "a#b # c",
		"HASHWORD":    "x#y",
		"CONT":        "a", // the backslash goes, then the trailing blank
		"EMPTY":       "",
		"CRLF":        "v",
	}
	for k, v := range want {
		got, ok := f.Get(k)
		if !ok || got != v {
			t.Errorf("%s = %q (set %v), want %q", k, got, ok, v)
		}
	}
	if len(f.Keys()) != len(want) {
		t.Errorf("keys %v, want %d of them", f.Keys(), len(want))
	}
	if f.Line("ONBOOT") != 16 {
		t.Errorf("ONBOOT line %d, want 16 (the last assignment)", f.Line("ONBOOT"))
	}
	for _, w := range []string{"101.conf:14: no '='", "101.conf:15: bad variable name", "101.conf:16: ONBOOT set again", "101.conf:17: line continuation"} {
		found := false
		for _, got := range f.Warnings {
			found = found || strings.HasPrefix(got, w)
		}
		if !found {
			t.Errorf("no warning %q in %q", w, f.Warnings)
		}
	}
}

func TestExpand(t *testing.T) {
	if got := Expand("/vz/private/$VEID/${VEID}", 101); got != "/vz/private/101/101" {
		t.Fatal(got)
	}
}

func TestFormatRoundTrip(t *testing.T) {
	vars := []Var{{Key: "A", Value: `x "y" \z`}, {Key: "B", Value: "/vz/$VEID $HOME"}, {Key: "C", Value: "a # b"}, {Key: "D", Value: ""}, {Key: "E", Value: "it's"}}
	f := Parse("x", []byte(Format(vars)))
	if len(f.Warnings) > 0 {
		t.Fatal(f.Warnings)
	}
	for _, v := range vars {
		if got, _ := f.Get(v.Key); got != v.Value {
			t.Errorf("%s: %q, want %q (file %q)", v.Key, got, v.Value, Format(vars))
		}
	}
}

// FuzzParse: any input parses without a panic, every key is a shell
// name, and what Format writes reads back the same.
func FuzzParse(f *testing.F) {
	f.Add([]byte("A=\"b\"\n# c\nD='e' # f\nG=h\\\ni"))
	f.Add([]byte("KMEMSIZE=\"1:2\"\nX"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := Parse("fuzz", data)
		for _, v := range p.Vars {
			if !validKey(v.Key) {
				t.Fatalf("bad key %q", v.Key)
			}
		}
		var vars []Var
		for _, v := range p.Vars {
			if !strings.ContainsAny(v.Value, "\n\"") {
				vars = append(vars, v)
			}
		}
		back := Parse("back", []byte(Format(vars)))
		for _, v := range vars {
			if got, _ := back.Get(v.Key); got != lastOf(vars, v.Key) {
				t.Fatalf("%s: %q read back as %q from %q", v.Key, lastOf(vars, v.Key), got, Format(vars))
			}
		}
	})
}

func lastOf(vars []Var, k string) string {
	s := ""
	for _, v := range vars {
		if v.Key == k {
			s = v.Value
		}
	}
	return s
}

// FuzzConvert: any file converts or fails with an error, never a panic,
// and what converts is a valid govz config.
func FuzzConvert(f *testing.F) {
	f.Add([]byte("VE_PRIVATE=/vz/private/$VEID\nKMEMSIZE=1:2\nIP_ADDRESS=\"10.0.0.1 ::\"\nNETIF=\"ifname=eth0;\"\n"))
	f.Add([]byte("VE_PRIVATE=/p\nFEATURES=nfs:on\nDEVICES=c:1:2:rwq\nIOLIMIT=5\nNUMPROC=5:4\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Convert(101, Parse("fuzz", data), nil)
		if err != nil {
			return
		}
		if err := r.Config.Validate(); err != nil {
			t.Fatalf("converted config invalid: %v", err)
		}
	})
}
