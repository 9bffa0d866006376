package migrate

import (
	"errors"
	"testing"
)

// conflicts reads vzlist -j output: a taken name is 15, a taken address
// (with or without a prefix length, any spelling) 12, an empty node or
// other values nothing.
func TestConflicts(t *testing.T) {
	list := []byte(`[{"ctid": 101, "name": "web", "ip": ["10.0.0.1", "fd00::0001"], "local_uid": 0, "local_gid": 0},
		{"ctid": 102, "name": null, "ip": [], "local_uid": 1879048192, "local_gid": 1879048192}]`)
	for _, tc := range []struct {
		name     string
		ips      []string
		uid, gid int64
		want     int
	}{
		{"web", nil, 0, 0, ExitName},
		{"db", []string{"10.0.0.1/24"}, 0, 0, ExitIPInUse},
		{"", []string{"fd00::1"}, 0, 0, ExitIPInUse},
		{"db", []string{"10.0.0.2", "fd00::2"}, 0, 0, 0},
		{"db", nil, 1879048192, 1879048192, ExitCopy},
		{"db", nil, 1879048192 + 65536, 1879048192 + 65536, 0},
		{"db", nil, 1879048192 + 65536, 1879048192, ExitCopy},
	} {
		err := conflicts(list, "dst", want{name: tc.name, ips: tc.ips, uid: tc.uid, gid: tc.gid})
		var me *Error
		switch {
		case tc.want == 0 && err != nil:
			t.Errorf("%q %v: %v", tc.name, tc.ips, err)
		case tc.want != 0 && (!errors.As(err, &me) || me.Code != tc.want):
			t.Errorf("%q %v: got %v, want exit %d", tc.name, tc.ips, err, tc.want)
		}
	}
	if err := conflicts([]byte("\n"), "dst", want{name: "web", ips: []string{"10.0.0.1"}}); err != nil {
		t.Errorf("empty node: %v", err)
	}
}
