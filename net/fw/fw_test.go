package fw

import (
	"net/netip"
	"slices"
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
	// An admin's rules, including one that mentions our interface name
	// and ones that look like ours: our comment on another interface or
	// with a target, another container's comment on our interface.
	v4.Append("mangle", "PREROUTING", "-i", "venet101", "-j", "MARK", "--set-mark", "1")
	v4.Append("mangle", "POSTROUTING", "-o", "eth0", "-j", "ACCEPT")
	for _, f := range []*Fake{v4, v6} {
		f.Append("mangle", "PREROUTING", "-i", "venet101", "-m", "comment", "--comment", "govz 101 src", "-j", "MARK", "--set-mark", "1")
		f.Append("mangle", "PREROUTING", "-i", "venet1010", "-m", "comment", "--comment", "govz 101 out")
		f.Append("mangle", "POSTROUTING", "-o", "venet101", "-m", "comment", "--comment", "govz 101 in", "-j", "ACCEPT")
		f.Append("mangle", "POSTROUTING", "-o", "venet101", "-m", "comment", "--comment", "govz 1011 in")
		f.Append("mangle", "POSTROUTING", "-o", "venet101", "-m", "comment", "--comment", "govz 101 in extra")
	}
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

// recorder keeps the batches a Fake is given.
type recorder struct {
	*Fake
	scripts []string
}

func (r *recorder) Restore(s string) error {
	r.scripts = append(r.scripts, s)
	return r.Fake.Restore(s)
}

// The text iptables-restore gets: the comment quoted as one argument, the
// jump inserted after the counter so it ends up first.
func TestSetupScript(t *testing.T) {
	v4, v6 := &recorder{Fake: NewFake()}, &recorder{Fake: NewFake()}
	tb := &Tables{V4: v4, V6: v6}
	if err := tb.SetupRouted(Routed{CT: 101, HostIf: "venet101"}, addrs("10.77.0.10", "fd00:77::10")); err != nil {
		t.Fatal(err)
	}
	want4 := `*mangle
-N govz-101-src
-A govz-101-src -s 10.77.0.10/32 -j RETURN
-A govz-101-src -j DROP
-I PREROUTING 1 -i venet101 -m comment --comment "govz 101 out"
-I PREROUTING 1 -i venet101 -m comment --comment "govz 101 src" -j govz-101-src
-I POSTROUTING 1 -o venet101 -m comment --comment "govz 101 in"
COMMIT
`
	want6 := `*mangle
-N govz-101-src
-A govz-101-src -s fe80::/10 -j RETURN
-A govz-101-src -s fd00:77::10/128 -j RETURN
-A govz-101-src -j DROP
-I PREROUTING 1 -i venet101 -m comment --comment "govz 101 out"
-I PREROUTING 1 -i venet101 -m comment --comment "govz 101 src" -j govz-101-src
-I POSTROUTING 1 -o venet101 -m comment --comment "govz 101 in"
COMMIT
`
	if len(v4.scripts) != 1 || v4.scripts[0] != want4 {
		t.Errorf("iptables-restore got %q, want %q", v4.scripts, want4)
	}
	if len(v6.scripts) != 1 || v6.scripts[0] != want6 {
		t.Errorf("ip6tables-restore got %q, want %q", v6.scripts, want6)
	}
	v4.scripts = nil
	if err := tb.TeardownRouted(Routed{CT: 101, HostIf: "venet101"}); err != nil {
		t.Fatal(err)
	}
	want := `*mangle
-D PREROUTING -i venet101 -m comment --comment "govz 101 src" -j govz-101-src
-D PREROUTING -i venet101 -m comment --comment "govz 101 out"
-D POSTROUTING -o venet101 -m comment --comment "govz 101 in"
-F govz-101-src
-X govz-101-src
COMMIT
`
	if len(v4.scripts) != 1 || v4.scripts[0] != want {
		t.Errorf("teardown got %q, want %q", v4.scripts, want)
	}
}

// An interface name may hold a quote (the kernel refuses only '/', ':'
// and blanks); written into the batch it would end the argument early.
func TestUnquotableRefused(t *testing.T) {
	v4, v6 := NewFake(), NewFake()
	tb := &Tables{V4: v4, V6: v6}
	err := tb.SetupRouted(Routed{CT: 101, HostIf: `ve"t -j ACCEPT`}, addrs("10.77.0.10"))
	if err == nil || !strings.Contains(err.Error(), `ve\"t -j ACCEPT`) {
		t.Fatalf("got %v, want an error naming the interface", err)
	}
	if got := state(v4, v6); got != "" {
		t.Errorf("left:\n%s", got)
	}
}

// The point of the batches: a constant number of execs per family.
func TestExecs(t *testing.T) {
	r := Routed{CT: 101, HostIf: "venet101"}
	v4, v6 := NewFake(), NewFake()
	tb := &Tables{V4: v4, V6: v6}
	step := func(name string, f func() error, want ...string) {
		t.Helper()
		v4.Calls, v6.Calls = nil, nil
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := strings.Join(v4.Calls, ", ") + " | " + strings.Join(v6.Calls, ", "); got != strings.Join(want, "") {
			t.Errorf("%s: execs %s, want %s", name, got, strings.Join(want, ""))
		}
	}
	many := addrs("10.77.0.10", "10.77.0.11", "10.77.0.12", "10.77.0.13", "fd00:77::10", "fd00:77::11")
	step("teardown of nothing", func() error { return tb.TeardownRouted(r) },
		"list mangle | list mangle")
	step("setup", func() error { return tb.SetupRouted(r, many) },
		"list mangle, restore mangle | list mangle, restore mangle")
	step("setup over leftovers", func() error { return tb.SetupRouted(r, many) },
		"list mangle, restore mangle, restore mangle | list mangle, restore mangle, restore mangle")
	step("allow", func() error { return tb.Allow(r, netip.MustParseAddr("10.77.0.20")) },
		"list mangle, restore mangle | ")
	step("allow again", func() error { return tb.Allow(r, netip.MustParseAddr("10.77.0.20")) },
		"list mangle | ")
	step("disallow", func() error { return tb.Disallow(r, netip.MustParseAddr("fd00:77::11")) },
		" | list mangle, restore mangle")
	step("disallow again", func() error { return tb.Disallow(r, netip.MustParseAddr("fd00:77::11")) },
		" | list mangle")
	step("counters", func() error { _, err := tb.ReadCounters(); return err },
		"list mangle -v | list mangle -v")
	step("teardown", func() error { return tb.TeardownRouted(r) },
		"list mangle, restore mangle | list mangle, restore mangle")
}

// Leftovers of an earlier run, whole or half removed, are replaced.
func TestSetupOverLeftovers(t *testing.T) {
	r := Routed{CT: 101, HostIf: "venet101"}
	clean := func() string {
		v4, v6 := NewFake(), NewFake()
		if err := (&Tables{V4: v4, V6: v6}).SetupRouted(r, addrs("10.77.0.10", "fd00:77::10")); err != nil {
			t.Fatal(err)
		}
		return state(v4, v6)
	}()
	for name, seed := range map[string]func(v4, v6 *Fake){
		"an earlier setup": func(v4, v6 *Fake) {
			if err := (&Tables{V4: v4, V6: v6}).SetupRouted(r, addrs("10.77.0.99", "fd00:77::99")); err != nil {
				t.Fatal(err)
			}
		},
		"a chain without jump": func(v4, v6 *Fake) {
			for _, f := range []*Fake{v4, v6} {
				f.do("mangle", []string{"-N", "govz-101-src"})
				f.do("mangle", []string{"-A", "govz-101-src", "-s", "10.77.0.99/32", "-j", "RETURN"})
			}
		},
		"counters without chain": func(v4, v6 *Fake) {
			v4.Append("mangle", "PREROUTING", r.countOut()...)
			v6.Append("mangle", "POSTROUTING", r.countIn()...)
			v6.Append("mangle", "POSTROUTING", r.countIn()...) // twice
		},
	} {
		t.Run(name, func(t *testing.T) {
			v4, v6 := NewFake(), NewFake()
			seed(v4, v6)
			if err := (&Tables{V4: v4, V6: v6}).SetupRouted(r, addrs("10.77.0.10", "fd00:77::10")); err != nil {
				t.Fatal(err)
			}
			if got := state(v4, v6); got != clean {
				t.Errorf("state:\n%s\nwant:\n%s", got, clean)
			}
		})
	}
}

// Whichever command of a batch fails, nothing of the setup stays, not
// even the leftovers it removed first; a failing IPv4 batch stops before
// IPv6, a failing IPv6 one takes the applied IPv4 batch back.
func TestSetupFailureLeavesNothing(t *testing.T) {
	r := Routed{CT: 101, HostIf: "venet101"}
	for _, tc := range []struct {
		fam, failOn string
		leftovers   bool
		v6calls     string
	}{
		{"v4", "-N govz-101-src", false, "list mangle"},
		{"v4", "-j DROP", true, "list mangle, restore mangle"},
		{"v4", "-I POSTROUTING", false, "list mangle"},
		{"v6", "-s fe80::/10", false, "list mangle, restore mangle"},
		{"v6", `-I PREROUTING 1 -i venet101 -m comment --comment "govz 101 src"`, true, "list mangle, restore mangle, restore mangle"},
		{"v6", "-I POSTROUTING", false, "list mangle, restore mangle"},
	} {
		t.Run(tc.fam+" "+tc.failOn, func(t *testing.T) {
			v4, v6 := NewFake(), NewFake()
			v4.Append("mangle", "PREROUTING", "-i", "eth0", "-j", "MARK", "--set-mark", "1")
			before := state(v4, v6)
			tb := &Tables{V4: v4, V6: v6}
			if tc.leftovers {
				if err := tb.SetupRouted(r, addrs("10.77.0.99", "fd00:77::99")); err != nil {
					t.Fatal(err)
				}
			}
			v6.Calls = nil
			map[string]*Fake{"v4": v4, "v6": v6}[tc.fam].FailOn = tc.failOn
			err := tb.SetupRouted(r, addrs("10.77.0.10", "fd00:77::10"))
			if err == nil || !strings.Contains(err.Error(), "injected failure") {
				t.Fatalf("setup: %v, want the injected failure", err)
			}
			if got := state(v4, v6); got != before {
				t.Errorf("left:\n%s\nwant:\n%s", got, before)
			}
			if got := strings.Join(v6.Calls, ", "); got != tc.v6calls {
				t.Errorf("ip6tables execs %s, want %s", got, tc.v6calls)
			}
		})
	}
}

// A host without IPv6: only iptables runs; an IPv6 address cannot be
// allowed.
func TestNoIPv6(t *testing.T) {
	r := Routed{CT: 101, HostIf: "venet101"}
	v4 := NewFake()
	tb := &Tables{V4: v4}
	if err := tb.SetupRouted(r, addrs("10.77.0.10")); err != nil {
		t.Fatal(err)
	}
	want := `-t mangle -A POSTROUTING -o venet101 -m comment --comment "govz 101 in"
-t mangle -A PREROUTING -i venet101 -m comment --comment "govz 101 src" -j govz-101-src
-t mangle -A PREROUTING -i venet101 -m comment --comment "govz 101 out"
-t mangle -N govz-101-src
-t mangle -A govz-101-src -s 10.77.0.10/32 -j RETURN
-t mangle -A govz-101-src -j DROP
`
	if got := v4.State(); got != want {
		t.Errorf("state:\n%s\nwant:\n%s", got, want)
	}
	if err := tb.Allow(r, netip.MustParseAddr("fd00:77::10")); err == nil || !strings.Contains(err.Error(), "IPv6 is disabled") {
		t.Errorf("allowing an IPv6 source: %v", err)
	}
	if _, err := tb.ReadCounters(); err != nil {
		t.Fatal(err)
	}
	if err := tb.TeardownRouted(r); err != nil {
		t.Fatal(err)
	}
	if got := v4.State(); got != "" {
		t.Errorf("left after teardown:\n%s", got)
	}
}

func TestFields(t *testing.T) {
	for line, want := range map[string][]string{
		`-A PREROUTING -i venet101 -m comment --comment "govz 101 src" -j govz-101-src`: {"-A", "PREROUTING", "-i", "venet101", "-m", "comment", "--comment", "govz 101 src", "-j", "govz-101-src"},
		`-A X -m comment --comment "a \"b\" \\ c"  -j  DROP`:                            {"-A", "X", "-m", "comment", "--comment", `a "b" \ c`, "-j", "DROP"},
		`-A X -m comment --comment ""`:                                                  {"-A", "X", "-m", "comment", "--comment", ""},
	} {
		got, err := fields(line)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %q, %v; want %q", line, got, err, want)
		}
	}
	if _, err := fields(`-A X --comment "open`); err == nil {
		t.Error("an unterminated quote accepted")
	}
}
