package conf

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"govz/templates"
)

func TestParseValue(t *testing.T) {
	ps := pageSize
	cases := []struct {
		in   string
		unit Unit
		want int64
		err  bool
	}{
		{"512M", UnitBytes, 512 << 20, false},
		{"1g", UnitBytes, 1 << 30, false},
		{"10P", UnitBytes, 10 * ps, false},
		{"256M", UnitPages, (256 << 20) / ps, false},
		{"1000", UnitPages, 1000, false},
		{"2G", UnitKB, 2 << 20, false},
		{"2.2G", UnitKB, 2306868, false},
		{"1.5", UnitKB, 0, true},
		{"unlimited", UnitItems, Unlimited, false},
		{"64", UnitItems, 64, false},
		{"64K", UnitItems, 0, true},
		{"-5", UnitBytes, 0, true},
		{"12Q", UnitBytes, 0, true},
		{"", UnitBytes, 0, true},
		{"1e9", UnitBytes, 0, true},
		{"99999999999T", UnitBytes, 0, true},
	}
	for _, c := range cases {
		got, err := ParseValue(c.in, c.unit)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ParseValue(%q, %v) = %d, %v; want %d, err=%v", c.in, c.unit, got, err, c.want, c.err)
		}
		if err != nil && !errors.Is(err, ErrBadValue) {
			t.Errorf("ParseValue(%q): error %v does not wrap ErrInvalidValue", c.in, err)
		}
	}
}

func TestBarrierLimit(t *testing.T) {
	bl, err := ParseBarrierLimit("2G:2.2G", UnitKB)
	if err != nil || bl.String() != "2097152:2306868" {
		t.Fatalf("got %v %v", bl, err)
	}
	bl, err = ParseBarrierLimit("64", UnitItems)
	if err != nil || bl.String() != "64:64" {
		t.Fatalf("one value sets both: %v %v", bl, err)
	}
	bl, err = ParseBarrierLimit("0:unlimited", UnitPages)
	if err != nil || bl.String() != "0:unlimited" {
		t.Fatalf("unlimited: %v %v", bl, err)
	}
	if _, err := ParseBarrierLimit("10:5", UnitItems); err == nil {
		t.Fatal("limit below barrier accepted")
	}
}

func TestParseFileErrors(t *testing.T) {
	cases := []struct {
		text, key string
		line      int
		sentinel  error
	}{
		{"\n\nhostname = 5\n", "hostname", 3, ErrBadFile},
		{"hostname = \"a\"\nip_address = [\n", "", 0, ErrBadFile},
		{"lockdir = \"/x\"\n", "lockdir", 1, ErrBadFile},
		{"\nhostname = \"bad_name!\"\n", "hostname", 2, ErrBadFile},
		{"physpages = \"lots\"\n", "physpages", 1, ErrBadFile},
		{"ve_layout = \"ploop\"\n", "ve_layout", 1, ErrBadFile},
		{"local_uid = 1000\n", "local_uid", 1, ErrBadFile},
		{"local_gid = 4294967295\n", "local_gid", 1, ErrBadFile},
	}
	for _, c := range cases {
		_, err := Parse("x.toml", []byte(c.text), CT)
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Errorf("%q: want FileError, got %v", c.text, err)
			continue
		}
		if !errors.Is(err, c.sentinel) {
			t.Errorf("%q: %v, want %v", c.text, err, c.sentinel)
		}
		if c.key != "" && (fe.Key != c.key || fe.Line != c.line) {
			t.Errorf("%q: key %q line %d, want %q line %d (%v)", c.text, fe.Key, fe.Line, c.key, c.line, err)
		}
		if !strings.HasPrefix(err.Error(), "x.toml") {
			t.Errorf("%q: message does not start with the file: %v", c.text, err)
		}
	}
	if _, err := Parse("vz.toml", []byte("lockdir = \"/x\"\nhostname = \"h\"\n"), Global); err != nil {
		t.Errorf("global file with a CT default: %v", err)
	}
}

func TestMergePrecedence(t *testing.T) {
	s := func(v string) *string { return &v }
	global := &Config{Hostname: s("g"), Description: s("g"), VELayout: s("dir")}
	sample := &Config{Hostname: s("s"), Description: s("s"), PhysPages: s("0:1")}
	ct := &Config{Hostname: s("c")}
	cmd := &Config{Nameserver: []string{"10.0.0.1"}}
	m := Merge(global, sample, ct, cmd)
	if *m.Hostname != "c" || *m.Description != "s" || *m.VELayout != "dir" || *m.PhysPages != "0:1" || m.Nameserver[0] != "10.0.0.1" {
		t.Fatalf("merge: %+v", m)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	c := &Config{}
	for k, v := range map[string]string{"hostname": "h.example", "onboot": "yes", "bootorder": "3", "physpages": "0:256M", "vm_overcommit": "1.5"} {
		if err := c.SetString(k, v); err != nil {
			t.Fatal(err)
		}
	}
	c.SetString("ip_address", "10.0.0.1")
	c.SetString("ip_address", "fd00::1/64")
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("x", b, CT)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if !reflect.DeepEqual(c, back) {
		t.Fatalf("round trip:\n%s\n%+v\n%+v", b, c, back)
	}
}

func TestEveryFieldHasAKey(t *testing.T) {
	tp := reflect.TypeOf(Config{})
	seen := map[string]bool{}
	for i := 0; i < tp.NumField(); i++ {
		name := tp.Field(i).Tag.Get("toml")
		if tp.Field(i).Name == extraField {
			continue
		}
		if _, ok := KeyByName(name); !ok {
			t.Errorf("field %s (%s) has no row in Keys", tp.Field(i).Name, name)
		}
		seen[name] = true
	}
	for _, k := range Keys {
		if !seen[k.Name] {
			t.Errorf("key %s has no field", k.Name)
		}
	}
}

func TestSamplesParse(t *testing.T) {
	p := Paths{Root: t.TempDir()}
	for _, name := range []string{"basic", "vswap-256m", "vswap-512m", "vswap-1g", "vswap-2g"} {
		c, err := LoadSample(p, name)
		if err != nil {
			t.Fatalf("sample %s: %v", name, err)
		}
		if _, ok := c.Resource("physpages"); !ok {
			t.Errorf("sample %s has no physpages", name)
		}
	}
	if _, err := LoadSample(p, "nope"); !errors.Is(err, ErrNoSample) {
		t.Fatalf("missing sample: %v", err)
	}
	if _, err := LoadSample(p, "../x"); err == nil {
		t.Fatal("sample name with a path accepted")
	}
}

func TestKeysDoc(t *testing.T) {
	want := KeysMarkdown()
	if os.Getenv("UPDATE_DOCS") == "1" {
		os.WriteFile("KEYS.md", []byte(want), 0o644)
	}
	got, err := os.ReadFile("KEYS.md")
	if err != nil || string(got) != want {
		t.Fatal("conf/KEYS.md is out of date: run UPDATE_DOCS=1 go test ./conf")
	}
}

func TestValidateIPs(t *testing.T) {
	for _, bad := range []string{"10.0.0.256", "0.0.0.0", "127.0.0.1", "fe80::1", "224.0.0.1", "10.0.0.1/33", "x", "10.0.0.1%eth0"} {
		if _, err := ParseIP(bad); !errors.Is(err, ErrBadIP) {
			t.Errorf("ParseIP(%q) = %v", bad, err)
		}
	}
	if p, err := ParseIP("fd00:0::1/64"); err != nil || p != "fd00::1/64" {
		t.Errorf("canonical form: %q %v", p, err)
	}
}

// TestDefaultsMatchKeyTable keeps the two statements of a default in step:
// what Defaults sets and what the key table (and so KEYS.md) documents.
func TestDefaultsMatchKeyTable(t *testing.T) {
	d := reflect.ValueOf(Defaults()).Elem()
	tp := d.Type()
	for i := 0; i < tp.NumField(); i++ {
		f := d.Field(i)
		if f.Kind() != reflect.Pointer || f.IsNil() {
			continue
		}
		name := tp.Field(i).Tag.Get("toml")
		k, _ := KeyByName(name)
		var got string
		switch v := f.Elem().Interface().(type) {
		case string:
			got = v
		case int:
			got = fmt.Sprint(v)
		case bool:
			got = map[bool]string{true: "yes", false: "no"}[v]
			if k.Default == "true" || k.Default == "false" {
				got = fmt.Sprint(v)
			}
		default:
			t.Errorf("%s: default of type %T not compared", name, v)
			continue
		}
		if name == "def_ostemplate" {
			got = strings.Replace(got, templates.HostArch(), "<arch>", 1)
		}
		if got != k.Default {
			t.Errorf("%s: Defaults() sets %q, the key table documents %q", name, got, k.Default)
		}
	}
}

func TestIDBaseKeys(t *testing.T) {
	c, err := Parse("vz.toml", []byte("local_uid = \"auto\"\nlocal_gid = 0\nlocal_id_pool = \"131072+655360\"\n"), Global)
	if err != nil || !ID(c.LocalUID).IsAuto() || ID(c.LocalGID) != 0 {
		t.Fatalf("global auto/0: %+v %v", c, err)
	}
	c, err = Parse("101.toml", []byte("local_uid = 1879048192\nlocal_gid = 1879048192\n"), CT)
	if err != nil || ID(c.LocalUID) != 1879048192 {
		t.Fatalf("container numbers: %v", err)
	}
	out, err := c.Encode()
	if err != nil || string(out) != "local_uid = 1879048192\nlocal_gid = 1879048192\n" {
		t.Fatalf("encode %q %v", out, err)
	}
	auto := AutoID
	if out, _ := (&Config{LocalUID: &auto}).Encode(); string(out) != "local_uid = \"auto\"\n" {
		t.Fatalf("encode auto %q", out)
	}
	for name, text := range map[string]string{
		"fixed range in vz.toml": "local_uid = 200000\n",
		"a word":                 "local_uid = \"some\"\n",
		"negative":               "local_gid = -5\n",
		"host range":             "local_uid = 1000\n",
		"bad pool":               "local_id_pool = \"1000-2000\"\n",
	} {
		_, err := Parse("vz.toml", []byte(text), Global)
		var fe *FileError
		if !errors.As(err, &fe) || fe.Line != 1 || !errors.Is(err, ErrBadFile) {
			t.Errorf("%s: %v, want a located ErrBadFile", name, err)
		}
	}
	var l Config
	for in, want := range map[string]IDBase{"auto": AutoID, "0": 0, "200000": 200000} {
		if err := l.SetString("local_uid", in); err != nil || *l.LocalUID != want {
			t.Errorf("SetString(%q) = %v, %v", in, l.LocalUID, err)
		}
	}
	if err := l.SetString("local_gid", "-1"); !errors.Is(err, ErrBadValue) {
		t.Errorf("SetString(-1): %v, want ErrBadValue", err)
	}
}

// TestUnknownKeysKept: keys outside the table are warned about and written
// back by Encode, after the known ones; they do not merge into other layers.
func TestUnknownKeysKept(t *testing.T) {
	text := "hostname = \"a\"\nbogus = 1\nother_tool = [\"x\", \"y\"]\n\n[panel]\nplan = \"gold\"\n"
	c, err := Parse("x.toml", []byte(text), CT)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`x.toml:2: unknown key "bogus" ignored (kept in the file)`,
		`x.toml:3: unknown key "other_tool" ignored (kept in the file)`,
		`x.toml: unknown key "panel" ignored (kept in the file)`,
	}
	if got := c.UnknownKeys(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("warnings:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	c.SetString("hostname", "b")
	out, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("y.toml", out, CT)
	if err != nil {
		t.Fatalf("re-parse of\n%s: %v", out, err)
	}
	if conf := Str(back.Hostname); conf != "b" || len(back.UnknownKeys()) != 3 {
		t.Fatalf("round trip lost something:\n%s", out)
	}
	if !strings.Contains(string(out), "plan = \"gold\"") || !strings.Contains(string(out), "bogus = 1") {
		t.Fatalf("unknown values not written back:\n%s", out)
	}
	if m := Merge(c, &Config{}); m.Extra != nil {
		t.Fatal("unknown keys merged into another layer")
	}
}
