package ctnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"

	"govz/net/link"
	"govz/net/sysctl"
)

// nsState puts what a dump saved of a network namespace (nsImages) into
// the empty namespace of the restored init, from the host.
type nsState struct {
	path  string // the namespace, /proc/PID/ns/net
	im    *nsImages
	warnf func(string, ...any)
}

func openNSState(initPID int, dir string, warnf func(string, ...any)) (*nsState, error) {
	im, err := readNSImages(dir)
	if err != nil {
		return nil, err
	}
	return &nsState{path: fmt.Sprintf("/proc/%d/ns/net", initPID), im: im, warnf: warnf}, nil
}

// RestoreNS gives the network namespace of the restored init initPID,
// which CRIU restored empty, what the dump in dir saved of it: a
// container without interfaces of its own (its loopback device only). It
// runs in CRIU's setup-namespaces notification, whose failure the restore
// reports as its own (vzerror.ErrRestore).
func RestoreNS(initPID int, dir string, warnf func(string, ...any)) error {
	s, err := openNSState(initPID, dir, warnf)
	if err != nil {
		return err
	}
	if err := s.conf(); err != nil {
		return err
	}
	return s.fill()
}

// conf restores the namespace's sysctls: first, as CRIU does, since a new
// interface takes the "default" configuration.
func (s *nsState) conf() error {
	if len(s.im.Sysctls) == 0 {
		return nil
	}
	err := link.InNetNS(s.path, func() error { return restoreSysctls(sysctl.Proc{}, s.im.Sysctls, s.warnf) })
	if err != nil {
		return fmt.Errorf("restoring the container's network sysctls: %w", err)
	}
	return nil
}

// fill brings lo up and restores its MTU, the interfaces' sysctls, the
// addresses, routes, rules and the firewall, once the namespace has its
// interfaces.
func (s *nsState) fill() error {
	r, err := link.OpenRawAt(s.path)
	if err != nil {
		return err
	}
	defer r.Close()
	// Before lo's sysctls: its MTU sets its IPv6 one.
	if err := r.Request(loUpMsg(s.im.LoMTU), 0); err != nil {
		return fmt.Errorf("bringing lo up (MTU %d): %w", s.im.LoMTU, err)
	}
	if len(s.im.DevSysctls) > 0 {
		err := link.InNetNS(s.path, func() error { return restoreSysctls(sysctl.Proc{}, s.im.DevSysctls, s.warnf) })
		if err != nil {
			return fmt.Errorf("restoring the container's interface sysctls: %w", err)
		}
	}
	if err := s.rtnetlink(r); err != nil {
		return fmt.Errorf("restoring the container's addresses and routes: %w", err)
	}
	return s.firewall()
}

// rtnetlink replays the saved addresses, routes and rules as `ip ...
// restore` would: what exists already (lo's, the kernel's local routes,
// venet's, the kernel's default rules) is taken as done.
func (s *nsState) rtnetlink(r *link.Raw) error {
	add := func(what string, msgs [][]byte) error {
		for i, m := range msgs {
			if err := r.Request(m, unix.NLM_F_CREATE|unix.NLM_F_EXCL); err != nil && !errors.Is(err, link.ErrExist) {
				return fmt.Errorf("%s %d of %d: %w", what, i+1, len(msgs), err)
			}
		}
		return nil
	}
	if err := add("address", s.im.Addrs); err != nil {
		return err
	}
	if err := add("route", s.im.Routes); err != nil {
		return err
	}
	if s.im.Rules == nil {
		return nil
	}
	// The image holds the whole list, the kernel's defaults included
	// (criu/net.c restore_rule flushes them before `ip rule restore`):
	// they go, so that a default the guest deleted stays deleted.
	for prio, table := range defaultRule {
		if err := r.Request(delRuleMsg(prio, table), 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("deleting the kernel's rule %d: %w", prio, err)
		}
	}
	return add("rule", s.im.Rules)
}

// loUpMsg is an RTM_NEWLINK bringing lo up, with MTU mtu unless 0 (lo
// is interface 1 in every namespace: LOOPBACK_IFINDEX,
// include/net/net_namespace.h).
func loUpMsg(mtu uint32) []byte {
	m := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofIfInfomsg, unix.NLMSG_HDRLEN+unix.SizeofIfInfomsg+8)
	h := m[unix.NLMSG_HDRLEN:]
	binary.NativeEndian.PutUint32(h[4:], 1)            // ifi_index
	binary.NativeEndian.PutUint32(h[8:], unix.IFF_UP)  // ifi_flags
	binary.NativeEndian.PutUint32(h[12:], unix.IFF_UP) // ifi_change
	if mtu != 0 {
		m = binary.NativeEndian.AppendUint16(m, 8)
		m = binary.NativeEndian.AppendUint16(m, unix.IFLA_MTU)
		m = binary.NativeEndian.AppendUint32(m, mtu)
	}
	binary.NativeEndian.PutUint32(m, uint32(len(m)))
	binary.NativeEndian.PutUint16(m[4:], unix.RTM_NEWLINK)
	return m
}

// delRuleMsg is an RTM_DELRULE of the IPv4 rule prio looking up table.
func delRuleMsg(prio, table uint32) []byte {
	m := make([]byte, unix.NLMSG_HDRLEN+12+2*8)
	binary.NativeEndian.PutUint32(m, uint32(len(m)))
	binary.NativeEndian.PutUint16(m[4:], unix.RTM_DELRULE)
	h := m[unix.NLMSG_HDRLEN:]
	h[0], h[4], h[7] = unix.AF_INET, byte(table), unix.FR_ACT_TO_TBL
	a := h[12:]
	for i, kv := range [][2]uint32{{unix.FRA_PRIORITY, prio}, {unix.FRA_TABLE, table}} {
		binary.NativeEndian.PutUint16(a[i*8:], 8)
		binary.NativeEndian.PutUint16(a[i*8+2:], uint16(kv[0]))
		binary.NativeEndian.PutUint32(a[i*8+4:], kv[1])
	}
	return m
}

// firewall applies the saved firewall, in CRIU's order (iptables, then
// nftables). Each tool runs only for a non-empty image.
func (s *nsState) firewall() error {
	for _, c := range s.im.firewallCmds() {
		cmd := exec.Command("nsenter", append([]string{"--net=" + s.path, "--"}, c.args...)...)
		cmd.Stdin = strings.NewReader(c.input)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("restoring the container's firewall: %s: %w: %s", strings.Join(c.args, " "), err,
				strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// fwCmd is a firewall restore tool and its input.
type fwCmd struct {
	args  []string
	input string
}

// firewallCmds are the tools to run for the images: none when they hold
// nothing to apply (the usual case: a new namespace has no rules).
func (im *nsImages) firewallCmds() []fwCmd {
	var cmds []fwCmd
	if im.IPT != "" {
		cmds = append(cmds, fwCmd{[]string{im.IPTRestore, "-w"}, im.IPT})
	}
	if im.IP6T != "" {
		cmds = append(cmds, fwCmd{[]string{im.IP6TRestore, "-w"}, im.IP6T})
	}
	if im.NFT != "" {
		cmds = append(cmds, fwCmd{[]string{"nft", "-f", "-"}, im.NFT})
	}
	return cmds
}
