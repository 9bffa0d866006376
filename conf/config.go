package conf

// Config is one layer of configuration: the global file, a sample or a
// container's file, or the command line. A nil field is "not set in this
// layer", so layers merge field by field (Merge). Every field's TOML key has
// a row in Keys, which documents it and says whether it may appear in the
// global file, a container file, or both.
type Config struct {
	// Installation (global only).
	Template      *string `toml:"template"`
	LockDir       *string `toml:"lockdir"`
	DumpDir       *string `toml:"dumpdir"`
	RunDir        *string `toml:"rundir"`
	DefOSTemplate *string `toml:"def_ostemplate"`
	ConfigFile    *string `toml:"configfile"`
	Logging       *bool   `toml:"logging"`
	LogFile       *string `toml:"logfile"`
	LogLevel      *int    `toml:"log_level"`
	Verbose       *int    `toml:"verbose"`
	CgroupParent  *string `toml:"cgroup_parent"`
	NeighbourDevs *string `toml:"neighbour_devs"`
	IPv6          *bool   `toml:"ipv6"`
	SetupSysctls  *bool   `toml:"setup_sysctls"`
	SkipARPDetect *bool   `toml:"skip_arpdetect"`
	ErrorOnARP    *bool   `toml:"error_on_arpfail"`
	LXCFS         *string `toml:"lxcfs"`
	LocalIDPool   *string `toml:"local_id_pool"`
	VEParallel    *int    `toml:"ve_parallel"`
	ShutdownTime  *int    `toml:"shutdown_timeout"`
	CRIUPath      *string `toml:"criu_path"`

	// Address pools (global only; ct/ippool).
	IPPool []string `toml:"ip_pool"`

	// Filesystem.
	VERoot    *string `toml:"ve_root"`
	VEPrivate *string `toml:"ve_private"`
	VELayout  *string `toml:"ve_layout"`

	// Identity and lifecycle.
	Name         *string `toml:"name"`
	Description  *string `toml:"description"`
	OSTemplate   *string `toml:"ostemplate"`
	OriginSample *string `toml:"origin_sample"`
	OnBoot       *bool   `toml:"onboot"`
	BootOrder    *int    `toml:"bootorder"`
	Disabled     *bool   `toml:"disabled"`
	StopTimeout  *int    `toml:"stop_timeout"`
	LocalUID     *IDBase `toml:"local_uid"`
	LocalGID     *IDBase `toml:"local_gid"`

	// Network.
	Hostname     *string  `toml:"hostname"`
	IPAddress    []string `toml:"ip_address"`
	Nameserver   []string `toml:"nameserver"`
	SearchDomain []string `toml:"searchdomain"`
	NetIf        []string `toml:"netif"`

	// Memory and beancounters ("barrier:limit" in the key's unit).
	PhysPages    *string  `toml:"physpages"`
	SwapPages    *string  `toml:"swappages"`
	VMOvercommit *float64 `toml:"vm_overcommit"`
	NumProc      *string  `toml:"numproc"`
	KMemSize     *string  `toml:"kmemsize"`
	LockedPages  *string  `toml:"lockedpages"`
	PrivVMPages  *string  `toml:"privvmpages"`
	ShmPages     *string  `toml:"shmpages"`
	VMGuarPages  *string  `toml:"vmguarpages"`
	OOMGuarPages *string  `toml:"oomguarpages"`
	NumTCPSock   *string  `toml:"numtcpsock"`
	NumFLock     *string  `toml:"numflock"`
	NumPTY       *string  `toml:"numpty"`
	NumSigInfo   *string  `toml:"numsiginfo"`
	TCPSndBuf    *string  `toml:"tcpsndbuf"`
	TCPRcvBuf    *string  `toml:"tcprcvbuf"`
	OtherSockBuf *string  `toml:"othersockbuf"`
	DgramRcvBuf  *string  `toml:"dgramrcvbuf"`
	NumOtherSock *string  `toml:"numothersock"`
	DCacheSize   *string  `toml:"dcachesize"`
	NumFile      *string  `toml:"numfile"`
	NumIPTent    *string  `toml:"numiptent"`

	// CPU and I/O.
	CPUUnits  *int    `toml:"cpuunits"`
	CPULimit  *int    `toml:"cpulimit"`
	CPUs      *int    `toml:"cpus"`
	CPUMask   *string `toml:"cpumask"`
	NodeMask  *string `toml:"nodemask"`
	IOPrio    *int    `toml:"ioprio"`
	IOLimit   *string `toml:"iolimit"`
	IOPSLimit *string `toml:"iopslimit"`

	// Disk quota.
	DiskSpace      *string `toml:"diskspace"`
	DiskInodes     *string `toml:"diskinodes"`
	QuotaTime      *int    `toml:"quotatime"`
	QuotaUGIDLimit *int    `toml:"quotaugidlimit"`

	// Security and devices.
	Capability []string `toml:"capability"`
	DevNodes   []string `toml:"devnodes"`
	Devices    []string `toml:"devices"`
	Features   []string `toml:"features"`
	Netfilter  *string  `toml:"netfilter"`
	BindMount  []string `toml:"bindmount"`

	// Extra is the file's keys that are not in the table (unknown.go).
	Extra *Unknown `toml:"-"`
}
