package fw

import (
	"fmt"
	"slices"
	"strings"
)

// Fake is an in-memory Runner for tests: chains hold rule specs in order,
// with counters a test can bump (Count).
type Fake struct {
	chains map[string][]fakeRule // "table/chain"
	// FailOn makes the first call whose rendered rule contains it fail.
	FailOn string
}

type fakeRule struct {
	spec           string
	packets, bytes uint64
}

var builtin = []string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}

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

func spec(rule []string) string {
	q := make([]string, len(rule))
	for i, a := range rule {
		if strings.ContainsAny(a, " \"") {
			a = fmt.Sprintf("%q", a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

func (f *Fake) fail(what string) error {
	if f.FailOn != "" && strings.Contains(what, f.FailOn) {
		f.FailOn = ""
		return fmt.Errorf("%s: injected failure", what)
	}
	return nil
}

func (f *Fake) chain(table, chain string) ([]fakeRule, error) {
	r, ok := f.chains[table+"/"+chain]
	if !ok {
		return nil, fmt.Errorf("chain %s/%s does not exist", table, chain)
	}
	return r, nil
}

func (f *Fake) NewChain(table, chain string) error {
	if _, ok := f.chains[table+"/"+chain]; ok {
		return fmt.Errorf("chain %s/%s exists", table, chain)
	}
	if err := f.fail("-N " + chain); err != nil {
		return err
	}
	f.chains[table+"/"+chain] = []fakeRule{}
	return nil
}

func (f *Fake) ChainExists(table, chain string) (bool, error) {
	_, ok := f.chains[table+"/"+chain]
	return ok, nil
}

func (f *Fake) ClearAndDeleteChain(table, chain string) error {
	if slices.Contains(builtin, chain) {
		return fmt.Errorf("cannot delete built-in chain %s", chain)
	}
	for k, rules := range f.chains {
		for _, r := range rules {
			if strings.HasSuffix(r.spec, "-j "+chain) {
				return fmt.Errorf("chain %s is still referenced from %s", chain, k)
			}
		}
	}
	delete(f.chains, table+"/"+chain)
	return nil
}

func (f *Fake) Insert(table, chain string, pos int, rule ...string) error {
	rules, err := f.chain(table, chain)
	if err != nil {
		return err
	}
	if err := f.fail(chain + " " + spec(rule)); err != nil {
		return err
	}
	if pos < 1 || pos > len(rules)+1 {
		return fmt.Errorf("index %d out of range in %s", pos, chain)
	}
	f.chains[table+"/"+chain] = slices.Insert(rules, pos-1, fakeRule{spec: spec(rule)})
	return nil
}

func (f *Fake) Append(table, chain string, rule ...string) error {
	rules, err := f.chain(table, chain)
	if err != nil {
		return err
	}
	if err := f.fail(chain + " " + spec(rule)); err != nil {
		return err
	}
	f.chains[table+"/"+chain] = append(rules, fakeRule{spec: spec(rule)})
	return nil
}

// targets iptables knows besides chains.
var targets = []string{"ACCEPT", "DROP", "RETURN", "REJECT", "MARK", "LOG"}

func (f *Fake) Exists(table, chain string, rule ...string) (bool, error) {
	rules, err := f.chain(table, chain)
	if err != nil {
		return false, err
	}
	// Like iptables -C, a jump to a missing chain is an error.
	if i := slices.Index(rule, "-j"); i >= 0 && i+1 < len(rule) && !slices.Contains(targets, rule[i+1]) {
		if _, err := f.chain(table, rule[i+1]); err != nil {
			return false, err
		}
	}
	s := spec(rule)
	return slices.ContainsFunc(rules, func(r fakeRule) bool { return r.spec == s }), nil
}

func (f *Fake) DeleteIfExists(table, chain string, rule ...string) error {
	if _, err := f.Exists(table, chain, rule...); err != nil {
		return err
	}
	rules, err := f.chain(table, chain)
	if err != nil {
		return err
	}
	s := spec(rule)
	if i := slices.IndexFunc(rules, func(r fakeRule) bool { return r.spec == s }); i >= 0 {
		f.chains[table+"/"+chain] = slices.Delete(rules, i, i+1)
	}
	return nil
}

func (f *Fake) ListWithCounters(table, chain string) ([]string, error) {
	rules, err := f.chain(table, chain)
	if err != nil {
		return nil, err
	}
	out := []string{"-P " + chain + " ACCEPT -c 0 0"}
	for _, r := range rules {
		// iptables -S -v puts the counters before the target.
		s := r.spec
		cnt := fmt.Sprintf(" -c %d %d", r.packets, r.bytes)
		if i := strings.Index(s, " -j "); i >= 0 || strings.HasPrefix(s, "-j ") {
			if i < 0 {
				out = append(out, "-A "+chain+cnt+" "+s)
				continue
			}
			out = append(out, "-A "+chain+" "+s[:i]+cnt+s[i:])
			continue
		}
		out = append(out, "-A "+chain+" "+s+cnt)
	}
	return out, nil
}

// Count adds traffic to the first rule of table/chain containing match.
func (f *Fake) Count(table, chain, match string, packets, bytes uint64) {
	rules := f.chains[table+"/"+chain]
	for i := range rules {
		if strings.Contains(rules[i].spec, match) {
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
			fmt.Fprintf(&b, "-t %s -A %s %s\n", t, c, r.spec)
		}
	}
	return b.String()
}
