# busybox.sh: a minimal system-container tree around a static busybox.
#
# Environment (set by Build):
#   ROOTFS   empty directory to fill
#   BUSYBOX  the static busybox binary to install (Build has checked that it is
#            statically linked; Debian ships it in busybox-static as /bin/busybox)
#   ARCH     OpenVZ arch name (x86_64, ...), informational
#
# No network is used. PID 1 of the guest is busybox init reading /etc/inittab.

: "${BUSYBOX:?BUSYBOX is not set}"
cd "$ROOTFS"

phase "creating directories"
install -d -m 0755 bin sbin etc etc/init.d usr usr/bin usr/sbin \
	proc sys dev run home var var/log var/lib mnt
install -d -m 0700 root
install -d -m 1777 tmp var/tmp
ln -s ../run var/run

phase "installing busybox and applet links"
install -m 0755 "$BUSYBOX" bin/busybox
# --list-full prints paths relative to / (bin/sh, usr/sbin/chroot, ...).
# Links are relative so that they also resolve when the tree is inspected
# from the host.
"$BUSYBOX" --list-full | while read -r applet; do
	case "$applet" in
	bin/busybox | */ | "") continue ;;
	*/*) ;;
	*) continue ;; # linuxrc and other top-level names
	esac
	dir=${applet%/*}
	if [ "$dir" = bin ]; then
		target=busybox
	else
		target=../bin/busybox
		rest=$dir
		while [[ $rest == */* ]]; do
			rest=${rest#*/}
			target=../$target
		done
	fi
	[ -e "$applet" ] || [ -L "$applet" ] || ln -s "$target" "$applet"
done
[ -L sbin/init ] || die "busybox has no init applet"

phase "writing /etc"
cat >etc/inittab <<'INITTAB'
# /etc/inittab for busybox init, PID 1 of the container.
# No getty: the container console may be a pty nobody reads. init itself stays
# PID 1, so nothing needs to be respawned to keep the container alive.
::sysinit:/etc/init.d/rcS
::ctrlaltdel:/sbin/reboot
# At halt/reboot: stop every process, then unmount. init sends TERM and KILL
# to what is left afterwards and exits (reboot(2) in a PID namespace ends the
# container).
::shutdown:/etc/init.d/rcK
::shutdown:/bin/umount -a
INITTAB

cat >etc/init.d/rcS <<'RCS'
#!/bin/sh
# rcS: run once by busybox init at boot (::sysinit: in /etc/inittab).
# The host runtime normally pre-mounts /proc, /sys, /dev/pts and /run, so each
# is mounted here only when it is not mounted yet.
PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PATH

mounted() {
	# /proc/mounts fields: device mountpoint type ... (busybox 1.35 has no
	# mountpoint applet).
	[ -r /proc/mounts ] || return 1
	while read -r _ dir _; do
		[ "$dir" = "$1" ] && return 0
	done </proc/mounts
	return 1
}

mounted /proc || mount -t proc -o nosuid,nodev,noexec proc /proc
mounted /sys || mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
[ -d /dev/pts ] || mkdir -p /dev/pts
mounted /dev/pts || mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts
mounted /run || mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /run

# An empty /etc/hostname keeps the name the runtime gave the UTS namespace.
if [ -s /etc/hostname ]; then
	hostname -F /etc/hostname
fi

ip link set lo up

if [ -x /etc/rc.local ]; then
	/etc/rc.local
fi

# Readiness hook: the host runtime may plant /etc/init.d/ready (for
# "vzctl start --wait") to learn that boot has finished. It runs last.
if [ -x /etc/init.d/ready ]; then
	/etc/init.d/ready
fi
exit 0
RCS

cat >etc/init.d/rcK <<'RCK'
#!/bin/sh
# rcK: run by busybox init at halt/reboot (::shutdown: in /etc/inittab).
# Asks every process to stop and waits up to 1 s for them, so that the
# "umount -a" that follows finds the filesystems idle.
PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PATH

# kill(-1, sig) reaches every process but init and the caller.
kill -s TERM -1 2>/dev/null

others() {
	# Processes other than init and this script that have not exited yet.
	# Zombies do not count: init reaps them only after this script ends.
	for d in /proc/[0-9]*; do
		p=${d#/proc/}
		if [ "$p" = 1 ] || [ "$p" = "$$" ] || [ ! -r "$d/status" ]; then
			continue
		fi
		while read -r key val _; do
			if [ "$key" = "State:" ]; then
				[ "$val" = Z ] || return 0
				break
			fi
		done <"$d/status"
	done
	return 1
}

i=0
while [ $i -lt 10 ] && others; do
	sleep 0.1
	i=$((i + 1))
done
kill -s KILL -1 2>/dev/null
sync
exit 0
RCK
chmod 0755 etc/init.d/rcS etc/init.d/rcK

cat >etc/passwd <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >etc/group <<'GROUP'
root:x:0:
daemon:x:1:
tty:x:5:
shadow:x:42:
utmp:x:43:
users:x:100:
nogroup:x:65534:
GROUP
# "!" locks root's password; "vzctl set --userpasswd" sets one.
cat >etc/shadow <<'SHADOW'
root:!:0:0:99999:7:::
daemon:*:0:0:99999:7:::
nobody:*:0:0:99999:7:::
SHADOW
chmod 0644 etc/passwd etc/group
chmod 0600 etc/shadow

# Empty: the runtime names the container (see rcS).
: >etc/hostname
cat >etc/hosts <<'HOSTS'
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
HOSTS
# Empty: the runtime writes nameservers.
: >etc/resolv.conf
cat >etc/profile <<'PROFILE'
# /etc/profile: login shells (busybox sh)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PS1='\u@\h:\w\$ '
umask 022
PROFILE
cat >etc/fstab <<'FSTAB'
# The container's filesystems are set up by the host.
FSTAB
cat >etc/shells <<'SHELLS'
/bin/sh
/bin/ash
SHELLS
chmod 0644 etc/hostname etc/hosts etc/resolv.conf etc/profile etc/fstab etc/shells etc/inittab

phase "tree ready"
