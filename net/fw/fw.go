// Package fw keeps govz's netfilter rules: per container, the
// anti-spoofing chain of a routed (venet) container and its traffic
// counters. Rules live in the mangle table of the namespace vzctl runs
// in, are named and commented with the container ID so they are found and
// removed exactly, and never touch a rule govz did not make. A family's
// table is read with one `iptables -S` and changed with one
// `iptables-restore --noflush` batch (all or nothing), behind the small
// Runner interface, so the policy is unit-tested with Fake and the cost
// on the critical path of start, stop, checkpoint and migration is a few
// execs whatever the number of rules. NFT applies nftables scripts (the
// bridge port filters of net/bridge, whose policy is tested there).
package fw

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"govz/ct/revert"
)

// Runner is one address family's iptables.
type Runner interface {
	// List returns table as `iptables -t TABLE -S` prints it: "-P",
	// "-N" and "-A" lines; with counters as `-S -v` does, each rule
	// with "-c PACKETS BYTES".
	List(table string, counters bool) (string, error)
	// Restore applies script, iptables-restore input ("*TABLE", command
	// lines, "COMMIT"), without flushing what it does not name, as one
	// transaction: when a command fails, none is applied.
	Restore(script string) error
}

// Tables are the runners of both families; V6 is nil on a host without
// IPv6.
type Tables struct {
	V4, V6 Runner
}

// Open returns the host's iptables and ip6tables (the namespace is the
// caller's). It only looks the binaries up, in PATH and, for a caller
// started with a bare environment, in /usr/sbin and /sbin: nothing runs
// until rules are read or changed.
func Open() (*Tables, error) {
	v4, err := newIPTables("iptables", "iptables-restore")
	if err != nil {
		return nil, err
	}
	t := &Tables{V4: v4}
	if _, err := os.Stat("/proc/net/if_inet6"); err == nil {
		v6, err := newIPTables("ip6tables", "ip6tables-restore")
		if err != nil {
			return nil, err
		}
		t.V6 = v6
	}
	return t, nil
}

// Routed names one routed container's rules.
type Routed struct {
	CT     int    // container ID
	HostIf string // host end of its venet pair
}

const table = "mangle"

// Chain is the container's anti-spoofing chain: a RETURN per address the
// container may send from, then DROP.
func (r Routed) Chain() string { return "govz-" + strconv.Itoa(r.CT) + "-src" }

// The rules in the built-in chains. In PREROUTING the jump to the
// anti-spoofing chain comes first; what it lets through (it RETURNs)
// reaches the counting rule after it, so "out" counts only what the
// container was allowed to send. POSTROUTING counts what goes to the
// container. Counting rules have no target: they only count.
func (r Routed) jump() []string {
	return []string{"-i", r.HostIf, "-m", "comment", "--comment", r.comment("src"), "-j", r.Chain()}
}
func (r Routed) countOut() []string {
	return []string{"-i", r.HostIf, "-m", "comment", "--comment", r.comment("out")}
}
func (r Routed) countIn() []string {
	return []string{"-o", r.HostIf, "-m", "comment", "--comment", r.comment("in")}
}
func (r Routed) comment(what string) string { return "govz " + strconv.Itoa(r.CT) + " " + what }

func allow(a netip.Addr) []string {
	return []string{"-s", netip.PrefixFrom(a, a.BitLen()).String(), "-j", "RETURN"}
}

// linkLocal is what a routed container sends from besides its own
// addresses: IPv6 neighbour discovery with the host's gateway uses
// link-local sources, which are never forwarded anyway.
var linkLocal = netip.MustParsePrefix("fe80::/10")

// builtin are r's rules in the built-in chains, in the order SetupRouted
// inserts each at position 1: the jump ends up before the counter.
func (r Routed) builtin() [][]string {
	return [][]string{
		append([]string{"PREROUTING"}, r.countOut()...),
		append([]string{"PREROUTING"}, r.jump()...),
		append([]string{"POSTROUTING"}, r.countIn()...),
	}
}

// teardown returns the commands removing every rule of r that l holds
// and r's chain. A rule is r's when it is exactly one SetupRouted makes:
// same chain, interface, comment and target, so an admin's rule that
// only looks alike stays. Rules are deleted by their spec, not their
// position, which another process may shift between listing and batch.
func (r Routed) teardown(l listing) [][]string {
	var cmds [][]string
	for _, rule := range l.rules {
		if slices.ContainsFunc(r.builtin(), func(b []string) bool { return slices.Equal(rule, b) }) {
			cmds = append(cmds, append([]string{"-D"}, rule...))
		}
	}
	if l.chains[r.Chain()] {
		cmds = append(cmds, []string{"-F", r.Chain()}, []string{"-X", r.Chain()})
	}
	return cmds
}

// allowed returns the rules of r's chain in l letting a through (parsed,
// so any spelling iptables lists the address in matches).
func (r Routed) allowed(l listing, a netip.Addr) [][]string {
	want := netip.PrefixFrom(a, a.BitLen())
	var out [][]string
	for _, rule := range l.rules {
		if len(rule) != 5 || rule[0] != r.Chain() || rule[1] != "-s" || rule[3] != "-j" || rule[4] != "RETURN" {
			continue
		}
		if p, err := netip.ParsePrefix(rule[2]); err == nil && p == want {
			out = append(out, rule)
		}
	}
	return out
}

type family struct {
	r  Runner
	v6 bool
}

func (t *Tables) families() []family {
	out := []family{{t.V4, false}}
	if t.V6 != nil {
		out = append(out, family{t.V6, true})
	}
	return out
}

func (t *Tables) runner(a netip.Addr) (Runner, error) {
	if a.Is4() {
		return t.V4, nil
	}
	if t.V6 == nil {
		return nil, fmt.Errorf("ip6tables for %s: IPv6 is disabled on this host", a)
	}
	return t.V6, nil
}

func list(ipt Runner, counters bool) (listing, error) {
	out, err := ipt.List(table, counters)
	if err != nil {
		return listing{}, fmt.Errorf("listing table %s: %w", table, err)
	}
	return parseListing(out)
}

func apply(ipt Runner, cmds [][]string) error {
	s, err := script(table, cmds)
	if err != nil {
		return err
	}
	return ipt.Restore(s)
}

// SetupRouted installs container r's chains and rules allowing addrs.
// Leftovers of an earlier run are removed first; on error nothing stays.
// Each family's rules go in as one batch, so a failing one applies
// nothing and only an applied IPv4 batch needs undoing.
func (t *Tables) SetupRouted(r Routed, addrs []netip.Addr) error {
	if err := t.TeardownRouted(r); err != nil {
		return err
	}
	rv := revert.New()
	defer rv.Fail()
	for _, fam := range t.families() {
		chain := r.Chain()
		cmds := [][]string{{"-N", chain}}
		if fam.v6 {
			cmds = append(cmds, []string{"-A", chain, "-s", linkLocal.String(), "-j", "RETURN"})
		}
		for _, a := range addrs {
			if a.Is6() == fam.v6 {
				cmds = append(cmds, append([]string{"-A", chain}, allow(a)...))
			}
		}
		cmds = append(cmds, []string{"-A", chain, "-j", "DROP"})
		for _, b := range r.builtin() {
			cmds = append(cmds, append([]string{"-I", b[0], "1"}, b[1:]...))
		}
		if err := apply(fam.r, cmds); err != nil {
			return fmt.Errorf("installing the anti-spoofing chain %s and counters of %s: %w", chain, r.HostIf, err)
		}
		// Undone as a teardown that finds exactly what this batch made.
		ipt := fam.r
		undo := r.teardown(listing{chains: map[string]bool{chain: true}, rules: r.builtin()})
		rv.Add(func() { apply(ipt, undo) })
	}
	rv.Success()
	return nil
}

// Allow lets container r send from a (idempotent).
func (t *Tables) Allow(r Routed, a netip.Addr) error {
	ipt, err := t.runner(a)
	if err != nil {
		return err
	}
	l, err := list(ipt, false)
	if err != nil {
		return err
	}
	if !l.chains[r.Chain()] {
		return fmt.Errorf("allowing source %s: chain %s does not exist", a, r.Chain())
	}
	if len(r.allowed(l, a)) > 0 {
		return nil
	}
	if err := apply(ipt, [][]string{append([]string{"-I", r.Chain(), "1"}, allow(a)...)}); err != nil {
		return fmt.Errorf("allowing source %s in %s: %w", a, r.Chain(), err)
	}
	return nil
}

// Disallow removes a from container r's allowed sources (idempotent).
func (t *Tables) Disallow(r Routed, a netip.Addr) error {
	ipt, err := t.runner(a)
	if err != nil {
		return err
	}
	l, err := list(ipt, false)
	if err != nil {
		return err
	}
	var cmds [][]string
	for _, rule := range r.allowed(l, a) {
		cmds = append(cmds, append([]string{"-D"}, rule...))
	}
	if len(cmds) == 0 {
		return nil
	}
	if err := apply(ipt, cmds); err != nil {
		return fmt.Errorf("removing source %s from %s: %w", a, r.Chain(), err)
	}
	return nil
}

// TeardownRouted removes every rule and chain of container r that
// exists; what is already gone is no error. When nothing is left, it
// only reads the tables.
func (t *Tables) TeardownRouted(r Routed) error {
	var errs []error
	for _, fam := range t.families() {
		l, err := list(fam.r, false)
		if err != nil {
			errs = append(errs, fmt.Errorf("looking for the rules of %s: %w", r.HostIf, err))
			continue
		}
		cmds := r.teardown(l)
		if len(cmds) == 0 {
			continue
		}
		if err := apply(fam.r, cmds); err != nil {
			errs = append(errs, fmt.Errorf("removing the rules of %s and chain %s: %w", r.HostIf, r.Chain(), err))
		}
	}
	return errors.Join(errs...)
}

// Counters are a container's routed traffic: In is what was delivered to
// it, Out what it sent and anti-spoofing let through.
type Counters struct {
	InBytes, InPackets, OutBytes, OutPackets uint64
}

// Add returns the sum of c and d.
func (c Counters) Add(d Counters) Counters {
	return Counters{c.InBytes + d.InBytes, c.InPackets + d.InPackets, c.OutBytes + d.OutBytes, c.OutPackets + d.OutPackets}
}

// ReadCounters returns every routed container's counters, by container
// ID, from one listing per family whatever the number of containers.
func (t *Tables) ReadCounters() (map[int]Counters, error) {
	out := map[int]Counters{}
	for _, fam := range t.families() {
		l, err := list(fam.r, true)
		if err != nil {
			return nil, err
		}
		for i, rule := range l.rules {
			if rule[0] != "PREROUTING" && rule[0] != "POSTROUTING" {
				continue
			}
			id, what, pk, by, ok := parseCounter(l.lines[i])
			if !ok {
				continue
			}
			c := out[id]
			switch what {
			case "in":
				c.InPackets += pk
				c.InBytes += by
			case "out":
				c.OutPackets += pk
				c.OutBytes += by
			}
			out[id] = c
		}
	}
	return out, nil
}

// parseCounter reads a counting rule of ours from `iptables -S -v`:
//
//	-A POSTROUTING -o venet101 -m comment --comment "govz 101 in" -c 2 168
func parseCounter(rule string) (id int, what string, packets, bytes uint64, ok bool) {
	if strings.Contains(rule, " -j ") {
		return 0, "", 0, 0, false
	}
	_, rest, found := strings.Cut(rule, `--comment "govz `)
	if !found {
		return 0, "", 0, 0, false
	}
	c, _, found := strings.Cut(rest, `"`)
	if !found {
		return 0, "", 0, 0, false
	}
	f := strings.Fields(c)
	if len(f) != 2 || (f[1] != "in" && f[1] != "out") {
		return 0, "", 0, 0, false
	}
	id, err := strconv.Atoi(f[0])
	if err != nil {
		return 0, "", 0, 0, false
	}
	_, cnt, found := strings.Cut(rule, " -c ")
	if !found {
		return 0, "", 0, 0, false
	}
	nums := strings.Fields(cnt)
	if len(nums) < 2 {
		return 0, "", 0, 0, false
	}
	packets, err1 := strconv.ParseUint(nums[0], 10, 64)
	bytes, err2 := strconv.ParseUint(nums[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, "", 0, 0, false
	}
	return id, f[1], packets, bytes, true
}
