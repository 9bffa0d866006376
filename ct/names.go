package ct

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"govz/conf"
	"govz/ct/recovery"
	"govz/ct/vzerror"
)

// registerName points names/NAME at container id's config. symlink(2)
// fails if the name exists, which makes names unique without a lock; a
// link whose container is gone is stale and replaced.
func (n *Node) registerName(id int, name string) error {
	if err := conf.ValidateName(name); err != nil {
		return err
	}
	if err := os.MkdirAll(n.Paths.NamesDir(), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w: %w", n.Paths.NamesDir(), err, vzerror.ErrName)
	}
	link := filepath.Join(n.Paths.NamesDir(), name)
	target := filepath.Join("..", strconv.Itoa(id)+".toml")
	for range 2 {
		err := os.Symlink(target, link)
		if err == nil {
			return nil
		}
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("registering name %s: %w: %w", name, err, vzerror.ErrName)
		}
		other, ok := n.inv().LookupName(name)
		if ok && other == id {
			return nil
		}
		if ok {
			return fmt.Errorf("name %s is already used by container %d: %w", name, other, vzerror.ErrName)
		}
		os.Remove(link) // stale: its container is gone
	}
	return fmt.Errorf("registering name %s: %w", name, vzerror.ErrName)
}

// unregisterName removes names/NAME if it points at container id.
func (n *Node) unregisterName(id int, name string) { recovery.UnregisterName(n.inv(), id, name) }

// dedupIPs drops repeated addresses, keeping the first spelling.
func dedupIPs(ips []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, ip := range ips {
		a, err := conf.IPAddr(ip)
		key := ip
		if err == nil {
			key = a.String()
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, ip)
		}
	}
	return out
}

// checkIPsFree refuses addresses another container on this node holds.
func (n *Node) checkIPsFree(id int, ips []string) error {
	if len(ips) == 0 {
		return nil
	}
	want := map[netip.Addr]string{}
	for _, ip := range ips {
		a, err := conf.IPAddr(ip)
		if err != nil {
			return err
		}
		want[a] = ip
	}
	return n.eachOtherConfig(id, func(other int, c *conf.Config) error {
		for _, ip := range c.IPAddress {
			if a, err := conf.IPAddr(ip); err == nil {
				if s, ok := want[a]; ok {
					return fmt.Errorf("ip address %s is already used by container %d: %w", s, other, vzerror.ErrIPInUse)
				}
			}
		}
		return nil
	})
}

// eachOtherConfig calls fn with the config of every container on the node
// but id, stopping at fn's first error. A config that does not load is
// passed over: its own commands say what is wrong with it. (The ID range
// allocator, usedIDs, refuses instead: a range it cannot read is one it
// might hand out twice.)
func (n *Node) eachOtherConfig(id int, fn func(other int, c *conf.Config) error) error {
	ids, err := n.IDs()
	if err != nil {
		return err
	}
	for _, other := range ids {
		if other == id {
			continue
		}
		c, err := n.LoadCT(other)
		if err != nil {
			continue
		}
		if err := fn(other, c); err != nil {
			return err
		}
	}
	return nil
}
