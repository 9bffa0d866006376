package fw

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Fake is an in-memory Runner for tests. It keeps iptables' rules for
// what the policy relies on: a batch is all or nothing, -D needs the
// exact rule, -N an absent chain, -X an empty and unreferenced one, and a
// jump needs its target. Chains hold rules in order, with counters a test
// can bump (Count).
type Fake struct {
	chains map[string][]fakeRule // "table/chain"
	// FailOn makes the first restore command line containing it fail.
	FailOn string
	// Calls records the execs the real runner would make, in order:
	// "list TABLE", "list TABLE -v", "restore TABLE".
	Calls []string
}

type fakeRule struct {
	args           []string
	packets, bytes uint64
}

var builtin = []string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}

// targets iptables knows besides chains.
var targets = []string{"ACCEPT", "DROP", "RETURN", "REJECT", "MARK", "LOG"}

// NewFake returns tables with empty built-in chains.
func NewFake() *Fake {
	f := &Fake{chains: map[string][]fakeRule{}}
	for _, t := range []string{"filter", "mangle", "raw", "nat"} {
		for _, c := range builtin {
			f.chains[t+"/"+c] = nil
		}
	}
	return f
}

// spec renders a rule as iptables -S does: an argument with blanks or
// quotes in double quotes.
func spec(rule []string) string {
	q := make([]string, len(rule))
	for i, a := range rule {
		if strings.ContainsAny(a, " \"") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// Append adds a rule directly, as a test's stand-in for someone else's.
func (f *Fake) Append(table, chain string, rule ...string) error {
	return f.do(table, append([]string{"-A", chain}, rule...))
}

func (f *Fake) List(table string, counters bool) (string, error) {
	call := "list " + table
	if counters {
		call += " -v"
	}
	f.Calls = append(f.Calls, call)
	cnt := func(p, b uint64) string {
		if !counters {
			return ""
		}
		return fmt.Sprintf(" -c %d %d", p, b)
	}
	var b strings.Builder
	for _, c := range builtin {
		fmt.Fprintf(&b, "-P %s ACCEPT%s\n", c, cnt(0, 0))
	}
	user := f.userChains(table)
	for _, c := range user {
		fmt.Fprintf(&b, "-N %s\n", c)
	}
	for _, c := range append(slices.Clone(builtin), user...) {
		for _, r := range f.chains[table+"/"+c] {
			// iptables -S -v puts the counters before the target.
			s := " " + spec(r.args)
			if i := strings.Index(s, " -j "); i >= 0 {
				s = s[:i] + cnt(r.packets, r.bytes) + s[i:]
			} else {
				s += cnt(r.packets, r.bytes)
			}
			fmt.Fprintf(&b, "-A %s%s\n", c, s)
		}
	}
	return b.String(), nil
}

func (f *Fake) userChains(table string) []string {
	var out []string
	for k := range f.chains {
		if t, c, _ := strings.Cut(k, "/"); t == table && !slices.Contains(builtin, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// Restore applies an iptables-restore script of one table to a copy of
// the tables and keeps the copy only when every command succeeded.
func (f *Fake) Restore(script string) error {
	work := &Fake{chains: maps.Clone(f.chains)}
	table, committed := "", false
	for i, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var err error
		switch {
		case committed:
			err = errors.New("after COMMIT (the fake takes one table)")
		case strings.HasPrefix(line, "*"):
			if table != "" {
				err = errors.New("a second table without COMMIT")
			} else if _, ok := f.chains[line[1:]+"/PREROUTING"]; !ok {
				err = errors.New("no such table")
			}
			table = line[1:]
		case line == "COMMIT":
			if table == "" {
				err = errors.New("COMMIT without a table")
			}
			committed = true
		case table == "":
			err = errors.New("command before the table")
		default:
			if f.FailOn != "" && strings.Contains(line, f.FailOn) {
				f.FailOn = ""
				err = errors.New("injected failure")
				break
			}
			var args []string
			if args, err = fields(line); err == nil {
				err = work.do(table, args)
			}
		}
		if err != nil {
			f.Calls = append(f.Calls, "restore "+table)
			return fmt.Errorf("fake iptables-restore: line %d failed (%s): %w", i+1, line, err)
		}
	}
	f.Calls = append(f.Calls, "restore "+table)
	if !committed {
		return errors.New("fake iptables-restore: no COMMIT")
	}
	f.chains = work.chains
	return nil
}

// do runs one iptables command (-N, -X, -F, -A, -I, -D) on table.
func (f *Fake) do(table string, args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("command %q: no chain", args)
	}
	cmd, chain, rule := args[0], args[1], args[2:]
	key := table + "/" + chain
	rules, exists := f.chains[key]
	if !exists && cmd != "-N" {
		return fmt.Errorf("chain %s does not exist", chain)
	}
	switch cmd {
	case "-N":
		if exists {
			return fmt.Errorf("chain %s exists", chain)
		}
		f.chains[key] = []fakeRule{}
	case "-X":
		if slices.Contains(builtin, chain) {
			return fmt.Errorf("cannot delete built-in chain %s", chain)
		}
		if len(rules) > 0 {
			return fmt.Errorf("chain %s is not empty", chain)
		}
		for k, rs := range f.chains {
			for _, r := range rs {
				if t, _ := target(r.args); t == chain && strings.HasPrefix(k, table+"/") {
					return fmt.Errorf("chain %s is still referenced from %s", chain, k)
				}
			}
		}
		delete(f.chains, key)
	case "-F":
		f.chains[key] = []fakeRule{}
	case "-A", "-I":
		pos := len(rules) + 1
		if cmd == "-I" {
			pos = 1
			if len(rule) > 0 {
				if n, err := strconv.Atoi(rule[0]); err == nil {
					pos, rule = n, rule[1:]
				}
			}
		}
		if pos < 1 || pos > len(rules)+1 {
			return fmt.Errorf("index %d out of range in %s", pos, chain)
		}
		if t, ok := target(rule); ok && !slices.Contains(targets, t) {
			if _, ok := f.chains[table+"/"+t]; !ok {
				return fmt.Errorf("jump to missing chain %s", t)
			}
		}
		f.chains[key] = slices.Insert(slices.Clone(rules), pos-1, fakeRule{args: slices.Clone(rule)})
	case "-D":
		i := slices.IndexFunc(rules, func(r fakeRule) bool { return slices.Equal(r.args, rule) })
		if i < 0 {
			return fmt.Errorf("bad rule (does a matching rule exist in %s?)", chain)
		}
		f.chains[key] = slices.Delete(slices.Clone(rules), i, i+1)
	default:
		return fmt.Errorf("command %s: not understood by the fake", cmd)
	}
	return nil
}

func target(rule []string) (string, bool) {
	if i := slices.Index(rule, "-j"); i >= 0 && i+1 < len(rule) {
		return rule[i+1], true
	}
	return "", false
}

// Count adds traffic to the first rule of table/chain containing match.
func (f *Fake) Count(table, chain, match string, packets, bytes uint64) {
	rules := f.chains[table+"/"+chain]
	for i := range rules {
		if strings.Contains(spec(rules[i].args), match) {
			rules[i].packets += packets
			rules[i].bytes += bytes
			return
		}
	}
}

// State renders every non-empty chain as iptables commands, sorted by
// table and chain, rules in order.
func (f *Fake) State() string {
	var keys []string
	for k, rules := range f.chains {
		c := k[strings.IndexByte(k, '/')+1:]
		if len(rules) > 0 || !slices.Contains(builtin, c) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		t, c, _ := strings.Cut(k, "/")
		if !slices.Contains(builtin, c) {
			fmt.Fprintf(&b, "-t %s -N %s\n", t, c)
		}
		for _, r := range f.chains[k] {
			fmt.Fprintf(&b, "-t %s -A %s %s\n", t, c, spec(r.args))
		}
	}
	return b.String()
}
