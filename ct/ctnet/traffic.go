package ctnet

import (
	"fmt"

	"golang.org/x/sys/unix"

	"govz/ct/inventory"
	"govz/ct/runstate"
	"govz/net/bridge"
	"govz/net/fw"
	"govz/net/link"
)

// Traffic returns what vzlist shows as a running container's traffic:
// the routed addresses' counters from the node's rules (read once, for
// every container, on first use) plus the bridged interfaces' counters
// from their host ends (received there = sent by the container). nil for
// a container without networking.
func Traffic(n *inventory.Node) func(id int) *fw.Counters {
	var counters map[int]fw.Counters
	read := false
	return func(id int) *fw.Counters {
		st, err := ReadState(n.RunDir(id))
		if err != nil || st.Empty() {
			return nil
		}
		// The counters live in the namespace the container was started
		// from; elsewhere they would read as someone else's.
		if rs, err := runstate.Read(n.RunDir(id)); err != nil || !SameNetNS(rs.SupervisorPID) {
			return nil
		}
		var c fw.Counters
		if st.Venet != nil {
			if !read {
				read = true
				if t, err := fw.Open(); err == nil {
					counters, err = t.ReadCounters()
					if err != nil {
						n.Log.Debugf(1, "reading traffic counters: %v", err)
					}
				}
			}
			c = counters[id]
		}
		if len(st.NetIfs) > 0 {
			if host, err := link.Open(); err == nil {
				for _, s := range st.NetIfs {
					ni, err := bridge.Parse(s)
					if err != nil {
						continue
					}
					if ls, err := host.LinkStats(ni.HostName); err == nil {
						c = c.Add(fw.Counters{InBytes: ls.TxBytes, InPackets: ls.TxPackets,
							OutBytes: ls.RxBytes, OutPackets: ls.RxPackets})
					}
				}
				host.Close()
			}
		}
		return &c
	}
}

// SameNetNS reports whether process pid shares this process's network
// namespace.
func SameNetNS(pid int) bool {
	var a, b unix.Stat_t
	if unix.Stat("/proc/self/ns/net", &a) != nil || unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}
