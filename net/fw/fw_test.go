package fw

import (
	"net/netip"
	"strings"
	"testing"
)

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func state(v4, v6 *Fake) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(v4.State(), "\n") {
		if l != "" {
			b.WriteString("iptables " + l)
		}
	}
	for _, l := range strings.SplitAfter(v6.State(), "\n") {
		if l != "" {
			b.WriteString("ip6tables " + l)
		}
	}
	return b.String()
}

func TestRoutedRules(t *testing.T) {
	r := Routed{CT: 101, HostIf: "venet101"}
	for _, tc := range []struct {
		name  string
		setup []netip.Addr
		do    func(t *testing.T, tb *Tables)
		want  string
	}{
		{
			name:  "setup",
			setup: addrs("10.77.0.10", "fd00:77::10", "10.77.0.11"),
			want: `iptables -t mangle -A POSTROUTING -o venet101 -m comment --comment "govz 101 in"
iptables -t mangle -A PREROUTING -i venet101 -m comment --comment "govz 101 src" -j govz-101-src
iptables -t mangle -A PREROUTING -i venet101 -m comment --comment "govz 101 out"
iptables -t mangle -N govz-101-src
iptables -t mangle -A govz-101-src -s 10.77.0.10/32 -j RETURN
iptables -t mangle -A govz-101-src -s 10.77.0.11/32 -j RETURN
iptables -t mangle -A govz-101-src -j DROP
ip6tables -t mangle -A POSTROUTING -o venet101 -m comment --comment "govz 101 in"
ip6tables -t mangle -A PREROUTING -i venet101 -m comment --comment "govz 101 src" -j govz-101-src
ip6tables -t mangle -A PREROUTING -i venet101 -m comment --comment "govz 101 out"
ip6tables -t mangle -N govz-101-src
ip6tables -t mangle -A govz-101-src -s fe80::/10 -j RETURN
ip6tables -t mangle -A govz-101-src -s fd00:77::10/128 -j RETURN
ip6tables -t mangle -A govz-101-src -j DROP
`,
		},
		{
			name:  "allow and disallow live",
			setup: addrs("10.77.0.10"),
			do: func(t *testing.T, tb *Tables) {
				for _, a := range addrs("10.77.0.12", "fd00:77::12", "10.77.0.12") {
					if err := tb.Allow(r, a); err != nil {
						t.Fatal(err)
					}
				}
				if err := tb.Disallow(r, netip.MustParseAddr("10.77.0.10")); err != nil {
					t.Fatal(err)
				}
			},
			want: `iptables -t mangle -A POSTROUTING -o venet101 -m comment --comment "govz 101 in"
iptables -t mangle -A PREROUTING -i venet101 -m comment --comment "govz 101 src" -j govz-101-src
iptables -t mangle -A PREROUTING -i venet101 -m comment --comment "govz 101 out"
iptables -t mangle -N govz-101-src
iptables -t mangle -A govz-101-src -s 10.77.0.12/32 -j RETURN
iptables -t mangle -A govz-101-src -j DROP
ip6tables -t mangle -A POSTROUTING -o venet101 -m comment --comment "govz 101 in"
ip6tables -t mangle -A PREROUTING -i venet101 -m comment --comment "govz 101 src" -j govz-101-src
ip6tables -t mangle -A PREROUTING -i venet101 -m comment --comment "govz 101 out"
ip6tables -t mangle -N govz-101-src
ip6tables -t mangle -A govz-101-src -s fd00:77::12/128 -j RETURN
ip6tables -t mangle -A govz-101-src -s fe80::/10 -j RETURN
ip6tables -t mangle -A govz-101-src -j DROP
`,
		},
		{
			name:  "teardown leaves nothing",
			setup: addrs("10.77.0.10", "fd00:77::10"),
			do: func(t *testing.T, tb *Tables) {
				if err := tb.TeardownRouted(r); err != nil {
					t.Fatal(err)
				}
				// Twice: a second teardown (crash recovery) is no error.
				if err := tb.TeardownRouted(r); err != nil {
					t.Fatal(err)
				}
			},
			want: "",
		},
		{
			name: "a failure unwinds",
			do: func(t *testing.T, tb *Tables) {
				tb.V6.(*Fake).FailOn = "POSTROUTING"
				if err := tb.SetupRouted(r, addrs("10.77.0.10", "fd00:77::10")); err == nil {
					t.Fatal("setup succeeded despite the failure")
				}
			},
			want: "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v4, v6 := NewFake(), NewFake()
			tb := &Tables{V4: v4, V6: v6}
			if tc.setup != nil {
				if err := tb.SetupRouted(r, tc.setup); err != nil {
					t.Fatal(err)
				}
			}
			if tc.do != nil {
				tc.do(t, tb)
			}
			if got := state(v4, v6); got != tc.want {
				t.Errorf("state:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestOtherRulesUntouched(t *testing.T) {
	v4, v6 := NewFake(), NewFake()
	// An admin's rules, including one that mentions our interface name.
	v4.Append("mangle", "PREROUTING", "-i", "venet101", "-j", "MARK", "--set-mark", "1")
	v4.Append("mangle", "POSTROUTING", "-o", "eth0", "-j", "ACCEPT")
	before := state(v4, v6)
	tb := &Tables{V4: v4, V6: v6}
	r := Routed{CT: 101, HostIf: "venet101"}
	if err := tb.SetupRouted(r, addrs("10.77.0.10")); err != nil {
		t.Fatal(err)
	}
	// Another container's rules survive this one's teardown.
	if err := tb.SetupRouted(Routed{CT: 1010, HostIf: "venet1010"}, addrs("10.77.0.20")); err != nil {
		t.Fatal(err)
	}
	if err := tb.TeardownRouted(r); err != nil {
		t.Fatal(err)
	}
	if err := tb.TeardownRouted(Routed{CT: 1010, HostIf: "venet1010"}); err != nil {
		t.Fatal(err)
	}
	if got := state(v4, v6); got != before {
		t.Errorf("after teardown:\n%s\nwant:\n%s", got, before)
	}
}

func TestReadCounters(t *testing.T) {
	v4, v6 := NewFake(), NewFake()
	tb := &Tables{V4: v4, V6: v6}
	for _, r := range []Routed{{101, "venet101"}, {102, "venet102"}} {
		if err := tb.SetupRouted(r, addrs("10.77.0.1"+string(rune('0'+r.CT-100)))); err != nil {
			t.Fatal(err)
		}
	}
	v4.Count("mangle", "PREROUTING", `"govz 101 out"`, 3, 300)
	v6.Count("mangle", "PREROUTING", `"govz 101 out"`, 1, 100)
	v4.Count("mangle", "POSTROUTING", `"govz 101 in"`, 2, 200)
	v4.Count("mangle", "PREROUTING", `"govz 101 src"`, 50, 5000) // the jump counts spoofed packets too: ignored
	v4.Count("mangle", "POSTROUTING", `"govz 102 in"`, 7, 700)
	got, err := tb.ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]Counters{
		101: {InBytes: 200, InPackets: 2, OutBytes: 400, OutPackets: 4},
		102: {InBytes: 700, InPackets: 7},
	}
	if len(got) != len(want) || got[101] != want[101] || got[102] != want[102] {
		t.Errorf("counters %+v, want %+v", got, want)
	}
}

func TestParseCounter(t *testing.T) {
	for _, tc := range []struct {
		rule   string
		id     int
		what   string
		pk, by uint64
		ok     bool
	}{
		{`-A POSTROUTING -o venet101 -m comment --comment "govz 101 in" -c 2 168`, 101, "in", 2, 168, true},
		{`-A PREROUTING -i venet7 -m comment --comment "govz 7 out" -c 18446744073709551615 1`, 7, "out", 1<<64 - 1, 1, true},
		{`-A PREROUTING -i venet7 -m comment --comment "govz 7 src" -c 5 5 -j govz-7-src`, 0, "", 0, 0, false},
		{`-A PREROUTING -i x -m comment --comment "govzz 7 out" -c 5 5`, 0, "", 0, 0, false},
		{`-A PREROUTING -i x -m comment --comment "govz x out" -c 5 5`, 0, "", 0, 0, false},
		{`-P PREROUTING ACCEPT -c 0 0`, 0, "", 0, 0, false},
	} {
		id, what, pk, by, ok := parseCounter(tc.rule)
		if id != tc.id || what != tc.what || pk != tc.pk || by != tc.by || ok != tc.ok {
			t.Errorf("%s: got %d %q %d %d %v", tc.rule, id, what, pk, by, ok)
		}
	}
}
