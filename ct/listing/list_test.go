package listing

import (
	"reflect"
	"testing"
)

// A listing reads only the counters its fields show (needsOf). Every
// field must print the same whether the listing read everything or only
// what needsOf asked for: a field missing from needsOf would print "-"
// or a configured limit instead of the kernel's figure.
func TestNeedsCoverEveryField(t *testing.T) {
	p := func(v int64) *int64 { return &v }
	full := Info{ID: 101, Status: "running", UBC: map[string]UBC{}, Quota: map[string]Quota{
		"diskspace":  {Usage: p(5), Soft: 100, Hard: 110},
		"diskinodes": {Usage: p(6), Soft: 200, Hard: 220},
	}}
	for _, u := range UBCNames {
		full.UBC[u.Name] = UBC{Held: p(1), MaxHeld: p(2), FailCnt: p(3), Barrier: 10, Limit: 30}
	}
	// partial is what List gathers with nd: the configured barrier and
	// limit of every beancounter (none here), the kernel's figures of
	// those read.
	partial := func(nd needs) Info {
		i := full
		i.UBC, i.Quota = map[string]UBC{}, map[string]Quota{}
		for name, u := range full.UBC {
			read := nd.memory
			switch {
			case name == "numproc":
				read = nd.pids
			case procCounterKeys[name]:
				read = nd.procCounters
			}
			if !read {
				u = UBC{Barrier: maxLong, Limit: maxLong}
			}
			i.UBC[name] = u
		}
		for name, q := range full.Quota {
			if !nd.disk {
				q.Usage = nil
			}
			i.Quota[name] = q
		}
		return i
	}
	for _, f := range Fields() {
		nd := needsOf([]string{f.Name})
		got := partial(nd)
		if a, b := f.text(&full), f.text(&got); a != b {
			t.Errorf("field %s: %q reading everything, %q reading %+v", f.Name, a, b, nd)
		}
		if a, b := f.json(&full), f.json(&got); !reflect.DeepEqual(a, b) {
			t.Errorf("field %s (JSON): %v reading everything, %v reading %+v", f.Name, a, b, nd)
		}
	}
	if nd := needsOf(nil); nd != needAll {
		t.Errorf("no field list (JSON without -o) reads %+v, want everything", nd)
	}
	if nd := needsOf((Options{}).FieldNames()); nd != (needs{pids: true}) {
		t.Errorf("the default columns read %+v, want only the pids counters", nd)
	}
}

// The sort field is read too: sorting by a counter not shown must see it.
func TestFieldNamesIncludeSort(t *testing.T) {
	got := Options{Fields: "ctid, hostname", Sort: "-numfile"}.FieldNames()
	want := []string{"ctid", "hostname", "numfile"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FieldNames = %q, want %q", got, want)
	}
	if got := (Options{JSON: true, Sort: "numproc"}).FieldNames(); got != nil {
		t.Errorf("JSON without -o: FieldNames = %q, want nil (every field)", got)
	}
}
