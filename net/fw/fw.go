// Package fw keeps govz's netfilter rules: per container, the
// anti-spoofing chain of a routed (venet) container and its traffic
// counters. Rules live in the mangle table of the namespace vzctl runs
// in, are named and commented with the container ID so they are found and
// removed exactly, and never touch a rule govz did not make. iptables is
// reached through go-iptables behind the small Runner interface, so the
// policy is unit-tested with Fake. NFT applies nftables scripts (the
// bridge port filters of net/bridge, whose policy is tested there).
package fw

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/coreos/go-iptables/iptables"

	"govz/ct/revert"
)

// Runner is the part of go-iptables govz uses (one per address family).
type Runner interface {
	NewChain(table, chain string) error
	ChainExists(table, chain string) (bool, error)
	ClearAndDeleteChain(table, chain string) error
	Insert(table, chain string, pos int, rulespec ...string) error
	Append(table, chain string, rulespec ...string) error
	Exists(table, chain string, rulespec ...string) (bool, error)
	DeleteIfExists(table, chain string, rulespec ...string) error
	// ListWithCounters lists chain as `iptables -S -v` does: rule specs
	// with "-c PACKETS BYTES".
	ListWithCounters(table, chain string) ([]string, error)
}

// Tables are the runners of both families; V6 is nil on a host without
// IPv6.
type Tables struct {
	V4, V6 Runner
}

// Open returns the host's iptables and ip6tables (the namespace is the
// caller's). go-iptables runs the binaries, so they are looked up in PATH
// and, for a caller started with a bare environment, in /usr/sbin and
// /sbin.
func Open() (*Tables, error) {
	v4, err := newRunner(iptables.ProtocolIPv4, "iptables")
	if err != nil {
		return nil, err
	}
	t := &Tables{V4: v4}
	if _, err := os.Stat("/proc/net/if_inet6"); err == nil {
		v6, err := newRunner(iptables.ProtocolIPv6, "ip6tables")
		if err != nil {
			return nil, err
		}
		t.V6 = v6
	}
	return t, nil
}

func newRunner(proto iptables.Protocol, name string) (Runner, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
			if st, serr := os.Stat(dir + "/" + name); serr == nil && !st.IsDir() {
				path, err = dir+"/"+name, nil
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("finding %s (package iptables): %w", name, err)
	}
	ipt, err := iptables.New(iptables.IPFamily(proto), iptables.Path(path), iptables.Timeout(10))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return ipt, nil
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

func (t *Tables) runners() []struct {
	r  Runner
	v6 bool
} {
	out := []struct {
		r  Runner
		v6 bool
	}{{t.V4, false}}
	if t.V6 != nil {
		out = append(out, struct {
			r  Runner
			v6 bool
		}{t.V6, true})
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

// SetupRouted installs container r's chains and rules allowing addrs.
// Leftovers of an earlier run are removed first; on error nothing stays.
func (t *Tables) SetupRouted(r Routed, addrs []netip.Addr) error {
	if err := t.TeardownRouted(r); err != nil {
		return err
	}
	rv := revert.New()
	defer rv.Fail()
	for _, fam := range t.runners() {
		ipt := fam.r
		if err := ipt.NewChain(table, r.Chain()); err != nil {
			return fmt.Errorf("creating chain %s: %w", r.Chain(), err)
		}
		rv.Add(func() { ipt.ClearAndDeleteChain(table, r.Chain()) })
		if fam.v6 {
			if err := ipt.Append(table, r.Chain(), "-s", linkLocal.String(), "-j", "RETURN"); err != nil {
				return fmt.Errorf("allowing link-local sources in %s: %w", r.Chain(), err)
			}
		}
		for _, a := range addrs {
			if a.Is6() == fam.v6 {
				if err := ipt.Append(table, r.Chain(), allow(a)...); err != nil {
					return fmt.Errorf("allowing source %s in %s: %w", a, r.Chain(), err)
				}
			}
		}
		if err := ipt.Append(table, r.Chain(), "-j", "DROP"); err != nil {
			return fmt.Errorf("adding the final drop to %s: %w", r.Chain(), err)
		}
		// Inserted in reverse so the jump ends up before the counter.
		if err := ipt.Insert(table, "PREROUTING", 1, r.countOut()...); err != nil {
			return fmt.Errorf("adding the outgoing counter of %s: %w", r.HostIf, err)
		}
		rv.Add(func() { ipt.DeleteIfExists(table, "PREROUTING", r.countOut()...) })
		if err := ipt.Insert(table, "PREROUTING", 1, r.jump()...); err != nil {
			return fmt.Errorf("adding the anti-spoofing jump for %s: %w", r.HostIf, err)
		}
		rv.Add(func() { ipt.DeleteIfExists(table, "PREROUTING", r.jump()...) })
		if err := ipt.Insert(table, "POSTROUTING", 1, r.countIn()...); err != nil {
			return fmt.Errorf("adding the incoming counter of %s: %w", r.HostIf, err)
		}
		rv.Add(func() { ipt.DeleteIfExists(table, "POSTROUTING", r.countIn()...) })
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
	if ok, err := ipt.Exists(table, r.Chain(), allow(a)...); err != nil || ok {
		return err
	}
	if err := ipt.Insert(table, r.Chain(), 1, allow(a)...); err != nil {
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
	if ok, err := ipt.ChainExists(table, r.Chain()); err != nil || !ok {
		return err
	}
	if err := ipt.DeleteIfExists(table, r.Chain(), allow(a)...); err != nil {
		return fmt.Errorf("removing source %s from %s: %w", a, r.Chain(), err)
	}
	return nil
}

// TeardownRouted removes every rule and chain of container r that
// exists; what is already gone is no error.
func (t *Tables) TeardownRouted(r Routed) error {
	var errs []error
	for _, fam := range t.runners() {
		ipt := fam.r
		chain, err := ipt.ChainExists(table, r.Chain())
		if err != nil {
			errs = append(errs, fmt.Errorf("looking for chain %s: %w", r.Chain(), err))
			continue
		}
		rules := []struct {
			chain string
			spec  []string
		}{{"PREROUTING", r.countOut()}, {"POSTROUTING", r.countIn()}}
		if chain {
			// iptables cannot even check for a jump to a missing chain.
			rules = append(rules, struct {
				chain string
				spec  []string
			}{"PREROUTING", r.jump()})
		}
		for _, rule := range rules {
			if err := ipt.DeleteIfExists(table, rule.chain, rule.spec...); err != nil {
				errs = append(errs, fmt.Errorf("removing %s rule of %s: %w", rule.chain, r.HostIf, err))
			}
		}
		if chain {
			if err := ipt.ClearAndDeleteChain(table, r.Chain()); err != nil {
				errs = append(errs, fmt.Errorf("removing chain %s: %w", r.Chain(), err))
			}
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
// ID, from four listings whatever the number of containers.
func (t *Tables) ReadCounters() (map[int]Counters, error) {
	out := map[int]Counters{}
	for _, fam := range t.runners() {
		for _, chain := range []string{"PREROUTING", "POSTROUTING"} {
			rules, err := fam.r.ListWithCounters(table, chain)
			if err != nil {
				return nil, fmt.Errorf("listing %s %s: %w", table, chain, err)
			}
			for _, rule := range rules {
				id, what, pk, by, ok := parseCounter(rule)
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
