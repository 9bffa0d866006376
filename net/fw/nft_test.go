package fw

import (
	"slices"
	"testing"
)

func TestParseMapKeys(t *testing.T) {
	out := []byte(`{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"table": {"family": "bridge", "name": "govz"}},
{"map": {"family": "bridge", "name": "other", "table": "govz", "type": "ifname", "map": "verdict", "elem": [["x", {"accept": null}]]}},
{"map": {"family": "bridge", "name": "ports", "table": "govz", "type": "ifname", "handle": 1, "map": "verdict",
 "elem": [["veth101.0", {"jump": {"target": "port_veth101.0"}}], ["veth102.0", {"jump": {"target": "port_veth102.0"}}]]}}]}`)
	keys, err := parseMapKeys(out, "ports")
	if err != nil || !slices.Equal(keys, []string{"veth101.0", "veth102.0"}) {
		t.Errorf("keys %v, %v", keys, err)
	}
	empty := []byte(`{"nftables": [{"map": {"family": "bridge", "name": "ports", "table": "govz", "type": "ifname", "map": "verdict"}}]}`)
	if keys, err := parseMapKeys(empty, "ports"); err != nil || len(keys) != 0 {
		t.Errorf("empty map: %v, %v", keys, err)
	}
	if _, err := parseMapKeys([]byte(`{"nftables": [{"map": {"name": "ports", "elem": [42]}}]}`), "ports"); err == nil {
		t.Error("a malformed element accepted")
	}
}
