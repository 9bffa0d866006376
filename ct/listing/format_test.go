package listing

import (
	"strings"
	"testing"
)

// vzctl printf's its JSON: objects one member a line in its order, lists
// with ", " between items, uptime with three decimals.
func TestJSONLayoutIsVzctls(t *testing.T) {
	out, err := Format([]Info{{ID: 101, Status: "stopped", IPs: []string{"10.0.0.1", "10.0.0.2"},
		UBC: map[string]UBC{"numproc": {Barrier: 100, Limit: 110}}}},
		Options{JSON: true, Fields: "ctid,ip,numproc,uptime"})
	if err != nil {
		t.Fatal(err)
	}
	want := `[
  {
    "ctid": 101,
    "ip": ["10.0.0.1", "10.0.0.2"],
    "numproc": {
      "held": 0,
      "maxheld": 0,
      "barrier": 100,
      "limit": 110,
      "failcnt": 0
    },
    "uptime": 0.000
  }
]
`
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
}

func TestTableColumns(t *testing.T) {
	no := false
	infos := []Info{
		{ID: 101, Status: "running", Features: []string{"sit:off", "nfs:on"}, OnBoot: &no, Uptime: ptr(10.0)},
		{ID: 102, Status: "stopped"},
		{ID: 103, Status: "running", Uptime: ptr(500.0)},
	}
	cases := []struct {
		name string
		o    Options
		want string
	}{
		// features in vzctl's order, comma-separated; onboot unset is "-";
		// an unset beancounter is not limited (LONG_MAX), not "-".
		{"unset values", Options{Fields: "ctid,features,onboot,cpus,ioprio,numproc.l", NoHeader: true},
			"       101 nfs:on,sit:off      no     -   - 9223372036854775807\n" +
				"       102 -                    -     -   - 9223372036854775807\n" +
				"       103 -                    -     -   - 9223372036854775807\n"},
		// uptime_sort_fn: unknown first, then the longest running.
		{"sort by uptime", Options{Fields: "ctid", NoHeader: true, Sort: "uptime"}, "       102\n       103\n       101\n"},
		// vzctl's state order: running, stopped, mounted; ties by CTID.
		{"sort by status", Options{Fields: "ctid", NoHeader: true, Sort: "status"}, "       101\n       103\n       102\n"},
		// Fields vzctl cannot sort by keep CTID order, reversed by "-".
		{"reverse of an unsortable field", Options{Fields: "ctid", NoHeader: true, Sort: "-onboot"}, "       103\n       102\n       101\n"},
		// -S drops the running ones while printing.
		{"stopped only", Options{Fields: "ctid,status", Stopped: true}, "      CTID STATUS\n       102 stopped\n"},
		// veid and vpsid are fields of their own, headed CTID.
		{"old names of ctid", Options{Fields: "veid,vpsid", NoHeader: true, Hostname: "nomatch"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := Format(infos, c.o)
			if err != nil {
				t.Fatal(err)
			}
			if out != c.want {
				t.Fatalf("got\n%q\nwant\n%q", out, c.want)
			}
		})
	}
}

func TestFieldErrors(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Fields: "nosuch"}, "unknown field: nosuch"},
		{Options{Fields: "numproc.l", JSON: true}, "field `numproc.l' is not available in JSON output"},
		{Options{Sort: "-nosuch"}, "invalid sort field name: -nosuch"},
	} {
		if _, err := Format(nil, c.o); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
}

func ptr(f float64) *float64 { return &f }
