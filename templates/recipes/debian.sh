# debian.sh: a Debian or Ubuntu system-container tree made with debootstrap.
#
# Environment (set by Build):
#   ROOTFS    empty directory to fill
#   DISTRO    debian or ubuntu
#   SUITE     release code name (bookworm, trixie, jammy, noble, ...)
#   MIRROR    archive URL (http://deb.debian.org/debian, ...)
#   DEB_ARCH  Debian architecture (amd64, arm64, ...)
#   ARCH      OpenVZ arch name (x86_64, ...), informational
#   INIT      the guest's init: systemd (default), sysvinit or openrc
#   NETWORK   what configures its network: ifupdown (default), networkd,
#             netplan (rendering to networkd) or networkmanager
#   BASE      optional: a template of the same DISTRO, SUITE and DEB_ARCH to
#             start from instead of debootstrap (see "Deriving" below)
#
# Needs the network (to reach MIRROR), debootstrap, and the distribution's
# archive keyring.

: "${DISTRO:?DISTRO is not set}" "${SUITE:?SUITE is not set}"
: "${MIRROR:?MIRROR is not set}" "${DEB_ARCH:?DEB_ARCH is not set}"
INIT=${INIT:-systemd}
NETWORK=${NETWORK:-ifupdown}

phase "checking prerequisites"
BASE=${BASE:-}
if [ -z "$BASE" ]; then
	command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install debootstrap"
fi
scripts=/usr/share/debootstrap/scripts
case "$DISTRO" in
debian)
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	keypkg=debian-archive-keyring
	fallback=sid
	components=main
	;;
ubuntu)
	keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg
	keypkg=ubuntu-keyring
	fallback=gutsy
	components=main,universe
	;;
*) die "unknown distribution $DISTRO" ;;
esac
if [ -z "$BASE" ]; then
	# Without its keyring debootstrap would only warn and install unverified
	# packages; refuse instead.
	[ -r "$keyring" ] || die "$DISTRO archive keyring $keyring not found: apt-get install $keypkg"
	# debootstrap releases name only the suites known when they were made;
	# every later Debian suite works with the sid script and every Ubuntu
	# one with gutsy.
	script=$scripts/$SUITE
	if [ ! -e "$script" ]; then
		script=$scripts/$fallback
		[ -e "$script" ] || die "debootstrap has no script for $SUITE nor $fallback: upgrade debootstrap"
	fi
fi

# What a system container needs on top of minbase, and no more: the init
# (systemd with dbus for hostnamectl/loginctl, or sysvinit), the network
# stack the host-side configurators write for (net/guest), and the basics
# users expect. OpenRC replaces sysv-rc after debootstrap (apt resolves the
# conflict; debootstrap's resolver takes the first alternative), and
# NetworkManager comes with apt too (its polkitd does not configure in
# debootstrap's second stage).
apt_install=
case "$INIT" in
systemd) include=systemd-sysv,dbus ;;
sysvinit | openrc) include=sysvinit-core,sysv-rc,initscripts ;;
*) die "unknown init $INIT (systemd, sysvinit or openrc)" ;;
esac
case "$NETWORK" in
ifupdown) include=$include,ifupdown ;;
networkd) ;;
netplan) include=$include,netplan.io ;;
networkmanager) apt_install=network-manager ;;
*) die "unknown network $NETWORK (ifupdown, networkd, netplan or networkmanager)" ;;
esac
[ "$INIT" = systemd ] || [ "$NETWORK" = ifupdown ] ||
	die "network $NETWORK needs systemd as init"
include=$include,procps,iproute2,iputils-ping,netbase,ca-certificates
[ "$INIT" = openrc ] && apt_install="$apt_install openrc"
apt_install=${apt_install# }

# The units a systemd guest gets masked (see the configuration below).
masked="systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket
	systemd-udev-trigger.service systemd-udev-settle.service udev.service
	systemd-timesyncd.service systemd-remount-fs.service systemd-firstboot.service
	sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount
	sys-fs-fuse-connections.mount dev-hugepages.mount
	proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount systemd-binfmt.service
	systemd-modules-load.service kmod-static-nodes.service systemd-hwdb-update.service
	systemd-journald-audit.socket systemd-pstore.service
	e2scrub_all.timer e2scrub_all.service e2scrub_reap.service
	fstrim.timer fstrim.service"

# Deriving: a variant built from BASE (the suite's default template, already
# built) instead of its own debootstrap, for a fraction of the time. The
# package set is made the one debootstrap would give: what this variant
# installs, then everything that is neither Priority required (minbase), apt,
# nor asked for above is marked automatically installed, and apt removes
# what no kept package depends on (Depends and Pre-Depends only:
# debootstrap follows no Recommends). The configuration below runs on the
# result as on a fresh tree; it is idempotent.
if [ -n "$BASE" ]; then
	phase "unpacking $(basename "$BASE")"
	[ -r "$BASE" ] || die "base template $BASE not readable"
	tar --extract --file="$BASE" --directory="$ROOTFS" --numeric-owner \
		--xattrs --xattrs-include='*' --preserve-permissions --same-owner
	[ -x "$ROOTFS/usr/bin/apt-get" ] && [ -x "$ROOTFS/usr/bin/dpkg" ] ||
		die "base template $BASE has no apt-get or dpkg: not a $DISTRO tree"
	# The mounts below must land inside the tree, not where a link points.
	for d in proc dev; do
		[ -d "$ROOTFS/$d" ] && [ ! -L "$ROOTFS/$d" ] || die "base template $BASE: /$d is not a directory"
	done
	# The template's /dev is empty (the runtime fills it); dpkg's scripts
	# need the basic nodes. A tmpfs keeps them out of the result.
	mount -t tmpfs -o mode=0755,nosuid dev "$ROOTFS/dev"
	mknod -m 0666 "$ROOTFS/dev/null" c 1 3
	mknod -m 0666 "$ROOTFS/dev/zero" c 1 5
	mknod -m 0666 "$ROOTFS/dev/full" c 1 7
	mknod -m 0666 "$ROOTFS/dev/random" c 1 8
	mknod -m 0666 "$ROOTFS/dev/urandom" c 1 9
	mknod -m 0666 "$ROOTFS/dev/tty" c 5 0
	ln -s /proc/self/fd "$ROOTFS/dev/fd"
	mkdir "$ROOTFS/dev/pts"
	mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$ROOTFS/dev/pts"
	ln -s pts/ptmx "$ROOTFS/dev/ptmx"
	# The template's resolv.conf is empty; apt needs a resolver. Written
	# chrooted: the guest's own links resolve inside the guest.
	chroot "$ROOTFS" /bin/sh -c 'rm -f /etc/resolv.conf && cat >/etc/resolv.conf' </etc/resolv.conf
	# The archive debootstrap would have used, and only it (the template's
	# list adds -updates and -security); the configuration writes the
	# final list.
	printf 'deb %s %s %s\n' "$MIRROR" "$SUITE" "${components//,/ }" |
		chroot "$ROOTFS" /bin/sh -c 'cat >/etc/apt/sources.list && rm -f /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources'
else
	phase "debootstrap $SUITE ($DEB_ARCH) from $MIRROR"
	debootstrap --variant=minbase --arch="$DEB_ARCH" --keyring="$keyring" \
		--components="$components" --include="$include" \
		"$SUITE" "$ROOTFS" "$MIRROR" "$script"

	# debootstrap unmounts what it mounted on success; never delete through
	# a mount that is still there.
	if awk -v r="$ROOTFS" '$2 == r || index($2, r "/") == 1 { f = 1 } END { exit !f }' /proc/self/mounts; then
		die "debootstrap left mounts under $ROOTFS"
	fi
fi

if [ -n "$BASE" ] || [ -n "$apt_install" ]; then
	if [ -n "$BASE" ]; then
		phase "installing ${include//,/ }${apt_install:+ $apt_install} and removing what the variant does not need"
	else
		phase "installing $apt_install"
	fi
	mount -t proc proc "$ROOTFS/proc"
	chroot "$ROOTFS" /bin/sh -c 'printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d'
	# No fsync per file: the tree is a build's, packed and synced at the end.
	apt="chroot $ROOTFS env DEBIAN_FRONTEND=noninteractive apt-get -y -q --no-install-recommends -o Dpkg::Options::=--force-unsafe-io"
	$apt update
	# shellcheck disable=SC2086 # lists of package names
	if [ -n "$BASE" ]; then
		$apt install ${include//,/ }
	fi
	if [ -n "$apt_install" ]; then
		$apt install $apt_install
	fi
	if [ -n "$BASE" ]; then
		# shellcheck disable=SC2086
		chroot "$ROOTFS" /bin/sh -s -- "$masked" apt ${include//,/ } $apt_install <<'PRUNE'
set -eu
masked=$1
shift
keep=" $* "
auto=
for p in $(dpkg-query -W -f '${Status} ${Priority} ${Package}\n' | awk '$3 == "installed" && $4 != "required" { print $5 }'); do
	case "$keep" in *" $p "*) ;; *) auto="$auto $p" ;; esac
done
# The link the configuration makes for dbus would keep /var/lib/dbus after
# dbus is gone; the configuration makes it again where dbus stays.
rm -f /var/lib/dbus/machine-id
[ -z "$auto" ] || apt-mark auto $auto >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-unsafe-io -o APT::AutoRemove::RecommendsImportant=false \
	-o APT::AutoRemove::SuggestsImportant=false autoremove --purge
installed() { dpkg-query -W -f '${Status}\n' "$1" 2>/dev/null | grep -q ' installed$'; }
# ifupdown's postinst made /etc/network/interfaces, which its purge leaves:
# net/guest would take the guest for an ifupdown one, and NetworkManager's
# ifupdown plugin would leave the interfaces it names unmanaged.
if ! installed ifupdown; then
	rm -f /etc/network/interfaces
	rmdir /etc/network/interfaces.d /etc/network 2>/dev/null || true
fi
# The links the base's configuration made for systemd stay behind a purged
# systemd (those packages' scripts made stay, as in a debootstrapped tree).
if ! installed systemd; then
	sysdir=/etc/systemd/system
	for u in $masked; do
		[ "$(readlink "$sysdir/$u" 2>/dev/null)" != /dev/null ] || rm -f "$sysdir/$u"
	done
	rm -f "$sysdir/default.target" "$sysdir/getty.target.wants/console-getty.service"
	rmdir "$sysdir/getty.target.wants" 2>/dev/null || true
	# And the state directories systemd-tmpfiles made for it.
	rm -rf /run/systemd /run/dbus /run/user /run/log
	rmdir /var/lib/systemd/coredump /var/lib/systemd/pstore \
		/var/cache/private /var/lib/private /var/log/private 2>/dev/null || true
fi
PRUNE
	fi
	rm -f "$ROOTFS/usr/sbin/policy-rc.d"
	umount "$ROOTFS/proc"
fi
if [ -n "$BASE" ]; then
	umount "$ROOTFS/dev/pts" "$ROOTFS/dev"
fi

phase "configuring the tree for a container"
case "$DISTRO" in
debian)
	sources="deb $MIRROR $SUITE main"
	case "$SUITE" in
	sid | unstable) ;;
	*) sources="$sources
deb $MIRROR $SUITE-updates main
deb http://security.debian.org/debian-security $SUITE-security main" ;;
	esac
	;;
ubuntu)
	sources="deb $MIRROR $SUITE main universe
deb $MIRROR $SUITE-updates main universe
deb $MIRROR $SUITE-security main universe"
	;;
esac

# Everything below runs chrooted, so the guest's own symlinks resolve inside
# the guest tree and never on the host.
chroot "$ROOTFS" /bin/sh -s -- "$sources" "$INIT" "$NETWORK" "$masked" <<'GUEST'
set -eu
sources=$1 init=$2 network=$3 masked=$4
sysdir=/etc/systemd/system
units=/lib/systemd/system

# An empty machine-id makes systemd generate one at first boot, so clones of
# the template do not share an id.
: >/etc/machine-id
if [ -d /var/lib/dbus ]; then
	rm -f /var/lib/dbus/machine-id
	ln -s /etc/machine-id /var/lib/dbus/machine-id
fi
# debootstrap copies the build host's hostname and resolv.conf; the runtime
# writes the container's own.
: >/etc/hostname
: >/etc/resolv.conf
chmod 0644 /etc/hostname /etc/resolv.conf
cat >/etc/hosts <<'HOSTS'
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
HOSTS
echo "# The container's filesystems are set up by the host." >/etc/fstab

if [ "$init" = systemd ]; then
[ -x /lib/systemd/systemd ] || { echo "error: systemd is not installed" >&2; exit 1; }
[ "$(readlink -f /sbin/init)" = "$(readlink -f /lib/systemd/systemd)" ] ||
	{ echo "error: /sbin/init is not systemd" >&2; exit 1; }
# Units that make no sense in a container: no devices to manage (udev), no
# clock to set, no kernel to configure, no block devices to check or trim,
# no root filesystem to remount. systemd skips most of them by itself when it
# detects a container ($container in PID 1's environment); masking keeps the
# template right when the runtime does not say so. systemd-firstboot would
# wait for answers on a console nobody reads.
for u in $masked; do
	ln -sfn /dev/null "$sysdir/$u"
	rm -f "$sysdir"/*.wants/"$u"
done

ln -sfn "$units/multi-user.target" "$sysdir/default.target"

# A login prompt on /dev/console for "vzctl console"; no getty on tty1, which
# a container does not have.
[ -e "$units/console-getty.service" ] || { echo "error: console-getty.service missing" >&2; exit 1; }
mkdir -p "$sysdir/getty.target.wants"
ln -sfn "$units/console-getty.service" "$sysdir/getty.target.wants/console-getty.service"
rm -f "$sysdir/getty.target.wants/getty@tty1.service"

case "$network" in
networkd | netplan)
	# networkd manages the links; its resolver stays off (resolv.conf is
	# the host's to write).
	mkdir -p "$sysdir/multi-user.target.wants" "$sysdir/sockets.target.wants" "$sysdir/network-online.target.wants"
	ln -sfn "$units/systemd-networkd.service" "$sysdir/multi-user.target.wants/systemd-networkd.service"
	ln -sfn "$units/systemd-networkd.socket" "$sysdir/sockets.target.wants/systemd-networkd.socket"
	ln -sfn "$units/systemd-networkd-wait-online.service" "$sysdir/network-online.target.wants/systemd-networkd-wait-online.service"
	;;
esac
if [ "$network" = netplan ]; then
	# Ubuntu's default: an empty netplan, the host adds its own file.
	mkdir -p /etc/netplan
	rm -f /etc/netplan/*.yaml
fi
if [ "$network" = networkmanager ]; then
	# No "Wired connection N" DHCP profiles on interfaces the host
	# configures: only the profiles written for them apply.
	mkdir -p /etc/NetworkManager/conf.d
	printf '[main]\nno-auto-default=*\n' >/etc/NetworkManager/conf.d/10-govz.conf
fi
else
	[ -x /sbin/init ] && [ "$(readlink -f /sbin/init)" != "$(readlink -f /lib/systemd/systemd 2>/dev/null || echo none)" ] ||
		{ echo "error: /sbin/init is missing or systemd" >&2; exit 1; }
	# The console is the container's only terminal: a getty there, none on
	# ttys the container does not have; no hardware clock or kernel
	# modules to deal with.
	sed -i -e 's/^\([1-6]\):/#\1:/' /etc/inittab
	grep -q '^co:' /etc/inittab || echo 'co:2345:respawn:/sbin/getty --noclear 38400 console' >>/etc/inittab
	# "vzctl start --wait": rc.local runs last and calls the readiness hook
	# the host plants at /etc/init.d/ready (ct/rootfs).
	cat >/etc/rc.local <<'RCLOCAL'
#!/bin/sh
[ -x /etc/init.d/ready ] && /etc/init.d/ready
exit 0
RCLOCAL
	chmod 0755 /etc/rc.local
	if [ "$init" = openrc ]; then
		command -v openrc >/dev/null || { echo "error: openrc is not installed" >&2; exit 1; }
		# OpenRC's own container detection keeps hardware services out;
		# LXC is the closest kind it knows.
		sed -i -e 's/^#\?rc_sys=.*/rc_sys="lxc"/' /etc/rc.conf
	fi
fi

# Locked until "vzctl set --userpasswd" sets a password.
passwd -l root >/dev/null

printf '%s\n' "$sources" >/etc/apt/sources.list

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /tmp/* /var/tmp/*
mkdir -p /var/lib/apt/lists/partial
rm -f /var/log/*.log /var/log/apt/* /var/cache/debconf/*-old /var/lib/dpkg/*-old \
	/var/lib/systemd/random-seed /etc/ssh/ssh_host_*
GUEST

# The runtime populates /dev; debootstrap's device nodes would only stop an
# unprivileged (user-namespaced) extraction. Emptied last: the chrooted steps
# above still needed /dev/null.
find "$ROOTFS/dev" -mindepth 1 -delete

phase "tree ready"
