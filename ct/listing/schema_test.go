package listing

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// schema is testdata/vzlist-schema.json: what vzctl 4.x's vzlist -j
// prints for one container.
type schema struct {
	Keys []struct {
		Key   string
		Types []string
		Shape string
	}
	Shapes map[string]struct {
		Members     []string
		MembersFrom []string `json:"members_from"`
		MemberType  string   `json:"member_type"`
		ItemType    string   `json:"item_type"`
		Length      int
	}
	Extra map[string]string `json:"govz_extra_keys"`
}

func loadSchema(t *testing.T) schema {
	t.Helper()
	data, err := os.ReadFile("testdata/vzlist-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s schema
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "?"
}

// objectKeys returns the keys of each object of a JSON array, in order.
func objectKeys(t *testing.T, out string) [][]string {
	t.Helper()
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, out)
	}
	var keys [][]string
	for _, r := range raw {
		d := json.NewDecoder(strings.NewReader(string(r)))
		d.Token() // {
		var ks []string
		for d.More() {
			k, _ := d.Token()
			ks = append(ks, k.(string))
			var skip json.RawMessage
			if err := d.Decode(&skip); err != nil {
				t.Fatal(err)
			}
		}
		keys = append(keys, ks)
	}
	return keys
}

// checkSchema checks one vzlist -j object against the schema: every key
// vzctl prints, in its order, with one of the types it prints, objects of
// its shape; keys vzctl does not print must be documented extras.
func checkSchema(t *testing.T, s schema, row map[string]any, order []string) {
	t.Helper()
	var vzKeys []string
	for _, k := range order {
		if _, known := s.Extra[k]; !known {
			vzKeys = append(vzKeys, k)
		}
	}
	var want []string
	for _, k := range s.Keys {
		want = append(want, k.Key)
	}
	if !slices.Equal(vzKeys, want) {
		t.Errorf("keys (without govz extras) differ from vzctl's:\n got %v\nwant %v", vzKeys, want)
	}
	for _, k := range s.Keys {
		v, ok := row[k.Key]
		if !ok {
			continue // reported above
		}
		typ := jsonType(v)
		if !slices.Contains(k.Types, typ) {
			t.Errorf("%s: %s %v, want one of %v", k.Key, typ, v, k.Types)
			continue
		}
		sh, ok := s.Shapes[k.Shape]
		if k.Shape == "" || typ == "null" {
			continue
		}
		if !ok {
			t.Fatalf("schema: no shape %q", k.Shape)
		}
		switch v := v.(type) {
		case map[string]any:
			var got []string
			for m, mv := range v {
				got = append(got, m)
				if jsonType(mv) != sh.MemberType {
					t.Errorf("%s.%s: %s, want %s", k.Key, m, jsonType(mv), sh.MemberType)
				}
				if sh.MembersFrom != nil && !slices.Contains(sh.MembersFrom, m) {
					t.Errorf("%s: member %q is not one of %v", k.Key, m, sh.MembersFrom)
				}
			}
			if sh.Members != nil {
				slices.Sort(got)
				w := slices.Clone(sh.Members)
				slices.Sort(w)
				if !slices.Equal(got, w) {
					t.Errorf("%s: members %v, want %v", k.Key, got, sh.Members)
				}
			}
		case []any:
			if sh.Length > 0 && len(v) != sh.Length {
				t.Errorf("%s: %d items, want %d", k.Key, len(v), sh.Length)
			}
			for _, it := range v {
				if jsonType(it) != sh.ItemType {
					t.Errorf("%s: item %v is %s, want %s", k.Key, it, jsonType(it), sh.ItemType)
				}
			}
		}
	}
}

func i64(v int64) *int64 { return &v }

func TestJSONMatchesVzctlSchema(t *testing.T) {
	s := loadSchema(t)
	yes, up, la := true, 93784.5, [3]float64{0.5, 0.25, 0}
	cases := []struct {
		name string
		info Info
		// extra checks on the decoded object
		check func(t *testing.T, row map[string]any)
	}{
		{"stopped, no settings at all", Info{ID: 101, Status: "stopped"}, func(t *testing.T, row map[string]any) {
			// The first difference of issue 20: unset beancounters were
			// null; vzctl prints an object with LONG_MAX.
			u := row["kmemsize"].(map[string]any)
			if u["barrier"].(json.Number) != "9223372036854775807" || u["limit"].(json.Number) != "9223372036854775807" || u["held"].(json.Number) != "0" {
				t.Errorf("unset kmemsize %v", u)
			}
			if row["smart_name"].(json.Number) != "101" {
				t.Errorf("smart_name without a name is the CTID as a number: %v", row["smart_name"])
			}
			for _, k := range []string{"diskspace", "diskinodes", "onboot", "features", "cpulimit", "laverage"} {
				if row[k] != nil {
					t.Errorf("%s = %v, want null", k, row[k])
				}
			}
		}},
		{"stopped, from a vswap sample", Info{ID: 102, Status: "stopped", Name: "web", Layout: "dir",
			CPUUnits: i64(1000), CPULimit: i64(0),
			UBC:   map[string]UBC{"physpages": {Barrier: 0, Limit: 65536}, "swappages": {Barrier: 0, Limit: 131072}},
			Quota: map[string]Quota{"diskspace": {Soft: 2097152, Hard: 2306868}}}, func(t *testing.T, row map[string]any) {
			if row["smart_name"] != "web" {
				t.Errorf("smart_name %v", row["smart_name"])
			}
			if l := row["physpages"].(map[string]any)["limit"]; l.(json.Number) != "65536" {
				t.Errorf("physpages.limit %v", l)
			}
			if q := row["diskinodes"].(map[string]any); q["hardlimit"].(json.Number) != "9223372036854775807" {
				t.Errorf("diskinodes without a limit, diskspace set: %v", q)
			}
			if row["vswap"] != true {
				t.Errorf("vswap %v", row["vswap"])
			}
		}},
		{"running, everything set", Info{ID: 103, Status: "running", Name: "db", Hostname: "db.example",
			Description: "d", OSTemplate: "debian-12-x86_64", Private: "/vz/private/103", Root: "/vz/root/103",
			OriginSample: "vswap-1g", Layout: "image", IPs: []string{"10.0.0.3", "fd00::3/64"},
			Nameserver: []string{"10.0.0.53"}, SearchDomain: []string{"example"}, OnBoot: &yes,
			BootOrder: i64(5), Disabled: false, CPUUnits: i64(2000), CPULimit: i64(50), CPUs: i64(2), IOPrio: i64(6),
			UBC:    map[string]UBC{"numproc": {Held: i64(12), MaxHeld: i64(30), FailCnt: i64(1), Barrier: 100, Limit: 100}},
			Quota:  map[string]Quota{"diskspace": {Usage: i64(1000), Soft: 2000, Hard: 3000}, "diskinodes": {Usage: i64(10), Soft: 20, Hard: 30}},
			Uptime: &up, LoadAvg: &la, Features: []string{"nfs:on", "bogus:on", "sit:off"},
			Traffic: &Traffic{InBytes: 1, InPackets: 2, OutBytes: 3, OutPackets: 4}}, func(t *testing.T, row map[string]any) {
			f := row["features"].(map[string]any)
			if len(f) != 2 || f["nfs"] != true || f["sit"] != false {
				t.Errorf("features %v", f)
			}
			if row["onboot"] != true || row["uptime"].(json.Number) != "93784.500" {
				t.Errorf("onboot %v uptime %v", row["onboot"], row["uptime"])
			}
			if n := row["numproc"].(map[string]any); n["held"].(json.Number) != "12" || n["failcnt"].(json.Number) != "1" {
				t.Errorf("numproc %v", n)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := Format([]Info{c.info}, Options{JSON: true})
			if err != nil {
				t.Fatal(err)
			}
			var rows []map[string]any
			d := json.NewDecoder(strings.NewReader(out))
			d.UseNumber()
			if err := d.Decode(&rows); err != nil || len(rows) != 1 {
				t.Fatalf("%v: %s", err, out)
			}
			checkSchema(t, s, rows[0], objectKeys(t, out)[0])
			c.check(t, rows[0])
		})
	}
}

// Keys govz prints that vzctl does not are the documented extras, and
// docs/VZCTL-DIFFERENCES.md names each.
func TestJSONExtrasDocumented(t *testing.T) {
	s := loadSchema(t)
	doc, err := os.ReadFile("../../docs/VZCTL-DIFFERENCES.md")
	if err != nil {
		t.Fatal(err)
	}
	for k := range s.Extra {
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("extra key %s is not in docs/VZCTL-DIFFERENCES.md", k)
		}
	}
}
