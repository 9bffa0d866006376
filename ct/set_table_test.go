package ct

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"govz/conf"
	"govz/ct/listing"
	"govz/ct/ubc"
	"govz/ct/vzlog"
	"govz/internal/exitcode"
)

// setEffect says how a container key set with `vzctl set` takes effect.
type setEffect int

const (
	inSpec     setEffect = iota // the supervisor's Spec for the next boot changes
	inUBC                       // ubc.FromConfig sets it: applied live and at start
	inListing                   // vzlist shows it (identity, metadata)
	inBoot                      // vzctl boot-node's choice or order changes
	inNetwork                   // applied by the network code; e2e tests/net_test.go
	inStorage                   // applied by the storage layout; e2e tests/storage_test.go
	inStopPath                  // vzctl stop's timeout; e2e tests/runtime_test.go TestStopTimeout
)

// setTable has one row per container key: a value that must take effect,
// and values that must be refused when set (with vzctl's code for them).
var setTable = map[string]struct {
	good   string
	effect setEffect
	bad    map[string]int
}{
	"ve_root":       {"/srv/root/$VEID", inStorage, nil},
	"ve_private":    {"/srv/private/$VEID", inStorage, nil},
	"ve_layout":     {"image", inStorage, map[string]int{"ploop": 21}},
	"name":          {"web", inListing, map[string]int{"12": 131, "a/b": 131}},
	"description":   {"free text", inListing, nil},
	"ostemplate":    {"debian-12-x86_64", inListing, map[string]int{"../x": 21}},
	"origin_sample": {"vswap-1g", inListing, map[string]int{"a/b": 21}},
	"onboot":        {"yes", inBoot, map[string]int{"maybe": 21}},
	"bootorder":     {"5", inBoot, map[string]int{"-1": 21, "x": 21}},
	"disabled":      {"yes", inListing, map[string]int{"maybe": 21}},
	"stop_timeout":  {"7", inStopPath, map[string]int{"-1": 21}},
	"local_uid":     {"200000", inSpec, map[string]int{"5": 21}},
	"local_gid":     {"200000", inSpec, map[string]int{"5": 21}},
	"hostname":      {"ct.example", inSpec, map[string]int{"-bad-": 70}},
	"ip_address":    {"10.1.2.3", inNetwork, map[string]int{"300.1.1.1": 71}},
	"nameserver":    {"10.0.0.53", inNetwork, map[string]int{"x.y": 72}},
	"searchdomain":  {"example.com", inNetwork, map[string]int{"-x-": 73}},
	"netif":         {"ifname=eth0", inNetwork, nil},
	"capability":    {"sys_time:on", inSpec, map[string]int{"bogus:on": 21, "sys_time:maybe": 21}},
	"devnodes":      {"net/tun:rw", inSpec, map[string]int{"nonexist:rw": 21, "net/tun:x": 21, "../sda:rw": 21}},
	"devices":       {"c:10:200:rw", inSpec, map[string]int{"all:rw": 21, "c:x:1:rw": 21, "q:1:1:r": 21}},
	"features":      {"tun:on", inSpec, map[string]int{"bogus:on": 21, "nfs:on": 21, "bridge:off": 21, "tun": 21}},
	"netfilter":     {"full", inSpec, map[string]int{"stateless": 21, "bogus": 21}},
	"bindmount": {"/tmp:/mnt/host:ro", inSpec, map[string]int{"tmp:/x": 21, "/nonexistent-govz:/x": 21, "/tmp:../x": 21,
		"/tmp:/a/../b": 21, "/tmp:/x:rx": 21, "/tmp:/proc/x": 21, "/tmp:/": 21, "/dev/null:/x": 21}},
	"quotaugidlimit": {"100", inStorage, map[string]int{"-1": 21}}, // warned: not enforced
	"diskspace":      {"1G", inStorage, map[string]int{"lots": 21}},
	"diskinodes":     {"100000", inStorage, map[string]int{"1G": 21}},
	"quotatime":      {"60", inStorage, map[string]int{"-1": 21}},
}

func init() {
	// Every resource key is ubc's: one row each.
	for _, k := range ubc.Keys {
		if _, ok := setTable[k]; !ok {
			setTable[k] = struct {
				good   string
				effect setEffect
				bad    map[string]int
			}{"", inUBC, nil}
		}
	}
}

// TestEverySetKeyTakesEffectOrIsRefused walks every container key that
// `vzctl set` can change: each has a consumer that the test observes
// (Spec, ubc, vzlist, boot-node) or an end-to-end test named in its row,
// and the bad values are refused when set, not at the next start.
func TestEverySetKeyTakesEffectOrIsRefused(t *testing.T) {
	n := &Node{Paths: conf.Paths{Root: t.TempDir()}, Global: conf.Defaults(), Log: &vzlog.Logger{}}
	os.MkdirAll(n.Paths.ConfDir(), 0o755)
	os.MkdirAll(filepath.Join(n.Paths.Root, "private", "101"), 0o755)
	base := &conf.Config{}
	for _, k := range conf.Keys {
		if k.Scope != conf.CT {
			continue
		}
		row, ok := setTable[k.Name]
		if !ok {
			t.Errorf("key %s: no row: say how it takes effect, or refuse it", k.Name)
			continue
		}
		for v, code := range row.bad {
			l := &conf.Config{}
			err := l.SetString(k.Name, v)
			if err == nil {
				err = l.Validate()
			}
			if err == nil {
				err = n.checkGrants(l)
			}
			if got := exitcode.Of(err); got != code {
				t.Errorf("set --%s %q: exit %d (%v), want %d", k.Name, v, got, err, code)
			}
		}
		if row.effect == inUBC {
			if !ubc.IsResourceKey(k.Name) {
				t.Errorf("key %s: not a resource key", k.Name)
			}
			continue
		}
		l := &conf.Config{}
		if err := l.SetString(k.Name, row.good); err != nil {
			t.Fatalf("%s = %q: %v", k.Name, row.good, err)
		}
		if k.Name == "local_uid" || k.Name == "local_gid" {
			// Only a pair maps the user namespace.
			l.SetString("local_uid", row.good)
			l.SetString("local_gid", row.good)
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("%s = %q: %v", k.Name, row.good, err)
		}
		if err := n.checkGrants(l); err != nil {
			t.Fatalf("%s = %q: %v", k.Name, row.good, err)
		}
		switch row.effect {
		case inSpec:
			before, after := specJSON(t, n, base), specJSON(t, n, l)
			if k.Name == "netfilter" {
				// full is what every container has: the same Spec, and
				// the values that would differ are refused above.
				if before != after {
					t.Errorf("netfilter full changed the Spec")
				}
				continue
			}
			if before == after {
				t.Errorf("%s = %q: the Spec does not change", k.Name, row.good)
			}
		case inListing:
			st := Status{ID: 101, Exists: true}
			if reflect.DeepEqual(listing.Of(n.inv(), 101, base, n.Effective(base), st), listing.Of(n.inv(), 101, l, n.Effective(l), st)) {
				t.Errorf("%s = %q: vzlist shows no difference", k.Name, row.good)
			}
		case inBoot:
			// Against container 100 (onboot, bootorder 0): onboot = yes
			// makes 101 start, bootorder 5 makes it start first.
			yes := true
			order := func(c *conf.Config) []int {
				eff := n.Effective(c)
				cand := bootCandidate{ID: 101, OnBoot: eff.OnBoot, BootOrder: eff.BootOrder}
				if k.Name == "bootorder" {
					cand.OnBoot = &yes
				}
				return ids(bootOrder([]bootCandidate{{ID: 100, OnBoot: &yes, BootOrder: new(int)}, cand}))
			}
			if slices.Equal(order(base), order(l)) {
				t.Errorf("%s = %q: boot-node does not change", k.Name, row.good)
			}
		}
	}
}

func ids(cs []bootCandidate) []int {
	var out []int
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// specJSON is container 101's supervisor Spec with layer as its config.
func specJSON(t *testing.T, n *Node, layer *conf.Config) string {
	t.Helper()
	l := conf.Merge(&conf.Config{VELayout: ptr("dir")}, layer)
	if err := l.Save(n.Paths.CTConfig(101), ""); err != nil {
		t.Fatal(err)
	}
	s, err := n.SpecLoader(101)()
	if err != nil {
		t.Fatalf("spec: %v", err)
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func ptr[T any](v T) *T { return &v }
