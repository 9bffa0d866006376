package migrate

import (
	"errors"
	"testing"
)

// conflicts reads vzlist -j output: a taken name is 15, a taken address
// (with or without a prefix length, any spelling) 12, an empty node or
// other values nothing.
func TestConflicts(t *testing.T) {
	list := []byte(`[{"ctid": 101, "name": "web", "ip": ["10.0.0.1", "fd00::0001"]}, {"ctid": 102, "name": null, "ip": []}]`)
	for _, tc := range []struct {
		name string
		ips  []string
		want int
	}{
		{"web", nil, ExitName},
		{"db", []string{"10.0.0.1/24"}, ExitIPInUse},
		{"", []string{"fd00::1"}, ExitIPInUse},
		{"db", []string{"10.0.0.2", "fd00::2"}, 0},
	} {
		err := conflicts(list, "dst", tc.name, tc.ips)
		var me *Error
		switch {
		case tc.want == 0 && err != nil:
			t.Errorf("%q %v: %v", tc.name, tc.ips, err)
		case tc.want != 0 && (!errors.As(err, &me) || me.Code != tc.want):
			t.Errorf("%q %v: got %v, want exit %d", tc.name, tc.ips, err, tc.want)
		}
	}
	if err := conflicts([]byte("\n"), "dst", "web", []string{"10.0.0.1"}); err != nil {
		t.Errorf("empty node: %v", err)
	}
}
