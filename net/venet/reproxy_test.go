package venet

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// flap does to the fake node what the kernel does when dev goes down:
// every proxy entry on it is gone.
func (w *world) flap(dev string) {
	for _, l := range strings.Split(w.host.State(), "\n") {
		if a, ok := strings.CutPrefix(l, "ip neigh add proxy "); ok && strings.HasSuffix(a, " dev "+dev) {
			w.host.DelProxy(dev, netip.MustParseAddr(strings.Fields(a)[0]))
		}
	}
}

func proxies(w *world) string {
	var out []string
	for _, l := range strings.Split(w.host.State(), "\n") {
		if a, ok := strings.CutPrefix(l, "ip neigh add proxy "); ok {
			out = append(out, a)
		}
	}
	return strings.Join(out, ", ")
}

func recorded(st *State) string {
	var out []string
	for _, a := range st.Addrs {
		out = append(out, fmt.Sprintf("%s=%s", a.Prefix.Addr(), strings.Join(a.Neigh, "+")))
	}
	return strings.Join(out, " ")
}

func TestRestoreProxies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		nb     string
		addrs  []netip.Prefix
		before func(w *world, st *State) // between Up and the flap
		flap   string                    // the device that went down and up
		dev    string                    // RestoreProxies' argument
		want   string                    // restored, in plan order
		proxy  string                    // the node's proxy entries after
		record string                    // st after
	}{
		{
			name:  "detect: the flapped device's entries, not another's",
			nb:    "detect",
			addrs: prefixes("192.0.2.10", "198.51.100.7", "2001:db8::7"),
			flap:  "lan0", dev: "lan0",
			want:   "192.0.2.10 on lan0",
			proxy:  "192.0.2.10 dev lan0, 198.51.100.7 dev eth0, 2001:db8::7 dev eth0",
			record: "192.0.2.10=lan0 198.51.100.7=eth0 2001:db8::7=eth0",
		},
		{
			name:  "detect: both families on the default route's device",
			nb:    "detect",
			addrs: prefixes("192.0.2.10", "198.51.100.7", "2001:db8::7"),
			flap:  "eth0", dev: "eth0",
			want:   "198.51.100.7 on eth0, 2001:db8::7 on eth0",
			proxy:  "192.0.2.10 dev lan0, 198.51.100.7 dev eth0, 2001:db8::7 dev eth0",
			record: "192.0.2.10=lan0 198.51.100.7=eth0 2001:db8::7=eth0",
		},
		{
			name:  "detect: a device that holds none of the container's addresses",
			nb:    "detect",
			addrs: prefixes("192.0.2.10"),
			flap:  "eth0", dev: "eth0",
			proxy:  "192.0.2.10 dev lan0",
			record: "192.0.2.10=lan0",
		},
		{
			name:  "detect: nothing was found at start; now the default route's device",
			nb:    "detect",
			addrs: prefixes("198.51.100.7"),
			before: func(w *world, st *State) {
				w.host.DelProxy("eth0", netip.MustParseAddr("198.51.100.7"))
				st.Addrs[0].Neigh = nil
			},
			dev:    "eth0",
			want:   "198.51.100.7 on eth0",
			proxy:  "198.51.100.7 dev eth0",
			record: "198.51.100.7=eth0",
		},
		{
			name:  "list: the listed devices, also one listed since",
			nb:    "list:lan0 eth0",
			addrs: prefixes("192.0.2.10", "2001:db8::7"),
			before: func(w *world, st *State) {
				for i := range st.Addrs {
					w.host.DelProxy("eth0", st.Addrs[i].Prefix.Addr())
					st.Addrs[i].Neigh = []string{"lan0"}
				}
			},
			flap: "lan0", dev: "",
			want:   "192.0.2.10 on lan0, 192.0.2.10 on eth0, 2001:db8::7 on lan0, 2001:db8::7 on eth0",
			proxy:  "192.0.2.10 dev eth0, 192.0.2.10 dev lan0, 2001:db8::7 dev eth0, 2001:db8::7 dev lan0",
			record: "192.0.2.10=lan0+eth0 2001:db8::7=lan0+eth0",
		},
		{
			name:  "list: an unlisted device",
			nb:    "list:lan0",
			addrs: prefixes("192.0.2.10"),
			flap:  "eth0", dev: "eth0",
			proxy:  "192.0.2.10 dev lan0",
			record: "192.0.2.10=lan0",
		},
		{
			name:  "all: a device that came up after the address was added joins",
			nb:    "all",
			addrs: prefixes("192.0.2.10"),
			before: func(w *world, st *State) {
				w.host.DelProxy("lan0", netip.MustParseAddr("192.0.2.10"))
				st.Addrs[0].Neigh = []string{"eth0"}
			},
			dev:    "lan0",
			want:   "192.0.2.10 on lan0",
			proxy:  "192.0.2.10 dev eth0, 192.0.2.10 dev lan0",
			record: "192.0.2.10=eth0+lan0",
		},
		{
			name:  "all: not a neighbour device",
			nb:    "all",
			addrs: prefixes("192.0.2.10"),
			dev:   "lo",
			proxy: "192.0.2.10 dev eth0, 192.0.2.10 dev lan0", record: "192.0.2.10=eth0+lan0",
		},
		{
			name:  "a recorded device that is gone: a warning",
			nb:    "detect",
			addrs: prefixes("192.0.2.10"),
			before: func(w *world, st *State) {
				st.Addrs[0].Neigh = append(st.Addrs[0].Neigh, "gone0")
			},
			flap: "lan0", dev: "",
			want:   "192.0.2.10 on lan0",
			proxy:  "192.0.2.10 dev lan0",
			record: "192.0.2.10=lan0+gone0",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			var warned []string
			w.env.Logf = func(f string, a ...any) { warned = append(warned, fmt.Sprintf(f, a...)) }
			nb, err := ParseNeighbours(tc.nb)
			if err != nil {
				t.Fatal(err)
			}
			st, err := Up(w.env, tc.addrs, nb)
			if err != nil {
				t.Fatal(err)
			}
			if tc.before != nil {
				tc.before(w, st)
			}
			if tc.flap != "" {
				w.flap(tc.flap)
			}
			w.announced = nil
			got, err := RestoreProxies(w.env, st, nb, tc.dev)
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, r := range got {
				s = append(s, r.String())
			}
			if g := strings.Join(s, ", "); g != tc.want {
				t.Errorf("restored %q, want %q", g, tc.want)
			}
			if g := strings.Join(w.announced, ", "); g != tc.want {
				t.Errorf("announced %q, want %q", g, tc.want)
			}
			if g := proxies(w); g != tc.proxy {
				t.Errorf("proxy entries %q, want %q", g, tc.proxy)
			}
			if g := recorded(st); g != tc.record {
				t.Errorf("record %q, want %q", g, tc.record)
			}
			if strings.Contains(tc.name, "gone") != (len(warned) == 1) {
				t.Errorf("warnings: %q", warned)
			}
			// What the record now says is what teardown removes: nothing
			// of it stays on the node.
			if err := Down(w.env, st); err != nil {
				t.Fatal(err)
			}
			if g := proxies(w); g != "" {
				t.Errorf("after Down: %s", g)
			}
		})
	}
}
