package ovzconf

// How says what becomes of a vzctl key in govz.
type How string

const (
	// Mapped: the govz key means the same and takes the value as it is.
	Mapped How = "mapped"
	// Converted: the govz key means the same; the value is rewritten
	// (unit, list form) or items govz refuses are left out, each named.
	Converted How = "converted"
	// Accounted: kept in the govz key; the kernel has no separate limit,
	// the usage counts against the memory limit (ct/ubc).
	Accounted How = "accounted in memory"
	// NotEnforced: kept in the govz key, but a stock kernel has no
	// per-container knob for it (ct/ubc, conf/KEYS.md).
	NotEnforced How = "not enforced"
	// Importer: read by the importer itself (where the private area is,
	// its layout, the ID mapping); no key of its own.
	Importer How = "used by the importer"
	// Node: a setting of the whole node (vz.conf); not imported into a
	// container, reported with the vz.toml key to set by hand, if any.
	Node How = "node setting"
	// Dropped: no counterpart on a stock kernel; reported, not imported.
	Dropped How = "dropped"
)

// Rule is one vzctl key's mapping.
type Rule struct {
	VZ   string // vzctl's key
	Govz string // govz's key, "" for none
	How  How
	Note string // why, for the plan and docs/OPENVZ-IMPORT.md
}

// Rules maps every key vzctl 4.x reads from vz.conf and CTID.conf
// (src/lib/config.c's table, man/ctid.conf.5 and man/vz.conf.5).
// docs/OPENVZ-IMPORT.md documents the same table; a test keeps them equal.
var Rules = []Rule{
	// Identity and lifecycle.
	{"VEID", "", Importer, "checked against the CTID of the file name"},
	{"NAME", "name", Mapped, "registered in $VZ_ROOT/conf/names; a name govz refuses (spaces, all digits) fails the container's import"},
	{"DESCRIPTION", "description", Mapped, ""},
	{"ONBOOT", "onboot", Converted, "yes/no to a boolean"},
	{"BOOTORDER", "bootorder", Mapped, ""},
	{"DISABLED", "disabled", Converted, "yes/no to a boolean"},
	{"OSTEMPLATE", "ostemplate", Mapped, "chooses the guest's network and hostname configuration by distribution, as in vzctl"},
	{"ORIGIN_SAMPLE", "origin_sample", Mapped, ""},
	{"CONFIGFILE", "origin_sample", Converted, "in a CTID.conf: the sample of an old vzctl, taken when ORIGIN_SAMPLE is unset; in vz.conf: the default sample of create (node setting configfile)"},
	{"STOP_TIMEOUT", "stop_timeout", Mapped, ""},
	{"LOCAL_UID", "local_uid", Importer, "unset or 0 (the OpenVZ kernel's own isolation): the container gets a range of its own (auto), its files stay as they are and are mapped at mount; a range vzctl used on an upstream kernel means the files are owned by shifted IDs: refused, shift them back first"},
	{"LOCAL_GID", "local_gid", Importer, "as LOCAL_UID"},

	// Filesystem.
	{"VE_ROOT", "ve_root", Importer, "the govz default ($VZ_ROOT/root/$VEID) is used"},
	{"VE_PRIVATE", "ve_private", Importer, "where the private area is read from (below --from); the container's own is $VZ_ROOT/private/CTID, or PATH for register"},
	{"VE_LAYOUT", "ve_layout", Importer, "simfs becomes dir, ploop becomes image (the top delta converted with qemu-img)"},
	{"TEMPLATE", "template", Node, "the template area; govz keeps its own"},
	{"MOUNT_OPTS", "", Dropped, "ploop mount options; the image layout mounts ext4 with its own"},
	{"DISK_QUOTA", "", Importer, "no: the disk limits are not imported (vzctl did not enforce them)"},

	// Network.
	{"IP_ADDRESS", "ip_address", Converted, "split at blanks; 0.0.0.0 and :: skipped as vzctl does"},
	{"HOSTNAME", "hostname", Mapped, ""},
	{"NAMESERVER", "nameserver", Converted, "split at blanks; inherit kept"},
	{"SEARCHDOMAIN", "searchdomain", Converted, "split at blanks; inherit kept"},
	{"NETIF", "netif", Converted, "one entry per ';'-separated interface, same key=value fields"},
	{"VETH", "", Dropped, "vzctl 3.x's veth format; re-add the interfaces with --netif_add"},
	{"NETDEV", "", Dropped, "moving a host NIC into a container is not implemented"},
	{"IPV6", "ipv6", Node, "whether containers may have IPv6 addresses"},

	// Memory: vSwap and the beancounters.
	{"PHYSPAGES", "physpages", Mapped, "the limit is the RAM limit (memory.max)"},
	{"SWAPPAGES", "swappages", Mapped, "memory.swap.max"},
	{"VM_OVERCOMMIT", "vm_overcommit", NotEnforced, ""},
	{"NUMPROC", "numproc", Mapped, "pids.max"},
	{"KMEMSIZE", "kmemsize", Accounted, ""},
	{"LOCKEDPAGES", "lockedpages", Mapped, "RLIMIT_MEMLOCK"},
	{"PRIVVMPAGES", "privvmpages", NotEnforced, ""},
	{"SHMPAGES", "shmpages", Mapped, "kernel.shmall of the container's IPC namespace"},
	{"VMGUARPAGES", "vmguarpages", Mapped, "memory.low (barrier)"},
	{"OOMGUARPAGES", "oomguarpages", Mapped, "memory.min (barrier)"},
	{"NUMTCPSOCK", "numtcpsock", NotEnforced, ""},
	{"NUMFLOCK", "numflock", NotEnforced, ""},
	{"NUMPTY", "numpty", Mapped, "max= of the container's devpts"},
	{"NUMSIGINFO", "numsiginfo", Mapped, "RLIMIT_SIGPENDING"},
	{"TCPSNDBUF", "tcpsndbuf", Accounted, ""},
	{"TCPRCVBUF", "tcprcvbuf", Accounted, ""},
	{"OTHERSOCKBUF", "othersockbuf", Accounted, ""},
	{"DGRAMRCVBUF", "dgramrcvbuf", Accounted, ""},
	{"NUMOTHERSOCK", "numothersock", NotEnforced, ""},
	{"DCACHESIZE", "dcachesize", Accounted, ""},
	{"DCACHE", "dcachesize", Accounted, "vzctl's older name of DCACHESIZE"},
	{"NUMFILE", "numfile", Mapped, "RLIMIT_NOFILE"},
	{"NUMIPTENT", "numiptent", NotEnforced, ""},
	{"IPTENTRIES", "numiptent", NotEnforced, "vzctl's older name of NUMIPTENT"},
	{"AVNUMPROC", "", Dropped, "only read by vzctl's calculators (vzcalc, vzsplit)"},
	{"MEMINFO", "", Dropped, "/proc/meminfo comes from LXCFS and follows physpages"},

	// CPU.
	{"CPUUNITS", "cpuunits", Mapped, "cpu.weight"},
	{"CPUWEIGHT", "cpuunits", Converted, "taken when CPUUNITS is unset"},
	{"CPULIMIT", "cpulimit", Mapped, "per cent of one CPU, as vzctl stores it (cpu.max)"},
	{"CPUS", "cpus", Mapped, "cpu.max"},
	{"CPUMASK", "cpumask", Mapped, "cpuset.cpus"},
	{"NODEMASK", "nodemask", Mapped, "cpuset.mems"},

	// I/O.
	{"IOPRIO", "ioprio", Mapped, "io.weight"},
	{"IOLIMIT", "iolimit", Converted, "vzctl stores bytes per second; written with a B suffix (a bare govz number is MB)"},
	{"IOPSLIMIT", "iopslimit", Mapped, ""},

	// Disk quota.
	{"DISKSPACE", "diskspace", Mapped, "KiB soft:hard; project quota (dir) or the image size (image)"},
	{"DISKINODES", "diskinodes", Mapped, ""},
	{"QUOTATIME", "quotatime", Mapped, ""},
	{"QUOTAUGIDLIMIT", "quotaugidlimit", NotEnforced, "no per-user quota inside a container"},

	// Security and devices.
	{"CAPABILITY", "capability", Converted, "NAME:on|off items; setveid and ve_admin (OpenVZ's own) left out"},
	{"NETFILTER", "netfilter", Converted, "every container has all netfilter tables of its own network namespace (full); disabled, stateless and stateful cannot be enforced and are left out, named"},
	{"IPTABLES", "", Dropped, "vzctl's obsolete module list; see NETFILTER"},
	{"DEVICES", "devices", Converted, "b|c:MAJOR:MINOR:PERM items; the q (quota) permission and the all device left out, named"},
	{"DEVNODES", "devnodes", Converted, "NAME:PERM items; the q permission left out, named"},
	{"PCI", "", Dropped, "PCI passthrough is not implemented"},
	{"FEATURES", "features", Converted, "NAME:on|off items; what a stock kernel cannot give or withhold (nfs:on, bridge:off, ...) left out, named"},

	// Logging and node paths (either file).
	{"LOCKDIR", "lockdir", Node, ""},
	{"DUMPDIR", "dumpdir", Node, ""},
	{"LOGGING", "logging", Node, ""},
	{"LOG_LEVEL", "log_level", Node, ""},
	{"LOGFILE", "logfile", Node, ""},
	{"VERBOSE", "verbose", Node, ""},

	// vz.conf only.
	{"VIRTUOZZO", "", Node, "the init script's on switch; govz's is the systemd unit"},
	{"VE0CPUUNITS", "", Node, "the host's own CPU weight; no counterpart"},
	{"VE_STOP_MODE", "", Node, "no checkpointing: node shutdown stops containers"},
	{"VE_PARALLEL", "ve_parallel", Node, ""},
	{"MODULES_DISABLED", "", Node, "govz loads no modules"},
	{"IPTABLES_MODULES", "", Node, "govz loads no modules"},
	{"VZFASTBOOT", "", Node, "no vzquota to check"},
	{"DEF_OSTEMPLATE", "def_ostemplate", Node, ""},
	{"NEIGHBOUR_DEVS", "neighbour_devs", Node, ""},
	{"ERROR_ON_ARPFAIL", "error_on_arpfail", Node, ""},
	{"SKIP_ARPDETECT", "skip_arpdetect", Node, ""},
	{"FORCE_ROUTE", "", Node, "routes to containers are replaced when they exist"},
	{"VE_ROUTE_SRC_DEV", "", Node, "not implemented"},
	{"VZWDOG", "", Node, "no watchdog module"},
	{"SKIP_SYSCTL_SETUP", "setup_sysctls", Node, "inverted: setup_sysctls = true lets vzctl set them"},
}

// RuleFor returns the rule of vzctl key k.
func RuleFor(k string) (Rule, bool) {
	for _, r := range Rules {
		if r.VZ == k {
			return r, true
		}
	}
	return Rule{}, false
}
