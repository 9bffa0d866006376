package conf

import "govz/ct/cgroup"

// Scope says which files may hold a key.
type Scope int

const (
	// Global keys describe the installation and live only in vz.toml.
	Global Scope = iota
	// CT keys describe one container; vz.toml may hold them as defaults.
	CT
)

// Value kinds, which decide how a value is validated and normalised.
const (
	KindString     = "string"
	KindInt        = "integer"
	KindFloat      = "float"
	KindBool       = "boolean"
	KindList       = "list of strings"
	KindPages      = "barrier:limit, pages"     // suffixes K M G T convert bytes to pages
	KindBytes      = "barrier:limit, bytes"     // suffixes K M G T, P for pages
	KindItems      = "barrier:limit, items"     // plain counts, no suffixes
	KindKB         = "softlimit:hardlimit, KiB" // suffixes K M G T
	KindInodes     = "softlimit:hardlimit, inodes"
	KindRate       = "rate"
	KindIP         = "list of addresses"
	KindNameserver = "list of addresses or inherit"
	KindSearch     = "list of domains or inherit"
	KindHostname   = "hostname"
	KindIDBase     = "integer or auto"
)

// Key documents one configuration key. The table is the single source for
// validation, `vzctl set` help and conf/KEYS.md.
type Key struct {
	Name    string
	Kind    string
	Scope   Scope
	Default string // as documented; "" = unset
	Live    string // whether `vzctl set` changes a running container at once
	VZName  string // vzctl 4.x's name for the key
	Help    string
}

// Keys lists every configuration key in the order files are written.
var Keys = []Key{
	{"template", KindString, Global, "$VZ_ROOT/template", "n/a", "TEMPLATE", "Template area; OS template tarballs live in its cache/ directory."},
	{"lockdir", KindString, Global, "$VZ_ROOT/lock", "n/a", "LOCKDIR", "Per-container lock files."},
	{"dumpdir", KindString, Global, "$VZ_ROOT/dump", "n/a", "DUMPDIR", "Checkpoint dumps."},
	{"criu_path", KindString, Global, "", "n/a", "", "CRIU executable for chkpnt and restore (4.0 or newer); unset: /usr/local/sbin/criu, else criu from PATH."},
	{"rundir", KindString, Global, "$VZ_ROOT/run", "n/a", "", "Runtime state of running containers (one directory each)."},
	{"def_ostemplate", KindString, Global, "busybox-<arch>", "n/a", "DEF_OSTEMPLATE", "OS template used by create when --ostemplate is not given."},
	{"configfile", KindString, Global, "vswap-256m", "n/a", "CONFIGFILE", "Sample used by create when --config is not given."},
	{"logging", KindBool, Global, "true", "n/a", "LOGGING", "Write the log file."},
	{"logfile", KindString, Global, "$VZ_ROOT/log/vzctl.log", "n/a", "LOGFILE", "Log file."},
	{"log_level", KindInt, Global, "0", "n/a", "LOG_LEVEL", "Log file verbosity: -1 errors only, 0 normal, 1 and up debug."},
	{"verbose", KindInt, Global, "0", "n/a", "VERBOSE", "Console verbosity (--verbose raises it, --quiet silences it)."},
	{"cgroup_parent", KindString, Global, cgroup.DefaultParent, "n/a", "", "Parent cgroup (relative) under which every container's cgroups live."},
	{"neighbour_devs", KindString, Global, "detect", "n/a", "NEIGHBOUR_DEVS", "Where proxy ARP/NDP entries go: detect, all, or list:DEV DEV..."},
	{"ipv6", KindBool, Global, "true", "n/a", "IPV6", "Allow IPv6 container addresses."},
	{"setup_sysctls", KindBool, Global, "false", "n/a", "", "Let vzctl set the node sysctls routed addresses need (forwarding, proxy_ndp, proxy_delay on the neighbour devices); when false it only names the missing ones."},
	{"skip_arpdetect", KindBool, Global, "false", "n/a", "SKIP_ARPDETECT", "Skip the probe for another host already using an address before a container takes it."},
	{"error_on_arpfail", KindBool, Global, "false", "n/a", "ERROR_ON_ARPFAIL", "Refuse an address another host answers for, instead of warning."},
	{"ve_parallel", KindInt, Global, "unset", "n/a", "VE_PARALLEL", "Containers started at once at node boot (vzctl boot-node); unset or 0 = 4 x CPUs."},
	{"shutdown_timeout", KindInt, Global, "300", "n/a", "", "Seconds node shutdown (vzctl shutdown-node) gives all containers together to halt; what still runs then is killed."},
	{"lxcfs", KindString, Global, "/var/lib/lxcfs", "n/a", "", "Where LXCFS is mounted; its /proc files are bound into each container at start. off = never."},
	{"local_id_pool", KindString, Global, "1879048192-2147352575", "n/a", "", "Host IDs that local_uid = auto takes ranges from, FIRST-LAST or START+COUNT: 65536 IDs per container at a multiple of 65536, the same number for local_gid, skipping every range in a container's config or in /etc/subuid and /etc/subgid. The default is the stretch systemd leaves unused (4094 containers)."},
	{"ip_pool", KindList, Global, "[]", "n/a", "", "Address pools for vzctl create/set --ipadd auto[:POOL], [NAME=]RANGE each: RANGE is FIRST-LAST, ADDR/PREFIX (an IPv4 subnet's network and broadcast and an IPv6 subnet's ::0 left out) or ADDR; entries without NAME= are the pool default; several entries of one name are one pool, taken in order. auto takes the lowest address of the pool (default, or the only one) that no container's config or running container holds, under the node allocation lock, saves it as a plain address and prints 'Assigned ADDR to CT N'; --ipdel gives it back. A full pool is exit 34, an unknown one 71. Keep the node's own addresses out of the ranges."},

	{"ve_root", KindString, CT, "$VZ_ROOT/root/$VEID", "no", "VE_ROOT", "Mount point of the container's root; $VEID expands to the CTID."},
	{"ve_private", KindString, CT, "$VZ_ROOT/private/$VEID", "no", "VE_PRIVATE", "Private area holding the container's files."},
	{"ve_layout", KindString, CT, "auto", "no", "VE_LAYOUT", "Storage layout of the private area: dir, btrfs, image, overlay, or auto (btrfs on btrfs, else image when diskspace is set, else dir)."},

	{"name", KindString, CT, "", "yes", "NAME", "Alias usable wherever a CTID is; unique on the node."},
	{"description", KindString, CT, "", "yes", "DESCRIPTION", "Free text."},
	{"ostemplate", KindString, CT, "", "yes", "OSTEMPLATE", "OS template the container was created from."},
	{"origin_sample", KindString, CT, "", "yes", "ORIGIN_SAMPLE", "Sample the container was created from."},
	{"onboot", KindBool, CT, "unset", "yes", "ONBOOT", "Start at node boot; unset = start if it was running before."},
	{"bootorder", KindInt, CT, "unset", "yes", "BOOTORDER", "Higher starts earlier at node boot."},
	{"disabled", KindBool, CT, "false", "yes", "DISABLED", "Refuse start unless --force."},
	{"stop_timeout", KindInt, CT, "120", "yes", "STOP_TIMEOUT", "Seconds to wait for a clean halt before killing; 0 = the global default."},
	{"local_uid", KindIDBase, CT, "auto at create; 0 if absent", "no", "LOCAL_UID", "First of the container's 65536 host UIDs (its root's host UID). auto = a free range of local_id_pool, resolved by create and set and stored as the number; 0 = identity mapping (root inside is host UID 0). A file without it runs identity-mapped. In vz.toml only auto or 0: what create gives new containers. Changes need a stopped container; a range another container (or /etc/subuid) holds needs set --force."},
	{"local_gid", KindIDBase, CT, "as local_uid", "no", "LOCAL_GID", "First of the container's 65536 host GIDs; given without it, local_uid's value serves for both."},

	{"hostname", KindHostname, CT, "", "yes", "HOSTNAME", "Host name of the container."},
	{"ip_address", KindIP, CT, "[]", "yes", "IP_ADDRESS", "Routed (venet) addresses, ADDR or ADDR/PREFIX, IPv4 and IPv6."},
	{"nameserver", KindNameserver, CT, "[]", "yes", "NAMESERVER", "DNS servers written into the guest; inherit = the host's."},
	{"searchdomain", KindSearch, CT, "[]", "yes", "SEARCHDOMAIN", "DNS search domains; inherit = the host's."},
	{"netif", KindList, CT, "[]", "yes", "NETIF", "Bridged veth interfaces, ifname=..,mac=..,host_ifname=..,host_mac=..,bridge=..,mac_filter=.."},

	{"physpages", KindPages, CT, "0:unlimited", "yes", "PHYSPAGES", "RAM limit (--ram sets the limit part)."},
	{"swappages", KindPages, CT, "0:unlimited", "yes", "SWAPPAGES", "Swap limit (--swap)."},
	{"vm_overcommit", KindFloat, CT, "unset", "yes", "VM_OVERCOMMIT", "privvmpages = (ram+swap) x this value."},
	{"numproc", KindItems, CT, "unlimited", "yes", "NUMPROC", "Processes and threads."},
	{"kmemsize", KindBytes, CT, "unlimited", "yes", "KMEMSIZE", "Kernel memory."},
	{"lockedpages", KindPages, CT, "unlimited", "yes", "LOCKEDPAGES", "mlock()ed memory."},
	{"privvmpages", KindPages, CT, "unlimited", "yes", "PRIVVMPAGES", "Allocated memory."},
	{"shmpages", KindPages, CT, "unlimited", "yes", "SHMPAGES", "IPC shared memory."},
	{"vmguarpages", KindPages, CT, "unlimited", "yes", "VMGUARPAGES", "Memory allocation guarantee."},
	{"oomguarpages", KindPages, CT, "unlimited", "yes", "OOMGUARPAGES", "OOM-kill guarantee."},
	{"numtcpsock", KindItems, CT, "unlimited", "yes", "NUMTCPSOCK", "TCP sockets."},
	{"numflock", KindItems, CT, "unlimited", "yes", "NUMFLOCK", "File locks."},
	{"numpty", KindItems, CT, "unlimited", "yes", "NUMPTY", "Pseudo terminals (max= of the container's devpts)."},
	{"numsiginfo", KindItems, CT, "unlimited", "yes", "NUMSIGINFO", "Pending signals."},
	{"tcpsndbuf", KindBytes, CT, "unlimited", "yes", "TCPSNDBUF", "TCP send buffers."},
	{"tcprcvbuf", KindBytes, CT, "unlimited", "yes", "TCPRCVBUF", "TCP receive buffers."},
	{"othersockbuf", KindBytes, CT, "unlimited", "yes", "OTHERSOCKBUF", "Other socket buffers."},
	{"dgramrcvbuf", KindBytes, CT, "unlimited", "yes", "DGRAMRCVBUF", "Datagram receive buffers."},
	{"numothersock", KindItems, CT, "unlimited", "yes", "NUMOTHERSOCK", "Non-TCP sockets."},
	{"dcachesize", KindBytes, CT, "unlimited", "yes", "DCACHESIZE", "Dentry and inode caches."},
	{"numfile", KindItems, CT, "unlimited", "yes", "NUMFILE", "Open files per process (RLIMIT_NOFILE soft:hard)."},
	{"numiptent", KindItems, CT, "unlimited", "yes", "NUMIPTENT", "iptables entries."},

	{"cpuunits", KindInt, CT, "1000", "yes", "CPUUNITS", "CPU weight, 8..500000."},
	{"cpulimit", KindInt, CT, "0", "yes", "CPULIMIT", "Hard CPU cap in % of one CPU; 0 = none."},
	{"cpus", KindInt, CT, "0", "yes", "CPUS", "Number of CPUs the container may use; 0 = all."},
	{"cpumask", KindString, CT, "all", "yes", "CPUMASK", "Allowed CPUs, e.g. 0-2,7."},
	{"nodemask", KindString, CT, "all", "yes", "NODEMASK", "Allowed NUMA nodes."},
	{"ioprio", KindInt, CT, "4", "yes", "IOPRIO", "I/O priority 0..7."},
	{"iolimit", KindRate, CT, "0", "yes", "IOLIMIT", "I/O bandwidth cap per second: a number is MB (as in vzctl), or with a B K M G suffix; 0 = none."},
	{"iopslimit", KindRate, CT, "0", "yes", "IOPSLIMIT", "I/O operations per second cap; 0 = none."},

	{"diskspace", KindKB, CT, "unlimited", "yes", "DISKSPACE", "Disk space soft:hard limit."},
	{"diskinodes", KindInodes, CT, "unlimited", "yes", "DISKINODES", "Disk inode soft:hard limit."},
	{"quotatime", KindInt, CT, "0", "yes", "QUOTATIME", "Grace period in seconds for the soft limits."},
	{"quotaugidlimit", KindInt, CT, "0", "n/a", "QUOTAUGIDLIMIT", "Per-user/group quota inside the container (vzquota's second level); 0 = off. Saved but not enforced on any layout; create and set say so."},

	{"capability", KindList, CT, "[]", "no", "CAPABILITY", "Capability changes, NAME:on|off; an unknown name is refused."},
	{"devnodes", KindList, CT, "[]", "no", "DEVNODES", "Host device nodes copied into /dev and granted, NAME:r|w|rw|none (e.g. net/tun:rw); the host must have /dev/NAME."},
	{"devices", KindList, CT, "[]", "no", "DEVICES", "Devices granted by number without a node, b|c:MAJOR:MINOR|all:r|w|rw|none (MINOR all = any; the all device is refused)."},
	{"features", KindList, CT, "[]", "no", "FEATURES", "NAME:on|off. tun, fuse, ppp: on grants the device node. bridge, sit, ipip, ipgre, sysfs: every container has them (off refused). nfs, nfsd: on refused (not in a user namespace)."},
	{"netfilter", KindString, CT, "full", "no", "NETFILTER", "full: every netfilter table in the container's own network namespace; disabled, stateless and stateful cannot be enforced on a stock kernel and are refused."},
	{"bindmount", KindList, CT, "[]", "no", "", "Host paths mounted into the container at start, HOST:CT[:ro|rw] (rw by default): HOST an existing directory or file, CT an absolute path inside (not /proc, /sys, /dev or /run). nosuid and nodev; idmapped like the root for a container with its own ID range."},
}

// KeyByName returns the table row for a key.
func KeyByName(name string) (Key, bool) {
	for _, k := range Keys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}
